-- Give capacity back for messages a process has consumed from its buffer.
-- KEYS[1] counts hash of the process; ARGV pairs (local part, count).
release(KEYS[1], ARGV, 1)
return 1
