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
local oldest = '(' .. (tonumber(ARGV[2]) - tonumber(ARGV[3]))
local stale = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', oldest)
if #stale > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', oldest)
  for _, channel in ipairs(stale) do
    redis.call('HDEL', KEYS[2], channel)
  end
end
local capacities = {}
local flat = redis.call('HGETALL', KEYS[2])
for i = 1, #flat, 2 do
  capacities[flat[i]] = tonumber(flat[i + 1])
end
-- Process-local members are grouped by owning process: one element
-- "field1,field2,...\0payload" per process instead of one per member; the
-- owner's reader fans it out (local parts cannot contain ',').
local owners, order = {}, {}
local delivered, full = 0, 0
for _, channel in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local capacity = capacities[channel] or default_capacity
  local bang = string.find(channel, '!', 1, true)
  if bang then
    local owner = string.sub(channel, 1, bang)
    local field = string.sub(channel, bang + 1)
    -- Count first, undo when over: one call in the common case instead of two.
    if redis.call('HINCRBY', base .. 'n:' .. owner, field, 1) <= capacity then
      if owners[owner] == nil then
        owners[owner] = {}
        order[#order + 1] = owner
      end
      table.insert(owners[owner], field)
      delivered = delivered + 1
    else
      redis.call('HINCRBY', base .. 'n:' .. owner, field, -1)
      full = full + 1
    end
  else
    local queue = base .. 'q:' .. channel
    if redis.call('RPUSH', queue, '\0' .. payload) <= capacity then
      redis.call('EXPIRE', queue, expiry)
      delivered = delivered + 1
    else
      redis.call('RPOP', queue)
      full = full + 1
    end
  end
end
for _, owner in ipairs(order) do
  local queue = base .. 'q:' .. owner
  redis.call('RPUSH', queue, table.concat(owners[owner], ',') .. '\0' .. payload)
  redis.call('EXPIRE', queue, expiry)
  redis.call('EXPIRE', base .. 'n:' .. owner, expiry)
end
return {delivered, full}
