-- Move the head of a partition stream into one warm segment.
--
-- KEYS[1]  the partition stream               {prefix}:events:{N}
-- KEYS[2]  the segment                        {prefix}:warm:{N}:seg:{first}-{last}
-- KEYS[3]  the partition's warm index (zset)  {prefix}:warm:{N}:index
-- KEYS[4]  uncompressed sizes (hash)          {prefix}:warm:{N}:raw
-- ARGV[1]  the segment's first entry id
-- ARGV[2]  the compressed segment
-- ARGV[3]  index score: the last entry's time, ms
-- ARGV[4]  index member: "{first}-{last}"
-- ARGV[5]  trim threshold: the id just after the last entry (XTRIM MINID keeps ids >= it)
-- ARGV[6]  the segment's uncompressed size (for the compression ratio in stats)
--
-- Returns the number of entries trimmed, or -1 when the stream no longer starts at ARGV[1]
-- (another run compacted it meanwhile: nothing is written).
--
-- Atomicity: the segment, its index entry and the trim happen as one step, so an entry is
-- always in exactly one tier; a run killed before the script changed nothing, and a run
-- killed after it left a complete segment and a trimmed stream. The head check makes two
-- concurrent runs unable to write overlapping segments. All keys carry the tag {N}.
local head = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
if #head == 0 or head[1][1] ~= ARGV[1] then
  return -1
end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
redis.call('HSET', KEYS[4], ARGV[4], ARGV[6])
return redis.call('XTRIM', KEYS[1], 'MINID', ARGV[5])
