-- KEYS[1] group members (sorted set, score = join time), KEYS[2] member capacities
-- ARGV[1] channel, ARGV[2] now (s), ARGV[3] group expiry (s), ARGV[4] capacity
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
