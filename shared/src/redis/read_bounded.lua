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
-- while they fit, and returns those, delivering new ones to the consumer in the same atomic
-- step. Returning the walked entries rather than an XREADGROUP's reply saves passing each
-- entry through Lua twice more; so the delivery is XCLAIM … FORCE JUSTID (pending, delivery
-- count 1) plus XGROUP SETID … ENTRIESREAD where the group's entries-read is known, and an
-- XREADGROUP of exactly that count (reply dropped) where it is not.
local group, consumer, from = ARGV[1], ARGV[2], ARGV[3]
local max_entries, max_bytes = tonumber(ARGV[4]), tonumber(ARGV[5])

local function size(entry)
  local bytes = 0
  for _, part in ipairs(entry[2]) do
    bytes = bytes + #part
  end
  return bytes
end

local next_entry, last, entries_read
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
      last, entries_read = fields['last-delivered-id'], fields['entries-read']
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
  if type(entries_read) == 'number' then
    -- Delivered as XREADGROUP would: pending with a delivery count of 1, the group's
    -- last-delivered id and entries-read moved past them.
    local claim = { 'XCLAIM', KEYS[1], group, consumer, 0 }
    for _, entry in ipairs(out) do
      claim[#claim + 1] = entry[1]
    end
    claim[#claim + 1] = 'FORCE'
    claim[#claim + 1] = 'JUSTID'
    redis.call(unpack(claim))
    redis.call('XGROUP', 'SETID', KEYS[1], group, out[#out][1], 'ENTRIESREAD', entries_read + #out)
  else
    -- entries-read is unknown (a group that has read nothing yet, Redis before 7.0): an
    -- XREADGROUP of exactly that count, whose reply is not needed, lets Redis work it out.
    redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', #out, 'STREAMS', KEYS[1], '>')
  end
end
return out
