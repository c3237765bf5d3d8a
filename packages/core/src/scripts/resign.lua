--[[
resign: give up the scheduler leadership, so another instance takes over at
once instead of after the lock's lifetime.

KEYS[1]  leader lock
ARGV[1]  the caller's lock value "<instance>:<token>"

Reply:   1 when released, 0 when the caller was not the leader.
Guarantee: only the holder of the current term can release it.
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
