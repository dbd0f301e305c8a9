-- One consumer group read, bounded in entries and in bytes.
--
-- KEYS[1]  the stream
-- ARGV[1]  the consumer group
-- ARGV[2]  the consumer
-- ARGV[3]  '>' for new entries, '0' for the consumer's own pending ones
-- ARGV[4]  entries at most
-- ARGV[5]  bytes at most (field names and values), unless the first entry alone is larger:
--          it then comes alone
--
-- Returns the entries as XRANGE does (pending entries deleted meanwhile are left out). A
-- missing stream or group is a NOGROUP error, as for XREADGROUP.
--
-- XREADGROUP has a count but no byte limit, and a burst of large entries must not be read
-- into a consumer's memory at once. So the script walks the entries a read would return —
-- after the group's last-delivered id, or along the consumer's pending list — one at a time
-- while they fit, and returns those. New entries are then delivered to the consumer by an
-- XREADGROUP of exactly that count in the same atomic step; returning the walked entries
-- rather than XREADGROUP's reply saves passing each entry through Lua once more.
local group, consumer, from = ARGV[1], ARGV[2], ARGV[3]
local max_entries, max_bytes = tonumber(ARGV[4]), tonumber(ARGV[5])

local function size(entry)
  local bytes = 0
  for _, part in ipairs(entry[2]) do
    bytes = bytes + #part
  end
  return bytes
end

local next_entry, last
if from == '>' then
  if redis.call('EXISTS', KEYS[1]) == 0 then
    return redis.error_reply('NOGROUP no such stream')
  end
  for _, info in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
    local fields = {}
    for i = 1, #info, 2 do
      fields[info[i]] = info[i + 1]
    end
    if fields['name'] == group then
      last = fields['last-delivered-id']
    end
  end
  if not last then
    return redis.error_reply('NOGROUP no such consumer group')
  end
  local cursor = '(' .. last
  next_entry = function()
    local entry = redis.call('XRANGE', KEYS[1], cursor, '+', 'COUNT', 1)[1]
    if entry then
      cursor = '(' .. entry[1]
    end
    return entry
  end
else
  local pending = redis.call('XPENDING', KEYS[1], group, '-', '+', max_entries, consumer)
  local i = 0
  next_entry = function()
    while true do
      i = i + 1
      local item = pending[i]
      if not item then
        return nil
      end
      local entry = redis.call('XRANGE', KEYS[1], item[1], item[1])[1]
      if entry then
        return entry
      end
    end
  end
end

local out, bytes = {}, 0
while #out < max_entries do
  local entry = next_entry()
  if not entry then
    break
  end
  local s = size(entry)
  if #out > 0 and bytes + s > max_bytes then
    break
  end
  out[#out + 1] = entry
  bytes = bytes + s
end
if from == '>' and #out > 0 then
  -- The same entries, delivered by Redis's own bookkeeping (pending list, delivery count,
  -- last-delivered id, entries-read); its reply is not needed.
  redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', #out, 'STREAMS', KEYS[1], '>')
end
return out
