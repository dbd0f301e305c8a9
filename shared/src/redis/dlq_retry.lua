-- Move one dead letter back to its partition's hot stream.
--
-- KEYS[1]  the dead-letter stream    {prefix}:dlq:{N}
-- KEYS[2]  the partition stream      {prefix}:events:{N}
-- ARGV[1]  the dead letter's entry id
-- ARGV[2…] the original event's fields (name, value, …), its `id` unchanged
--
-- Returns 1 when moved, 0 when the dead letter was already gone.
--
-- Atomicity: the XDEL and the XADD are one step, so a crash neither loses the event nor
-- re-appends it twice; a concurrent second retry finds nothing to delete and does nothing.
if redis.call('XDEL', KEYS[1], ARGV[1]) == 0 then
  return 0
end
redis.call('XADD', KEYS[2], '*', unpack(ARGV, 2))
return 1
