-- Move the head of a partition stream, an entry that is not an event, to the partition's
-- dead-letter stream, byte for byte.
--
-- KEYS[1]  the partition stream      {prefix}:events:{N}
-- KEYS[2]  the dead-letter stream    {prefix}:dlq:{N}
-- ARGV[1]  the entry id
-- ARGV[2]  the entry's fields as JSON [[name_b64, value_b64], …]
-- ARGV[3]  why it is not an event
-- ARGV[4]  failed_at, ms since the Unix epoch
-- ARGV[5]  the dead-letter stream's cap (MAXLEN ~)
--
-- Returns 1 when moved, -1 when the stream no longer starts at ARGV[1] (another run moved
-- it meanwhile: nothing is written).
--
-- Atomicity: the XADD and the XDEL are one step, so the entry is in exactly one of the two
-- streams whenever the script is not running. Both keys carry the partition's hash tag.
local head = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
if #head == 0 or head[1][1] ~= ARGV[1] then
  return -1
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'raw', ARGV[2], 'error', ARGV[3],
  'attempts', '0', 'failed_at', ARGV[4], 'group', '', 'entry_id', ARGV[1])
redis.call('XDEL', KEYS[1], ARGV[1])
return 1
