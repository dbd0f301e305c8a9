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
-- ARGV[2]     K, bloom bits per event (0: no bloom filter)
-- ARGV[3]     the suspects stream's MINID (ms): older suspects are trimmed
-- ARGV[4]     the summary counts' TTL in seconds
-- ARGV[5]     1 to deliver bloom hits (dedup.bloom.on_hit: deliver), 0 to hold them
-- then per event i, starting at b = 6 + (i-1)*(F+B+3), B = 2 with a bloom filter, else 0:
--   ARGV[b]       the window in milliseconds (the dedup key's TTL)
--   ARGV[b+1]     the event id (UUIDv7)
--   ARGV[b+2]     the summary field that counts this source's duplicates
--   ARGV[b+3]     (bloom) the byte offset of the identity's 64-byte block in a generation
--   ARGV[b+4]     (bloom) its K bits in the block, two bytes each, big-endian (bit 0 is the
--                 most significant bit of the block's first byte, as SETBIT counts)
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
local bloom_args = 0
if k > 0 then
  bloom_args = 2
end
local stride = fields + bloom_args + 3
local deliver_hits = ARGV[5] == '1'
local current = KEYS[4]
if redis.call('GET', KEYS[3]) == '1' then
  current = KEYS[5]
end

-- The event's 64-byte block of generation `key` (shorter or empty past the bitmap's end).
local function block(key, b)
  local start = tonumber(ARGV[b + 3])
  return redis.call('GETRANGE', key, start, start + 63)
end

-- Whether all of the event's bits are set in `bytes`, a block.
local function has_bits(bytes, b)
  local packed = ARGV[b + 4]
  for j = 1, #packed, 2 do
    local hi, lo = string.byte(packed, j, j + 1)
    local bit_index = hi * 256 + lo
    local byte = string.byte(bytes, math.floor(bit_index / 8) + 1) or 0
    if bit.band(byte, bit.rshift(128, bit_index % 8)) == 0 then
      return false
    end
  end
  return true
end

-- Whether generation 0 or 1 holds all of the event's bits, and the current generation's
-- block (for the insert that follows when neither does).
local function seen(b)
  local blocks = { block(KEYS[4], b), block(KEYS[5], b) }
  local own = blocks[1]
  if current == KEYS[5] then
    own = blocks[2]
  end
  return has_bits(blocks[1], b) or has_bits(blocks[2], b), own
end

-- Sets the event's bits in `own`, the current generation's block: one SETRANGE.
local function insert(b, own)
  local bytes = { string.byte(own, 1, 64) }
  for j = #bytes + 1, 64 do
    bytes[j] = 0
  end
  local packed = ARGV[b + 4]
  for j = 1, #packed, 2 do
    local hi, lo = string.byte(packed, j, j + 1)
    local bit_index = hi * 256 + lo
    local at = math.floor(bit_index / 8) + 1
    bytes[at] = bit.bor(bytes[at], bit.rshift(128, bit_index % 8))
  end
  redis.call('SETRANGE', current, ARGV[b + 3], string.char(unpack(bytes)))
end

local function count_duplicate(b)
  redis.call('HINCRBY', KEYS[6], ARGV[b + 2], 1)
  redis.call('EXPIRE', KEYS[6], ARGV[4])
end

local out = {}
for i = 1, #KEYS - 6 do
  local b = 6 + (i - 1) * stride
  local first_field = b + 3 + bloom_args
  local original = redis.call('GET', KEYS[6 + i])
  local hit, own = false, nil
  if not original and k > 0 then
    hit, own = seen(b)
  end
  if original then
    count_duplicate(b)
    out[#out + 1] = 0
    out[#out + 1] = original
  elseif hit and deliver_hits then
    -- (a call to unpack that is not the last argument gives one value: build the list)
    local copy = {unpack(ARGV, first_field, first_field + fields - 1)}
    copy[#copy + 1] = 'suspected_duplicate'
    copy[#copy + 1] = '1'
    local entry = redis.call('XADD', KEYS[1], '*', unpack(copy))
    redis.call('SET', KEYS[6 + i], ARGV[b + 1], 'PX', ARGV[b])
    out[#out + 1] = 3
    out[#out + 1] = entry
  elseif hit then
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
      insert(b, own)
    end
    out[#out + 1] = 1
    out[#out + 1] = entry
  end
end
return out
