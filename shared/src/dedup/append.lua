-- Append a batch of events to one partition stream, each unless its identity was seen
-- inside its de-duplication window.
--
-- KEYS[1]     the partition stream                  {prefix}:events:{N}
-- KEYS[1+i]   event i's dedup key                   {prefix}:dedup:{N}:{identity}
-- ARGV[1]     F, the number of stream-field arguments per event (names and values)
-- then per event i, starting at b = 2 + (i-1)*(F+2):
--   ARGV[b]       the window in milliseconds (the dedup key's TTL)
--   ARGV[b+1]     the event id (UUIDv7)
--   ARGV[b+2…]    the F schema-1 field arguments: name, value, name, value, …
--
-- Returns a flat array, two items per event in order: 1, stream_entry_id when appended;
-- 0, original_event_id for a duplicate.
--
-- Atomicity: Redis runs a script without interleaving other commands, so for every event
-- the check, the XADD and the SET happen as one step: of two concurrent deliveries of one
-- event exactly one appends and the other gets its id, also when both are in one batch.
-- All keys share the hash tag {N}, so in Redis Cluster they live in one slot, as a
-- script's keys must. XADD comes before SET so that a failing XADD (e.g. OOM) leaves no
-- identity behind that would hide the sender's retry.
local fields = tonumber(ARGV[1])
local out = {}
for i = 1, #KEYS - 1 do
  local b = 2 + (i - 1) * (fields + 2)
  local original = redis.call('GET', KEYS[1 + i])
  if original then
    out[#out + 1] = 0
    out[#out + 1] = original
  else
    local entry = redis.call('XADD', KEYS[1], '*', unpack(ARGV, b + 2, b + 1 + fields))
    redis.call('SET', KEYS[1 + i], ARGV[b + 1], 'PX', ARGV[b])
    out[#out + 1] = 1
    out[#out + 1] = entry
  end
end
return out
