-- KEYS[1] group members (sorted set, score = join time), KEYS[2] member capacities
-- ARGV[1] channel, ARGV[2] now (s), ARGV[3] group expiry (s), ARGV[4] capacity,
-- ARGV[5] default capacity: only capacities that differ from it are stored, so
-- group_send reads a small hash however large the group is.
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
if ARGV[4] == ARGV[5] then
  redis.call('HDEL', KEYS[2], ARGV[1])
else
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
  redis.call('EXPIRE', KEYS[2], ARGV[3])
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
