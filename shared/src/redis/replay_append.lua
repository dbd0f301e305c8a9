-- Append one replayed copy of an event unless this replay already appended one.
--
-- KEYS[1]  the target stream                 (a partition stream, or --to-stream)
-- KEYS[2]  the replay's record of originals  {prefix}:replayed:{TAG}:{request}
-- ARGV[1]  the original event's id
-- ARGV[2]  how long the record is kept (ms)
-- ARGV[3…] the copy's fields (name, value, …)
--
-- Returns 1 when appended, 0 when the record already had the original.
--
-- Atomicity: the XADD and the SADD are one step, so a replay killed at any point and run
-- again appends each original once. Both keys share one hash tag (the record takes the
-- target's), as a script's keys must in Redis Cluster.
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then
  return 0
end
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('XADD', KEYS[1], '*', unpack(ARGV, 3))
return 1
