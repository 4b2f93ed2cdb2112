-- KEYS[1] group members (sorted set), KEYS[2] member capacities, KEYS[3] members by
-- process; ARGV[1] key base, ARGV[2] channel, ARGV[3] group, ARGV[4] message
-- expiry, ARGV[5] group expiry
leave(KEYS, ARGV[3], ARGV[2], tonumber(ARGV[4]), tonumber(ARGV[5]))
return 1
