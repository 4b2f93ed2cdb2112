-- Refresh the heartbeat of the processes (owners 'specific.x!') a layer serves
-- on this shard, then reclaim processes that went silent (see reap).
-- No KEYS (every key comes from the key base). ARGV[1] key base,
-- ARGV[2] process expiry (s), ARGV[3] group expiry (s), ARGV[4..] owners.
-- Returns {reclaimed count, owners that were not registered before this call}.
local now, process_expiry = server_now(), tonumber(ARGV[2])
local fresh = {}
for i = 4, #ARGV do
  if redis.call('ZADD', processes_key(), now, ARGV[i]) == 1 then
    fresh[#fresh + 1] = ARGV[i]
  end
end
if #ARGV >= 4 then
  redis.call('EXPIRE', processes_key(), tonumber(ARGV[3]))
end
return {reap(now, process_expiry, 500), fresh}
