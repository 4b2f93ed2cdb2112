-- Deliver one payload to every live member of a group stored on this shard.
-- Member queues come from the key base ARGV[1] through the builders generated
-- from keys.py (queue_key, counts_key); all share the shard's hash tag, so in
-- Redis Cluster they are in the same slot as KEYS.
-- KEYS[1] group members (sorted set), KEYS[2] member capacities, KEYS[3] members
-- by process. ARGV[1] key base, ARGV[2] now (s), ARGV[3] group expiry,
-- ARGV[4] message expiry, ARGV[5] default capacity, ARGV[6] payload, ARGV[7] group,
-- ARGV[8] process expiry (s)
-- Returns {delivered, skipped because full}.
local payload, group = ARGV[6], ARGV[7]
local expiry, default_capacity = tonumber(ARGV[4]), tonumber(ARGV[5])
local group_expiry = tonumber(ARGV[3])
local oldest = '(' .. (tonumber(ARGV[2]) - tonumber(ARGV[3]))
-- Processes gone silent are reclaimed first, a few per call (see reap).
reap(server_now(), tonumber(ARGV[8]), 10)
if #redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', oldest, 'LIMIT', 0, 1) > 0 then
  for _, channel in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', oldest)) do
    leave(KEYS, group, channel, expiry, group_expiry)
  end
end

-- Capacities of local parts `locals` of `owner`; stored per member only when
-- they differ from the default, and `lowest` says whether any does.
local function capacities_of(owner, locals, lowest)
  local capacities = {}
  local stored = {}
  if lowest then
    local names = {}
    for i, l in ipairs(locals) do
      names[i] = owner .. l
    end
    stored = hmget(KEYS[2], names)
  end
  for i = 1, #locals do
    capacities[i] = tonumber(stored[i]) or default_capacity
  end
  return capacities
end

-- Which of `locals` are full; and the most any other one holds after this send.
local function split_full(counts, owner, locals, lowest)
  local capacities = capacities_of(owner, locals, lowest)
  local held, lists = channel_counts(counts, locals)
  local skipped, most = {}, nil
  for i, l in ipairs(locals) do
    if held[i] < capacities[i] then
      most = math.max(most or 0, held[i] + 1)
    else
      skipped[#skipped + 1] = l
    end
  end
  return skipped, most, lists
end

-- Exact pass over one process's members, taken when the bound cannot promise
-- room for all of them: also re-registers memberships whose fields went with an
-- expired counts hash.
local function check_members(counts, owner, id, lowest, sent)
  local locals = redis.call('SMEMBERS', member_set_key(id))
  local skipped, most, lists = split_full(counts, owner, locals, lowest)
  local updates = {}
  if not sent then
    updates[1], updates[2] = FIELD.sent(group), 0
  end
  for i, l in ipairs(locals) do
    if not list_has(lists[i], group) then
      updates[#updates + 1] = FIELD.groups(l)
      updates[#updates + 1] = list_add(lists[i], group)
      updates[#updates + 1] = FIELD.joined(l, group)
      updates[#updates + 1] = sent or 0
    end
  end
  hset(counts, updates)
  return skipped, most
end

-- One process's members. The bound ^G covers the members not listed as full in
-- !G; those few are checked one by one on every send, so a member that stopped
-- reading does not send the others through the exact pass.
local function send_to_process(name, value)
  local counts = counts_key(name)
  local id, n, referenced = owner_state(value)
  local lowest = tonumber(redis.call('HGET', KEYS[2], FIELD.lowest(name)))
  local capacity = math.min(default_capacity, lowest or default_capacity)
  local state = redis.call(
    'HMGET', counts, FIELD.bound(group), FIELD.ALL_SENT, FIELD.sent(group), FIELD.full(group)
  )
  local bound, total, excluded = tonumber(state[1]), tonumber(state[2]) or 0, state[4] or nil
  local skipped, most, exact = {}, nil, false
  if bound_has_room(bound, total, capacity) then
    if excluded then
      skipped, most = split_full(counts, name, list_items(excluded), lowest)
    end
  else
    skipped, most = check_members(counts, name, id, lowest, tonumber(state[3]))
    exact = true
  end
  local accepted = n - #skipped
  if accepted > 0 then
    total = total + 1
  end
  if exact then
    redis.call('HSET', counts, FIELD.bound(group), (most or 0) - total)
  elseif most and most - total > bound then
    redis.call('HSET', counts, FIELD.bound(group), most - total)
  end
  local full_list = #skipped > 0 and ',' .. table.concat(skipped, ',') .. ',' or nil
  if full_list ~= excluded then
    if full_list then
      redis.call('HSET', counts, FIELD.full(group), full_list)
    else
      redis.call('HDEL', counts, FIELD.full(group))
    end
  end
  if accepted > 0 then
    -- The coming #G increment must not count for the members it skips.
    for _, l in ipairs(skipped) do
      redis.call('HINCRBY', counts, FIELD.joined(l, group), 1)
    end
    redis.call('HINCRBY', counts, FIELD.sent(group), 1)
    redis.call('HINCRBY', counts, FIELD.ALL_SENT, 1)
    -- Name the set, minus the full members, and freeze it (see change_members).
    if referenced == 0 then
      redis.call('HSET', KEYS[3], name, id .. ':' .. n .. ':1')
    end
    local queue = queue_key(name)
    redis.call('RPUSH', queue, element_group(id, skipped, payload))
    redis.call('EXPIRE', queue, expiry)
  end
  redis.call('EXPIRE', counts, expiry)
  return accepted, #skipped
end

local delivered, full = 0, 0
local members = redis.call('HGETALL', KEYS[3])
for i = 1, #members, 2 do
  local name, value = members[i], members[i + 1]
  if string.sub(name, -1) ~= '!' then
    local capacity = tonumber(redis.call('HGET', KEYS[2], name)) or default_capacity
    local queue = queue_key(name)
    if redis.call('RPUSH', queue, element_direct('', payload)) <= capacity then
      redis.call('EXPIRE', queue, expiry)
      delivered = delivered + 1
    else
      redis.call('RPOP', queue)
      full = full + 1
    end
  else
    local accepted, skipped = send_to_process(name, value)
    delivered, full = delivered + accepted, full + skipped
  end
end
return {delivered, full}
