--[[
leader: take or keep the scheduler leadership of a queue.

KEYS[1]  leader lock (string "<instance>:<token>", with a TTL)
KEYS[2]  fencing counter
ARGV[1]  instance id of the caller
ARGV[2]  lock lifetime in ms

Reply:   {1, value} newly elected (a new term with a new token),
         {2, value} still leader (lifetime renewed),
         {0, value of the current leader, its remaining ms}.
Guarantee: at most one holder at a time; every term gets a fencing token
greater than all before it, and scripts run by the leader check the full
value, so a leader whose term ended (paused, partitioned) is fenced off even if
it still believes it leads.
]]
local current = redis.call('GET', KEYS[1])
if not current then
  local value = ARGV[1] .. ':' .. redis.call('INCR', KEYS[2])
  redis.call('SET', KEYS[1], value, 'PX', ARGV[2])
  return {1, value}
end
if string.sub(current, 1, #ARGV[1] + 1) == ARGV[1] .. ':' then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {2, current}
end
return {0, current, redis.call('PTTL', KEYS[1])}
