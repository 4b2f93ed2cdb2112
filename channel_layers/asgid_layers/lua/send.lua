-- Queue one element on a channel if it is under capacity, in one atomic step.
-- KEYS[1]  queue list of the channel (named) or of its owning process (local)
-- KEYS[2]  counts hash of the owning process (unused for named channels)
-- KEYS[3]  optional: the sender's own counts hash on this shard, to release
--          messages it has consumed in the same round trip
-- ARGV[1]  key base (unused: every key is in KEYS), ARGV[2] channel,
-- ARGV[3] capacity, ARGV[4] expiry in seconds, ARGV[5] element (elements.py)
-- ARGV[6..] pairs (local part, count) to release from KEYS[3]
-- Returns 1 when queued, 0 when the channel is full.
release(KEYS[3], ARGV, 6)
local capacity, expiry, element = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local owner, l = split_channel(ARGV[2])
if not owner then
  if redis.call('LLEN', KEYS[1]) >= capacity then
    return 0
  end
  redis.call('RPUSH', KEYS[1], element)
  redis.call('EXPIRE', KEYS[1], expiry)
  return 1
end
local counts, _, groups = channel_counts(KEYS[2], {l})
local held = counts[1] + 1
if held > capacity then
  return 0
end
redis.call('RPUSH', KEYS[1], element)
redis.call('EXPIRE', KEYS[1], expiry)
if redis.call('HINCRBY', KEYS[2], FIELD.direct(l), 1) == 0 then
  redis.call('HDEL', KEYS[2], FIELD.direct(l))
end
redis.call('EXPIRE', KEYS[2], expiry)
-- Keep the bound of every group of the channel true (see common.lua).
local mine = groups[1]
if #mine > 0 then
  local fields = {FIELD.ALL_SENT}
  for _, g in ipairs(mine) do
    fields[#fields + 1] = FIELD.bound(g)
    fields[#fields + 1] = FIELD.full(g)
  end
  local values = redis.call('HMGET', KEYS[2], unpack(fields))
  local total = tonumber(values[1]) or 0
  for i, g in ipairs(mine) do
    widen_bound(KEYS[2], g, l, held, total, tonumber(values[2 * i]), values[2 * i + 1])
  end
end
return 1
