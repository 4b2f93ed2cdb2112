-- KEYS[1] group members (sorted set, score = join time), KEYS[2] member capacities,
-- KEYS[3] members by process (see change_members in common.lua)
-- ARGV[1] key base, ARGV[2] channel, ARGV[3] now (s), ARGV[4] group expiry (s),
-- ARGV[5] capacity, ARGV[6] default capacity, ARGV[7] group, ARGV[8] message expiry
-- Only capacities that differ from the default are stored, with the lowest per
-- process under FIELD.lowest(owner), so group_send reads one field per process.
local channel, group_expiry, group = ARGV[2], ARGV[4], ARGV[7]
local owner, l = split_channel(channel)
redis.call('ZADD', KEYS[1], ARGV[3], channel)
redis.call('EXPIRE', KEYS[1], group_expiry)
if ARGV[5] == ARGV[6] then
  redis.call('HDEL', KEYS[2], channel)
else
  local capacity = tonumber(ARGV[5])
  redis.call('HSET', KEYS[2], channel, capacity)
  if owner then
    local lowest = tonumber(redis.call('HGET', KEYS[2], FIELD.lowest(owner)))
    if not lowest or capacity < lowest then
      redis.call('HSET', KEYS[2], FIELD.lowest(owner), capacity)
    end
  end
  redis.call('EXPIRE', KEYS[2], group_expiry)
end
if not owner then
  redis.call('HSET', KEYS[3], channel, '')
  redis.call('EXPIRE', KEYS[3], group_expiry)
  return 1
end
if not change_members(KEYS, owner, l, '+', tonumber(ARGV[8]), group_expiry) then
  -- already a member: refresh its set's life with the join time above
  local id = owner_state(redis.call('HGET', KEYS[3], owner))
  redis.call('EXPIRE', member_set_key(id), group_expiry)
  redis.call('EXPIRE', KEYS[3], group_expiry)
  return 1
end
redis.call('EXPIRE', KEYS[3], group_expiry)
-- So that reclaim() finds this membership if the process dies.
redis.call('SADD', owner_groups_key(owner), group)
redis.call('EXPIRE', owner_groups_key(owner), group_expiry)
-- From now on the channel's count includes #G - <local>|G, which starts at zero.
local counts = counts_key(owner)
redis.call('HSETNX', counts, FIELD.sent(group), 0)
local held, lists = channel_counts(counts, {l})
local state = redis.call('HMGET', counts, FIELD.sent(group), FIELD.bound(group), FIELD.ALL_SENT)
redis.call(
  'HSET', counts, FIELD.groups(l), list_add(lists[1], group), FIELD.joined(l, group), state[1]
)
-- A channel that just joined is in no !G list (leave takes it out).
widen_bound(counts, group, l, held[1], tonumber(state[3]) or 0, tonumber(state[2]), nil)
if redis.call('TTL', counts) < 0 then
  redis.call('EXPIRE', counts, tonumber(ARGV[8]))
end
return 1
