-- Count a batch of entries into their days' summary hashes and acknowledge them, in one
-- step: an entry is counted exactly when this call acknowledges it (XACK returns 1), so an
-- entry delivered twice (claimed after a crash) is counted once.
--
-- KEYS[1]     the partition stream                  {prefix}:events:{N}
-- KEYS[1+d]   day d's counts                        {prefix}:summary:{N}:{date}
-- ARGV[1]     the consumer group
-- ARGV[2]     the counts' TTL in seconds
-- then per entry: entry id, d, received_at (ms), the `first` field, the `last` field,
-- C, and C pairs of (field, increment).
--
-- Returns the number of entries counted.
local i = 3
local counted = 0
local touched = {}
while i <= #ARGV do
  local key = KEYS[1 + tonumber(ARGV[i + 1])]
  local at = ARGV[i + 2]
  local pairs_at = i + 6
  local n = tonumber(ARGV[i + 5])
  if redis.call('XACK', KEYS[1], ARGV[1], ARGV[i]) == 1 then
    for c = 0, n - 1 do
      redis.call('HINCRBY', key, ARGV[pairs_at + 2 * c], ARGV[pairs_at + 2 * c + 1])
    end
    local first = redis.call('HGET', key, ARGV[i + 3])
    if not first or tonumber(at) < tonumber(first) then
      redis.call('HSET', key, ARGV[i + 3], at)
    end
    local last = redis.call('HGET', key, ARGV[i + 4])
    if not last or tonumber(at) > tonumber(last) then
      redis.call('HSET', key, ARGV[i + 4], at)
    end
    touched[key] = true
    counted = counted + 1
  end
  i = pairs_at + 2 * n
end
for key in pairs(touched) do
  redis.call('EXPIRE', key, ARGV[2])
end
return counted
