-- Rules shared by the scripts; scripts.py puts this file (after the key and
-- element writers generated from keys.py and elements.py) in front of each one.
-- The other scripts name the counts-hash fields and apply the bound only through
-- the functions below.
--
-- Capacity is exact per channel without group_send touching every member. The
-- counts hash of one process (counts_key(owner), owner = 'specific.x!') holds:
--   <local>      direct sends to the channel minus every release of it
--   <local>|     ',G1,G2,': the groups the channel is in
--   <local>|<G>  #G when the channel joined G, plus the G sends that skipped it
--   #<G>         group sends to G that reached this process
--   @            group sends to any group that reached this process
--   ^<G>         bound: no member of G here holds more than ^G + @ messages,
--                except those listed in !<G>
--   !<G>         ',a,b,': members of G found full by the last group send
-- A channel holds <local> + sum over its groups G of (#G - <local>|G) messages.
-- Every field lives in the one hash, so an expiry resets them all together.
--
-- A group's members on a shard are kept by process in KEYS[3] (see owner_state
-- and change_members) and named channel -> ''. group_send then queues one short
-- element per process naming its member set; while the bound shows room it reads
-- and writes a handful of fields per process, whatever the group's size.

local FIELD = {
  ALL_SENT = '@',
  direct = function(l) return l end,
  groups = function(l) return l .. '|' end,
  joined = function(l, g) return l .. '|' .. g end,
  sent = function(g) return '#' .. g end,
  bound = function(g) return '^' .. g end,
  full = function(g) return '!' .. g end,
  -- in the capacities hash (KEYS[2]): the lowest capacity of a process's members
  lowest = function(owner) return '<' .. owner end,
}

local CHUNK = 500 -- keeps unpack() far below Lua's C stack limit

