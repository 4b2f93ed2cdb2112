-- Give capacity back for messages a process has consumed from its buffer.
-- KEYS[1] counts hash of the process; ARGV[1] key base (unused), ARGV[2..] pairs
-- (local part, count).
release(KEYS[1], ARGV, 2)
return 1
