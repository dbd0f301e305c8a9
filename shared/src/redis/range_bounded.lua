-- XRANGE bounded in entries and in bytes.
--
-- KEYS[1]  the stream
-- ARGV[1]  start id (`-`, an id, or `(id` exclusive)
-- ARGV[2]  end id (`+`, an id, or `(id` exclusive)
-- ARGV[3]  entries at most
-- ARGV[4]  bytes at most (field names and values), unless the first entry alone is larger:
--          it then comes alone
--
-- Returns the entries, as XRANGE does. XRANGE has a count but no byte limit; a page of
-- large entries must not be read into a job's memory at once, so entries are taken one at
-- a time while they fit.
local max_entries, max_bytes = tonumber(ARGV[3]), tonumber(ARGV[4])
local out, bytes, cursor = {}, 0, ARGV[1]
while #out < max_entries do
  local entry = redis.call('XRANGE', KEYS[1], cursor, ARGV[2], 'COUNT', 1)[1]
  if not entry then
    break
  end
  local size = 0
  for _, part in ipairs(entry[2]) do
    size = size + #part
  end
  if #out > 0 and bytes + size > max_bytes then
    break
  end
  out[#out + 1] = entry
  bytes = bytes + size
  cursor = '(' .. entry[1]
end
return out
