-- KEYS[1] group members, KEYS[2] member capacities; ARGV[1] channel
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
