-- Queue one element on a channel if it is under capacity, in one atomic step.
-- KEYS[1]  queue list of the channel (named) or of its owning process (local)
-- KEYS[2]  counts hash of the owning process (unused for named channels)
-- KEYS[3]  optional: the sender's own counts hash on this shard, to release
--          messages it has consumed in the same round trip
-- ARGV[1]  local part of the channel ('' for a named channel)
-- ARGV[2]  capacity, ARGV[3] expiry in seconds, ARGV[4] element
-- ARGV[5..] pairs (local part, count) to release from KEYS[3]
-- Returns 1 when queued, 0 when the channel is full.
if KEYS[3] then
  for i = 5, #ARGV, 2 do
    if redis.call('HINCRBY', KEYS[3], ARGV[i], -tonumber(ARGV[i + 1])) <= 0 then
      redis.call('HDEL', KEYS[3], ARGV[i])
    end
  end
end
local field, capacity, expiry = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local used
if field == '' then
  used = redis.call('LLEN', KEYS[1])
else
  used = tonumber(redis.call('HGET', KEYS[2], field) or '0')
end
if used >= capacity then
  return 0
end
redis.call('RPUSH', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[1], expiry)
if field ~= '' then
  redis.call('HINCRBY', KEYS[2], field, 1)
  redis.call('EXPIRE', KEYS[2], expiry)
end
return 1
