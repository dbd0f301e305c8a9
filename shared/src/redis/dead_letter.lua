-- Move one pending entry to the partition's dead-letter stream and acknowledge it.
--
-- KEYS[1]  the partition stream      {prefix}:events:{N}
-- KEYS[2]  the dead-letter stream    {prefix}:dlq:{N}
-- ARGV[1]  the consumer group
-- ARGV[2]  the entry id
-- ARGV[3]  the original entry's fields as JSON (payload as payload_b64)
-- ARGV[4]  the last error
-- ARGV[5]  attempts made
-- ARGV[6]  failed_at, ms since the Unix epoch
-- ARGV[7]  the dead-letter stream's cap (MAXLEN ~): older dead letters are trimmed
--
-- Returns 1 when moved, 0 when the entry was no longer pending (another consumer settled it).
--
-- Atomicity: the XACK and the XADD are one step, so a crash can neither lose the entry
-- (acked but not dead-lettered) nor double it (dead-lettered, still pending, dead-lettered
-- again); acknowledging first makes a second, concurrent attempt a no-op. Both keys carry
-- the partition's hash tag.
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  return 0
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[7], '*', 'event', ARGV[3], 'error', ARGV[4],
  'attempts', ARGV[5], 'failed_at', ARGV[6], 'group', ARGV[1], 'entry_id', ARGV[2])
return 1
