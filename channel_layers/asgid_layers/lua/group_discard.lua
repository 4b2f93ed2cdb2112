-- KEYS[1] group members (sorted set), KEYS[2] member capacities, KEYS[3] members by
-- process; ARGV[1] channel, ARGV[2] key base, ARGV[3] group, ARGV[4] message
-- expiry, ARGV[5] group expiry
leave(ARGV[2], KEYS, ARGV[3], ARGV[1], tonumber(ARGV[4]), tonumber(ARGV[5]))
return 1
