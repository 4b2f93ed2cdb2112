-- KEYS[1] group members (sorted set, score = join time), KEYS[2] member capacities,
-- KEYS[3] members by process (see change_members in common.lua)
-- ARGV[1] channel, ARGV[2] now (s), ARGV[3] group expiry (s), ARGV[4] capacity,
-- ARGV[5] default capacity, ARGV[6] key base, ARGV[7] group, ARGV[8] message expiry
-- Only capacities that differ from the default are stored, with the lowest per
-- process under '<' .. owner, so group_send reads one field per process.
local channel, group_expiry, group = ARGV[1], ARGV[3], ARGV[7]
local owner, l = split_channel(channel)
redis.call('ZADD', KEYS[1], ARGV[2], channel)
redis.call('EXPIRE', KEYS[1], group_expiry)
if ARGV[4] == ARGV[5] then
  redis.call('HDEL', KEYS[2], channel)
else
  local capacity = tonumber(ARGV[4])
  redis.call('HSET', KEYS[2], channel, capacity)
  if owner then
    local lowest = tonumber(redis.call('HGET', KEYS[2], '<' .. owner))
    if not lowest or capacity < lowest then
      redis.call('HSET', KEYS[2], '<' .. owner, capacity)
    end
  end
  redis.call('EXPIRE', KEYS[2], group_expiry)
end
if not owner then
  redis.call('HSET', KEYS[3], channel, '')
  redis.call('EXPIRE', KEYS[3], group_expiry)
  return 1
end
if not change_members(ARGV[6], KEYS, owner, l, '+', tonumber(ARGV[8]), group_expiry) then
  -- already a member: refresh its set's life with the join time above
  local id = owner_state(redis.call('HGET', KEYS[3], owner))
  redis.call('EXPIRE', ARGV[6] .. 's:' .. id, group_expiry)
  redis.call('EXPIRE', KEYS[3], group_expiry)
  return 1
end
redis.call('EXPIRE', KEYS[3], group_expiry)
-- From now on the channel's count includes #G - <local>|G, which starts at zero.
local counts = ARGV[6] .. 'n:' .. owner
redis.call('HSETNX', counts, '#' .. group, 0)
local held, lists = channel_counts(counts, {l})
local state = redis.call('HMGET', counts, '#' .. group, '^' .. group, '@')
redis.call('HSET', counts, l .. '|', list_add(lists[1], group), l .. '|' .. group, state[1])
local bound = tonumber(state[2])
if bound and held[1] - (tonumber(state[3]) or 0) > bound then
  redis.call('HSET', counts, '^' .. group, held[1] - (tonumber(state[3]) or 0))
end
if redis.call('TTL', counts) < 0 then
  redis.call('EXPIRE', counts, tonumber(ARGV[8]))
end
return 1
