-- Append an event unless its identity was seen inside the de-duplication window.
--
-- KEYS[1]  the partition stream          {prefix}:events:{N}
-- KEYS[2]  the identity's dedup key      {prefix}:dedup:{N}:{identity}
-- ARGV[1]  window in milliseconds (the dedup key's TTL)
-- ARGV[2]  the new event's id (UUIDv7)
-- ARGV[3…] the schema-1 stream fields as name, value, name, value, …
--
-- Returns {1, stream_entry_id} when appended, {0, original_event_id} for a duplicate.
--
-- Atomicity: Redis runs a script without interleaving other commands, so the check, the
-- XADD and the SET happen as one step; of two concurrent deliveries of one event exactly
-- one appends and the other sees its id. Both keys share the hash tag {N}, so in Redis
-- Cluster they live in one slot, as a script's keys must. XADD comes before SET so that a
-- failing XADD (e.g. OOM) leaves no identity behind that would hide a retry.
local original = redis.call('GET', KEYS[2])
if original then
  return {0, original}
end
local entry = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 3))
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[1])
return {1, entry}
