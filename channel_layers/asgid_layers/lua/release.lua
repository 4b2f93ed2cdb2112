-- Give capacity back for messages a process has consumed from its buffer.
-- KEYS[1] counts hash of the process; ARGV pairs (local part, count).
for i = 1, #ARGV, 2 do
  if redis.call('HINCRBY', KEYS[1], ARGV[i], -tonumber(ARGV[i + 1])) <= 0 then
    redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
return 1
