-- Deliver one payload to every live member of a group stored on this shard.
-- Member queues are derived from ARGV[1] exactly as keys.py builds them
-- (base .. 'q:' .. non-local name, base .. 'n:' .. non-local name); all share
-- the shard's hash tag, so in Redis Cluster they are in the same slot as KEYS.
-- KEYS[1] group members, KEYS[2] member capacities
-- ARGV[1] key base, ARGV[2] now (s), ARGV[3] group expiry, ARGV[4] message expiry,
-- ARGV[5] default capacity, ARGV[6] payload
-- Returns {delivered, skipped because full}.
local base, payload = ARGV[1], ARGV[6]
local expiry, default_capacity = tonumber(ARGV[4]), tonumber(ARGV[5])
local stale = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. (tonumber(ARGV[2]) - tonumber(ARGV[3])))
if #stale > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (tonumber(ARGV[2]) - tonumber(ARGV[3])))
  for _, channel in ipairs(stale) do
    redis.call('HDEL', KEYS[2], channel)
  end
end
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
local delivered, full = 0, 0
for _, channel in ipairs(members) do
  local capacity = tonumber(redis.call('HGET', KEYS[2], channel) or default_capacity)
  local bang = string.find(channel, '!', 1, true)
  if bang then
    local owner = string.sub(channel, 1, bang)
    local field = string.sub(channel, bang + 1)
    local queue, counts = base .. 'q:' .. owner, base .. 'n:' .. owner
    if tonumber(redis.call('HGET', counts, field) or '0') < capacity then
      redis.call('RPUSH', queue, field .. '\0' .. payload)
      redis.call('EXPIRE', queue, expiry)
      redis.call('HINCRBY', counts, field, 1)
      redis.call('EXPIRE', counts, expiry)
      delivered = delivered + 1
    else
      full = full + 1
    end
  else
    local queue = base .. 'q:' .. channel
    if redis.call('LLEN', queue) < capacity then
      redis.call('RPUSH', queue, '\0' .. payload)
      redis.call('EXPIRE', queue, expiry)
      delivered = delivered + 1
    else
      full = full + 1
    end
  end
end
return {delivered, full}
