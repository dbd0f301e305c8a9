-- Count a batch of entries into their days' summary hashes and acknowledge them, in one
-- step: an entry is counted exactly when this call acknowledges it (XACK returns 1), so an
-- entry delivered twice (claimed after a crash) is counted once. Counts are summed per hash
-- field in the script first, so a batch costs one XACK per entry and one write per distinct
-- field, not one write per count.
--
-- KEYS[1]     the partition stream                  {prefix}:events:{N}
-- KEYS[1+d]   day d's counts                        {prefix}:summary:{N}:{date}
-- ARGV[1]     the consumer group
-- ARGV[2]     the counts' TTL in seconds
-- then per entry: entry id, d, received_at (ms), the `first` field, the `last` field,
-- C, and C pairs of (field, increment).
--
-- Returns the number of entries counted.
local sums = {}   -- key index -> field -> sum
local firsts = {} -- key index -> first field -> earliest received_at
local lasts = {}  -- key index -> last field -> latest received_at
local i = 3
local counted = 0
while i <= #ARGV do
  local d = tonumber(ARGV[i + 1])
  local at = tonumber(ARGV[i + 2])
  local n = tonumber(ARGV[i + 5])
  local pairs_at = i + 6
  if redis.call('XACK', KEYS[1], ARGV[1], ARGV[i]) == 1 then
    sums[d] = sums[d] or {}
    local s = sums[d]
    for c = 0, n - 1 do
      local field = ARGV[pairs_at + 2 * c]
      s[field] = (s[field] or 0) + tonumber(ARGV[pairs_at + 2 * c + 1])
    end
    firsts[d] = firsts[d] or {}
    lasts[d] = lasts[d] or {}
    local f, l = ARGV[i + 3], ARGV[i + 4]
    if not firsts[d][f] or at < firsts[d][f] then firsts[d][f] = at end
    if not lasts[d][l] or at > lasts[d][l] then lasts[d][l] = at end
    counted = counted + 1
  end
  i = pairs_at + 2 * n
end
for d, s in pairs(sums) do
  local key = KEYS[1 + d]
  for field, sum in pairs(s) do
    redis.call('HINCRBY', key, field, string.format('%d', sum))
  end
  for field, at in pairs(firsts[d]) do
    local known = tonumber(redis.call('HGET', key, field))
    if not known or at < known then
      redis.call('HSET', key, field, string.format('%d', at))
    end
  end
  for field, at in pairs(lasts[d]) do
    local known = tonumber(redis.call('HGET', key, field))
    if not known or at > known then
      redis.call('HSET', key, field, string.format('%d', at))
    end
  end
  redis.call('EXPIRE', key, ARGV[2])
end
return counted
