-- Append a batch of events to one partition stream, each unless it is a repeat: exactly
-- inside its de-duplication window, probably (bloom filter) after it.
--
-- KEYS[1]     the partition stream                  {prefix}:events:{N}
-- KEYS[2]     the partition's suspects stream       {prefix}:suspects:{N}
-- KEYS[3]     which bloom generation is current     {prefix}:bloom:{N}:current
-- KEYS[4..5]  bloom generations 0 and 1             {prefix}:bloom:{N}:0 / :1
-- KEYS[6]     today's summary counts                {prefix}:summary:{N}:{date}
-- KEYS[6+i]   event i's dedup key                   {prefix}:dedup:{N}:{identity}
-- ARGV[1]     F, the number of stream-field arguments per event (names and values)
-- ARGV[2]     K, bloom bit positions per event (0: no bloom filter)
-- ARGV[3]     the suspects stream's MINID (ms): older suspects are trimmed
-- ARGV[4]     the summary counts' TTL in seconds
-- ARGV[5]     1 to deliver bloom hits (dedup.bloom.on_hit: deliver), 0 to hold them
-- then per event i, starting at b = 6 + (i-1)*(F+K+3):
--   ARGV[b]       the window in milliseconds (the dedup key's TTL)
--   ARGV[b+1]     the event id (UUIDv7)
--   ARGV[b+2]     the summary field that counts this source's duplicates
--   ARGV[b+3…]    the K bloom bit positions
--   then the F schema-1 field arguments: name, value, name, value, …
--
-- Returns a flat array, two items per event in order: 1, stream_entry_id when appended;
-- 0, original_event_id for a repeat inside the window; 2, suspects_entry_id for a bloom hit
-- held; 3, stream_entry_id for a bloom hit delivered (appended with suspected_duplicate 1).
--
-- Atomicity: Redis runs a script without interleaving other commands, so for every event
-- the checks, the XADD, the SET and the bloom insert happen as one step: of two concurrent
-- deliveries of one event exactly one appends, also when both are in one batch. All keys
-- share the hash tag {N}, so in Redis Cluster they live in one slot, as a script's keys
-- must. XADD comes before the SET and the bloom insert so that a failing XADD (e.g. OOM)
-- leaves no identity behind that would hide the sender's retry.
local fields = tonumber(ARGV[1])
local k = tonumber(ARGV[2])
local stride = fields + k + 3
local deliver_hits = ARGV[5] == '1'
local current = KEYS[4]
if redis.call('GET', KEYS[3]) == '1' then
  current = KEYS[5]
end

-- Whether all of the event's bits are set in generation `key`. GETBIT one bit at a time, so
-- a new identity usually stops at its first or second bit (measured: cheaper than one
-- BITFIELD call with K operations, whose argument table alone costs more).
local function seen(key, b)
  for j = 0, k - 1 do
    if redis.call('GETBIT', key, ARGV[b + 3 + j]) == 0 then
      return false
    end
  end
  return true
end

local function insert(b)
  for j = 0, k - 1 do
    redis.call('SETBIT', current, ARGV[b + 3 + j], '1')
  end
end

local function count_duplicate(b)
  redis.call('HINCRBY', KEYS[6], ARGV[b + 2], 1)
  redis.call('EXPIRE', KEYS[6], ARGV[4])
end

local out = {}
for i = 1, #KEYS - 6 do
  local b = 6 + (i - 1) * stride
  local first_field = b + 3 + k
  local original = redis.call('GET', KEYS[6 + i])
  if original then
    count_duplicate(b)
    out[#out + 1] = 0
    out[#out + 1] = original
  elseif k > 0 and deliver_hits and (seen(KEYS[4], b) or seen(KEYS[5], b)) then
    -- (a call to unpack that is not the last argument gives one value: build the list)
    local copy = {unpack(ARGV, first_field, first_field + fields - 1)}
    copy[#copy + 1] = 'suspected_duplicate'
    copy[#copy + 1] = '1'
    local entry = redis.call('XADD', KEYS[1], '*', unpack(copy))
    redis.call('SET', KEYS[6 + i], ARGV[b + 1], 'PX', ARGV[b])
    out[#out + 1] = 3
    out[#out + 1] = entry
  elseif k > 0 and (seen(KEYS[4], b) or seen(KEYS[5], b)) then
    local suspect = redis.call('XADD', KEYS[2], 'MINID', '~', ARGV[3], '*',
      unpack(ARGV, first_field, first_field + fields - 1))
    redis.call('SET', KEYS[6 + i], ARGV[b + 1], 'PX', ARGV[b])
    count_duplicate(b)
    out[#out + 1] = 2
    out[#out + 1] = suspect
  else
    local entry = redis.call('XADD', KEYS[1], '*', unpack(ARGV, first_field, first_field + fields - 1))
    redis.call('SET', KEYS[6 + i], ARGV[b + 1], 'PX', ARGV[b])
    if k > 0 then
      insert(b)
    end
    out[#out + 1] = 1
    out[#out + 1] = entry
  end
end
return out