local function hmget(key, fields)
  local out = {}
  for first = 1, #fields, CHUNK do
    local last = math.min(first + CHUNK - 1, #fields)
    local part = redis.call('HMGET', key, unpack(fields, first, last))
    for i = 1, #part do
      out[first + i - 1] = part[i]
    end
  end
  return out
end

-- flat = {field, value, field, value, ...}
local function hset(key, flat)
  for first = 1, #flat, 2 * CHUNK do
    local last = math.min(first + 2 * CHUNK - 1, #flat)
    redis.call('HSET', key, unpack(flat, first, last))
  end
end

local function split_channel(channel)
  local bang = string.find(channel, '!', 1, true)
  if not bang then
    return nil, channel
  end
  return string.sub(channel, 1, bang), string.sub(channel, bang + 1)
end

-- ',a,b,' lists (group names never contain ',')
local function list_has(list, item)
  return list and string.find(list, ',' .. item .. ',', 1, true) ~= nil or false
end

local function list_add(list, item)
  if list_has(list, item) then
    return list
  end
  return (list or ',') .. item .. ','
end

local function list_remove(list, item)
  local at = list and string.find(list, ',' .. item .. ',', 1, true)
  if not at then
    return list
  end
  return string.sub(list, 1, at) .. string.sub(list, at + #item + 2)
end

-- An item may be empty: 'specific.x!' is a channel whose local part is ''.
local function list_items(list)
  local out, from = {}, 2
  if list then
    while from <= #list do
      local comma = string.find(list, ',', from, true)
      out[#out + 1] = string.sub(list, from, comma - 1)
      from = comma + 1
    end
  end
  return out
end

-- m:G value of one process: '<snapshot id>:<member count>:<referenced 0|1>'.
local function owner_state(value)
  if not value then
    return nil, 0, 0
  end
  local id, n, referenced = string.match(value, '^(%d+):(%d+):(%d)$')
  return id, tonumber(n), tonumber(referenced)
end

-- Add (op '+') or remove (op '-') local part `l` of process `owner` in group
-- `group`'s members (KEYS-style table `keys`). The members of one process are a
-- set member_set_key(id). Once a queued element names a set it is never
-- changed again: the change goes to a copy under a new id, and the old set lives
-- on for the elements still queued. Every change is also queued for the owner's
-- reader as element_change(old id, new id, op, local part), in order with the messages,
-- so the reader can follow the sets without reading them back.
-- Returns true when the membership changed.
local function change_members(keys, owner, l, op, expiry, group_expiry)
  local id, n, referenced = owner_state(redis.call('HGET', keys[3], owner))
  local set = id and member_set_key(id)
  local member = set and redis.call('SISMEMBER', set, l) == 1
  if (op == '+' and member) or (op == '-' and not member) then
    return false
  end
  local new = id
  if not id or referenced == 1 then
    new = tostring(redis.call('INCR', ids_key()))
    if set then
      redis.call('SUNIONSTORE', member_set_key(new), set)
      redis.call('EXPIRE', set, expiry + 60)
    end
  end
  local new_set = member_set_key(new)
  if op == '+' then
    redis.call('SADD', new_set, l)
    n = n + 1
  else
    redis.call('SREM', new_set, l) -- Redis deletes a set that becomes empty
    n = n - 1
  end
  if n > 0 then
    redis.call('HSET', keys[3], owner, new .. ':' .. n .. ':0')
    redis.call('EXPIRE', new_set, group_expiry)
  else
    redis.call('HDEL', keys[3], owner)
    new = ''
  end
  local queue = queue_key(owner)
  redis.call('RPUSH', queue, element_change(id or '', new, op, l))
  redis.call('EXPIRE', queue, expiry)
  return true
end

-- Messages held by each of the process-local channels `locals` (their counts
-- hash is `key`), plus their raw group lists. A count below zero can only come
-- from releases that arrived after the hash expired and was recreated; it is
-- reset to zero so that capacity is never exceeded because of it.
local function channel_counts(key, locals)
  local fields = {}
  for i, l in ipairs(locals) do
    fields[2 * i - 1] = FIELD.direct(l)
    fields[2 * i] = FIELD.groups(l)
  end
  local values = hmget(key, fields)
  local counts, lists, groups, extra = {}, {}, {}, {}
  for i, l in ipairs(locals) do
    counts[i] = tonumber(values[2 * i - 1]) or 0
    lists[i] = values[2 * i] or nil -- Redis nil arrives as false
    groups[i] = list_items(lists[i])
    for _, g in ipairs(groups[i]) do
      extra[#extra + 1] = FIELD.sent(g)
      extra[#extra + 1] = FIELD.joined(l, g)
    end
  end
  if #extra > 0 then
    local more, j = hmget(key, extra), 1
    for i = 1, #locals do
      for _ = 1, #groups[i] do
        counts[i] = counts[i] + (tonumber(more[j]) or 0) - (tonumber(more[j + 1]) or 0)
        j = j + 2
      end
    end
  end
  for i, l in ipairs(locals) do
    if counts[i] < 0 then
      redis.call('HINCRBY', key, FIELD.direct(l), -counts[i])
      counts[i] = 0
    end
  end
  return counts, lists, groups
end

-- Give capacity back for messages a process consumed; pairs (local part, count)
-- from argv[first] on. A hash that expired meanwhile has nothing to give back.
local function release(key, argv, first)
  if not key or redis.call('EXISTS', key) == 0 then
    return
  end
  for i = first, #argv, 2 do
    local field = FIELD.direct(argv[i])
    if redis.call('HINCRBY', key, field, -tonumber(argv[i + 1])) == 0 then
      redis.call('HDEL', key, field)
    end
  end
end

-- Remove `channel` from group `group`: the members sorted set, the capacities
-- hash and the member sets (keys), and fold the group messages it still holds
-- into its direct count so its total does not change.
local function leave(keys, group, channel, expiry, group_expiry)
  redis.call('ZREM', keys[1], channel)
  redis.call('HDEL', keys[2], channel)
  local owner, l = split_channel(channel)
  if not owner then
    redis.call('HDEL', keys[3], channel)
    return
  end
  change_members(keys, owner, l, '-', expiry, group_expiry)
  local counts = counts_key(owner)
  local v = redis.call(
    'HMGET', counts, FIELD.sent(group), FIELD.joined(l, group), FIELD.groups(l), FIELD.full(group)
  )
  if list_has(v[4], l) then
    local full = list_remove(v[4], l)
    if full == ',' then
      redis.call('HDEL', counts, FIELD.full(group))
    else
      redis.call('HSET', counts, FIELD.full(group), full)
    end
  end
  if list_has(v[3], group) then
    local held = (tonumber(v[1]) or 0) - (tonumber(v[2]) or 0)
    if held ~= 0 and redis.call('HINCRBY', counts, FIELD.direct(l), held) == 0 then
      redis.call('HDEL', counts, FIELD.direct(l))
    end
    local list = list_remove(v[3], group)
    if list == ',' then
      redis.call('HDEL', counts, FIELD.groups(l), FIELD.joined(l, group))
    else
      redis.call('HSET', counts, FIELD.groups(l), list)
      redis.call('HDEL', counts, FIELD.joined(l, group))
    end
  end
end

-- The bound rule (^G above): after member `l` of group `g` came to hold `held`
-- messages, widen ^G so that ^G + @ still covers it, unless !G lists it as full
-- (`bound`, `total` = @ and `full` are the values read from the counts hash).
local function widen_bound(counts, g, l, held, total, bound, full)
  if bound and held - total > bound and not list_has(full, l) then
    redis.call('HSET', counts, FIELD.bound(g), held - total)
  end
end

-- Whether the bound alone promises room for one more message in every member of
-- a process not listed as full (otherwise group_send counts them exactly).
local function bound_has_room(bound, total, capacity)
  return bound ~= nil and bound + total < capacity
end

-- Redis' clock, so that hosts whose clocks differ agree on who is silent. Call
-- it before any write: Redis 5 and 6 replicate a script that read TIME only as
-- effects, which replicate_commands() turns on (Redis 7 always does).
local function server_now()
  if redis.replicate_commands then
    redis.replicate_commands()
  end
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end

-- A process (owner 'specific.x!') that stopped refreshing its processes_key()
-- entry was killed or lost its network: take back its group memberships, member
-- sets, queue and counts now rather than after group_expiry (a day), so group
-- sends stop queueing for it. Its channels' names are in the member sets.
local function reclaim(owner)
  for _, g in ipairs(redis.call('SMEMBERS', owner_groups_key(owner))) do
    local by_owner, capacities = group_members_key(g), group_capacity_key(g)
    local id = owner_state(redis.call('HGET', by_owner, owner))
    if id then
      local set = member_set_key(id)
      for _, l in ipairs(redis.call('SMEMBERS', set)) do
        redis.call('ZREM', group_key(g), owner .. l)
        redis.call('HDEL', capacities, owner .. l)
      end
      redis.call('HDEL', by_owner, owner)
      redis.call('DEL', set)
    end
    redis.call('HDEL', capacities, FIELD.lowest(owner))
  end
  redis.call('DEL', owner_groups_key(owner), queue_key(owner), counts_key(owner))
  redis.call('ZREM', processes_key(), owner)
end

-- Reclaim up to `limit` processes silent for `process_expiry` seconds.
local function reap(now, process_expiry, limit)
  local silent = redis.call(
    'ZRANGEBYSCORE', processes_key(), '-inf', '(' .. (now - process_expiry), 'LIMIT', 0, limit
  )
  for _, owner in ipairs(silent) do
    reclaim(owner)
  end
  return #silent
end
