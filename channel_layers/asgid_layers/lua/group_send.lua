-- Deliver one payload to every live member of a group stored on this shard.
-- Member queues are derived from ARGV[1] exactly as keys.py builds them
-- (base .. 'q:' .. name, base .. 'n:' .. owner); all share the shard's hash tag,
-- so in Redis Cluster they are in the same slot as KEYS.
-- KEYS[1] group members (sorted set), KEYS[2] member capacities, KEYS[3] members
-- by process. ARGV[1] key base, ARGV[2] now (s), ARGV[3] group expiry,
-- ARGV[4] message expiry, ARGV[5] default capacity, ARGV[6] payload, ARGV[7] group
-- Returns {delivered, skipped because full}.
local base, payload, group = ARGV[1], ARGV[6], ARGV[7]
local expiry, default_capacity = tonumber(ARGV[4]), tonumber(ARGV[5])
local group_expiry = tonumber(ARGV[3])
local oldest = '(' .. (tonumber(ARGV[2]) - tonumber(ARGV[3]))
if #redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', oldest, 'LIMIT', 0, 1) > 0 then
  for _, channel in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', oldest)) do
    leave(base, KEYS, group, channel, expiry, group_expiry)
  end
end

-- Exact pass over one process's members, taken when the bound cannot promise
-- room for all of them: skips the full ones, re-registers memberships whose
-- fields went with an expired counts hash, and sets a fresh bound.
-- Returns the accepted local parts joined by ',' and how many were accepted
-- and skipped.
local function check_members(counts, owner, id, lowest, state)
  local locals = redis.call('SMEMBERS', base .. 's:' .. id)
  local capacities = {}
  if lowest then
    local names = {}
    for i, l in ipairs(locals) do
      names[i] = owner .. l
    end
    capacities = hmget(KEYS[2], names)
  end
  local held, lists = channel_counts(counts, locals)
  local sent = tonumber(state[3])
  local updates = {}
  if not sent then
    sent = 0
    updates[1], updates[2] = '#' .. group, 0
  end
  for i, l in ipairs(locals) do
    if not list_has(lists[i], group) then
      updates[#updates + 1] = l .. '|'
      updates[#updates + 1] = list_add(lists[i], group)
      updates[#updates + 1] = l .. '|' .. group
      updates[#updates + 1] = sent
    end
  end
  hset(counts, updates)
  local accepted, skipped, most = {}, {}, 0
  for i, l in ipairs(locals) do
    local after = held[i]
    if after < (tonumber(capacities[i]) or default_capacity) then
      accepted[#accepted + 1] = l
      after = after + 1
    else
      skipped[#skipped + 1] = l
    end
    if after > most then
      most = after
    end
  end
  local total = tonumber(state[2]) or 0
  if #accepted > 0 then
    total = total + 1
    -- The coming #G increment must not count for the members it skips.
    for _, l in ipairs(skipped) do
      redis.call('HINCRBY', counts, l .. '|' .. group, 1)
    end
  end
  redis.call('HSET', counts, '^' .. group, most - total)
  return table.concat(accepted, ','), #accepted, #skipped
end

local delivered, full = 0, 0
local members = redis.call('HGETALL', KEYS[3])
for i = 1, #members, 2 do
  local name, value = members[i], members[i + 1]
  if string.sub(name, -1) ~= '!' then
    local capacity = tonumber(redis.call('HGET', KEYS[2], name)) or default_capacity
    local queue = base .. 'q:' .. name
    if redis.call('RPUSH', queue, '\0' .. payload) <= capacity then
      redis.call('EXPIRE', queue, expiry)
      delivered = delivered + 1
    else
      redis.call('RPOP', queue)
      full = full + 1
    end
  else
    local counts = base .. 'n:' .. name
    local id, n, referenced = owner_state(value)
    local lowest = tonumber(redis.call('HGET', KEYS[2], '<' .. name))
    local capacity = math.min(default_capacity, lowest or default_capacity)
    local state = redis.call('HMGET', counts, '^' .. group, '@', '#' .. group)
    local bound, total = tonumber(state[1]), tonumber(state[2]) or 0
    local targets, accepted, skipped = nil, n, 0
    if not (bound and bound + total < capacity) then
      targets, accepted, skipped = check_members(counts, name, id, lowest, state)
    end
    if accepted > 0 then
      if skipped == 0 then
        -- the whole set: name it, and freeze it (see change_members)
        targets = '#' .. id
        if referenced == 0 then
          redis.call('HSET', KEYS[3], name, id .. ':' .. n .. ':1')
        end
      end
      redis.call('HINCRBY', counts, '#' .. group, 1)
      redis.call('HINCRBY', counts, '@', 1)
      local queue = base .. 'q:' .. name
      redis.call('RPUSH', queue, targets .. '\0' .. payload)
      redis.call('EXPIRE', queue, expiry)
    end
    redis.call('EXPIRE', counts, expiry)
    delivered, full = delivered + accepted, full + skipped
  end
end
return {delivered, full}
