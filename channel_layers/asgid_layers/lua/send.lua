-- Queue one element on a channel if it is under capacity, in one atomic step.
-- KEYS[1]  queue list of the channel (named) or of its owning process (local)
-- KEYS[2]  counts hash of the owning process (unused for named channels)
-- KEYS[3]  optional: the sender's own counts hash on this shard, to release
--          messages it has consumed in the same round trip
-- ARGV[1]  channel, ARGV[2] capacity, ARGV[3] expiry in seconds, ARGV[4] element
-- ARGV[5..] pairs (local part, count) to release from KEYS[3]
-- Returns 1 when queued, 0 when the channel is full.
release(KEYS[3], ARGV, 5)
local capacity, expiry = tonumber(ARGV[2]), tonumber(ARGV[3])
local owner, l = split_channel(ARGV[1])
if not owner then
  if redis.call('LLEN', KEYS[1]) >= capacity then
    return 0
  end
  redis.call('RPUSH', KEYS[1], ARGV[4])
  redis.call('EXPIRE', KEYS[1], expiry)
  return 1
end
local counts, _, groups = channel_counts(KEYS[2], {l})
local held = counts[1] + 1
if held > capacity then
  return 0
end
redis.call('RPUSH', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[1], expiry)
if redis.call('HINCRBY', KEYS[2], l, 1) == 0 then
  redis.call('HDEL', KEYS[2], l)
end
redis.call('EXPIRE', KEYS[2], expiry)
-- Keep the bound of every group of the channel true (see common.lua), unless the
-- group already lists the channel as full.
local mine = groups[1]
if #mine > 0 then
  local fields = {'@'}
  for _, g in ipairs(mine) do
    fields[#fields + 1] = '^' .. g
    fields[#fields + 1] = '!' .. g
  end
  local values = redis.call('HMGET', KEYS[2], unpack(fields))
  local total = tonumber(values[1]) or 0
  for i, g in ipairs(mine) do
    local bound = tonumber(values[2 * i])
    if bound and held - total > bound and not list_has(values[2 * i + 1], l) then
      redis.call('HSET', KEYS[2], '^' .. g, held - total)
    end
  end
end
return 1
