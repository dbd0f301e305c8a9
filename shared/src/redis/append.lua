-- Append a batch of events to one partition stream, each unless it is a repeat: exactly
-- inside its de-duplication window, probably (bloom filter) after it.
--
-- KEYS[1]     the partition stream                  {prefix}:events:{N}
-- KEYS[2]     the partition's suspects stream       {prefix}:suspects:{N}
-- KEYS[3]     which bloom generation is current     {prefix}:bloom:{N}:current
-- KEYS[4..5]  bloom generations 0 and 1             {prefix}:bloom:{N}:0 / :1
-- KEYS[6]     today's summary counts                {prefix}:summary:{N}:{date}
-- KEYS[6+i]   event i's dedup key                   {prefix}:dedup:{N}:{identity}
-- ARGV[1]     F, the number of stream fields per event (12; 13 with `traceparent` when an
--             event of the batch belongs to a trace)
-- ARGV[2]     K, bloom bits per event (0: no bloom filter)
-- ARGV[3]     the suspects stream's MINID (ms): older suspects are trimmed
-- ARGV[4]     the summary counts' TTL in seconds
-- ARGV[5]     1 to deliver bloom hits (dedup.bloom.on_hit: deliver), 0 to hold them
-- ARGV[6..5+F] the names of the F schema-1 stream fields, in order (once for the batch)
-- then per event i, starting at b = 6 + F + (i-1)*(F+B+3), B = 3 with a bloom filter, else 0:
--   ARGV[b]       the window in milliseconds (the dedup key's TTL)
--   ARGV[b+1]     the event id (UUIDv7)
--   ARGV[b+2]     the summary field that counts this source's duplicates
--   ARGV[b+3]     (bloom) the byte offset of the identity's 64-byte block in a generation
--   ARGV[b+4]     (bloom) the offset of the block's last byte (ARGV[b+3] + 63)
--   ARGV[b+5]     (bloom) the block's bytes that hold the identity's K bits: pairs of bytes,
--                 the byte's offset in the block (0-63, ascending) and the mask of its bits
--                 (bit 0 of the block is the most significant bit of its first byte, as
--                 SETBIT counts)
--   then the F field values, in the order of the names
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
--
-- Cost: this script is most of Redis's CPU per ingested event, so it passes Redis only
-- strings (a Lua number argument is formatted with snprintf on every call) and reuses one
-- XADD argument list whose names are set once.
local call, byte, char = redis.call, string.byte, string.char
local band, bor = bit.band, bit.bor
local argv = ARGV
local fields = tonumber(argv[1])
local k = tonumber(argv[2])
local bloom_args = 0
if k > 0 then
  bloom_args = 3
end
local stride = fields + bloom_args + 3
local deliver_hits = argv[5] == '1'
local current = KEYS[4]
if call('GET', KEYS[3]) == '1' then
  current = KEYS[5]
end

-- The XADD arguments: names set here, each event's values set before its XADD.
local entry = {}
for j = 1, fields do
  entry[2 * j - 1] = argv[5 + j]
end

-- Whether all of the event's bits (`packed`, ARGV[b+5]) are set in `block`.
local function has_bits(block, packed)
  for j = 1, #packed, 2 do
    local at, mask = byte(packed, j, j + 1)
    if band(byte(block, at + 1) or 0, mask) ~= mask then
      return false
    end
  end
  return true
end

-- Whether generation 0 or 1 holds all of the event's bits, and the current generation's
-- 64-byte block (shorter or empty past the bitmap's end) for the insert that follows when
-- neither does.
local function seen(b)
  local first, last, packed = argv[b + 3], argv[b + 4], argv[b + 5]
  local zero = call('GETRANGE', KEYS[4], first, last)
  local one = call('GETRANGE', KEYS[5], first, last)
  local own = zero
  if current == KEYS[5] then
    own = one
  end
  return has_bits(zero, packed) or has_bits(one, packed), own
end

-- Sets the event's bits in `own`, the current generation's block: one SETRANGE.
local function insert(b, own)
  local bytes = { byte(own, 1, 64) }
  for j = #bytes + 1, 64 do
    bytes[j] = 0
  end
  local packed = argv[b + 5]
  for j = 1, #packed, 2 do
    local at, mask = byte(packed, j, j + 1)
    bytes[at + 1] = bor(bytes[at + 1], mask)
  end
  call('SETRANGE', current, argv[b + 3], char(unpack(bytes)))
end

local function count_duplicate(b)
  call('HINCRBY', KEYS[6], argv[b + 2], 1)
  call('EXPIRE', KEYS[6], argv[4])
end

local out = {}
for i = 1, #KEYS - 6 do
  local b = 6 + fields + (i - 1) * stride
  local values = b + 3 + bloom_args
  local original = call('GET', KEYS[6 + i])
  local hit, own = false, nil
  if not original and k > 0 then
    hit, own = seen(b)
  end
  if original then
    count_duplicate(b)
    out[#out + 1] = 0
    out[#out + 1] = original
  else
    for j = 1, fields do
      entry[2 * j] = argv[values + j - 1]
    end
    if hit and deliver_hits then
      entry[2 * fields + 1], entry[2 * fields + 2] = 'suspected_duplicate', '1'
      local id = call('XADD', KEYS[1], '*', unpack(entry, 1, 2 * fields + 2))
      call('SET', KEYS[6 + i], argv[b + 1], 'PX', argv[b])
      out[#out + 1] = 3
      out[#out + 1] = id
    elseif hit then
      local suspect = call('XADD', KEYS[2], 'MINID', '~', argv[3], '*', unpack(entry, 1, 2 * fields))
      call('SET', KEYS[6 + i], argv[b + 1], 'PX', argv[b])
      count_duplicate(b)
      out[#out + 1] = 2
      out[#out + 1] = suspect
    else
      local id = call('XADD', KEYS[1], '*', unpack(entry, 1, 2 * fields))
      call('SET', KEYS[6 + i], argv[b + 1], 'PX', argv[b])
      if k > 0 then
        insert(b, own)
      end
      out[#out + 1] = 1
      out[#out + 1] = id
    end
  end
end
return out
