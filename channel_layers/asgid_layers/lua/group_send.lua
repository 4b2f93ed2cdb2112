-- Deliver one payload to every live member of a group stored on this shard.
-- Member queues are derived from ARGV[1] exactly as keys.py builds them
-- (base .. 'q:' .. non-local name, base .. 'n:' .. non-local name); all share
-- the shard's hash tag, so in Redis Cluster they are in the same slot as KEYS.
-- KEYS[1] group members, KEYS[2] capacities of members that differ from the default
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

local delivered, full = 0, 0
-- Process-local members are grouped by owning process. Their counts are read
-- with one HMGET and written with one HSET per chunk, and they get one element
-- "field1,field2,...\0payload" per process that the owner's reader fans out
-- (local parts cannot contain ','). Redis work per member is then a few Lua
-- table operations instead of several redis.call round trips into the server.
local owners, order = {}, {}
for _, channel in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local capacity = capacities[channel] or default_capacity
  local bang = string.find(channel, '!', 1, true)
  if bang then
    local owner = string.sub(channel, 1, bang)
    if owners[owner] == nil then
      owners[owner] = {fields = {}, caps = {}}
      order[#order + 1] = owner
    end
    local group = owners[owner]
    group.fields[#group.fields + 1] = string.sub(channel, bang + 1)
    group.caps[#group.caps + 1] = capacity
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

local CHUNK = 500  -- keeps unpack() far below Lua's C stack limit
for _, owner in ipairs(order) do
  local group, counts = owners[owner], base .. 'n:' .. owner
  local accepted = {}
  for first = 1, #group.fields, CHUNK do
    local last = math.min(first + CHUNK - 1, #group.fields)
    local current = redis.call('HMGET', counts, unpack(group.fields, first, last))
    local updates = {}
    for i = first, last do
      local used = tonumber(current[i - first + 1]) or 0
      if used < group.caps[i] then
        updates[#updates + 1] = group.fields[i]
        updates[#updates + 1] = used + 1
        accepted[#accepted + 1] = group.fields[i]
      else
        full = full + 1
      end
    end
    if #updates > 0 then
      redis.call('HSET', counts, unpack(updates))
    end
  end
  if #accepted > 0 then
    local queue = base .. 'q:' .. owner
    redis.call('RPUSH', queue, table.concat(accepted, ',') .. '\0' .. payload)
    redis.call('EXPIRE', queue, expiry)
    redis.call('EXPIRE', counts, expiry)
    delivered = delivered + #accepted
  end
end
return {delivered, full}
