--[[
release-buffered: start the next held-back occurrence of each `overlap:
"buffer"` schedule whose previous run has finished. Run by the leader only.

KEYS[1]  set of schedules with held-back occurrences
KEYS[2]  leader lock
ARGV[1]  base: the queue's key prefix, "prefix:{queue}:"
ARGV[2]  the leader's lock value "<instance>:<fencing token>"

Reply:   number of occurrences released, or -1 when the caller is not the leader.
Guarantee: per schedule at most one run is unfinished at a time, and held-back
occurrences start in the order they were due; canceled ones are passed over;
nothing is released while the schedule is paused.
]]
local base, token = ARGV[1], ARGV[2]
if redis.call('GET', KEYS[2]) ~= token then return -1 end
local released = 0
for _, id in ipairs(redis.call('SRANDMEMBER', KEYS[1], 100)) do
  local scheduleKey = base .. 'schedule:' .. id
  local buffer = scheduleKey .. ':buffer'
  local schedule = redis.call('HMGET', scheduleKey, 'lastJob', 'paused')
  local previous = schedule[1]
  local state = previous and redis.call('HGET', base .. 'job:' .. previous, 'state')
  local busy = state == 'waiting' or state == 'active' or state == 'delayed' or schedule[2] == '1'
  while not busy and redis.call('LLEN', buffer) > 0 do
    local jobId = redis.call('LPOP', buffer)
    local jobKey = base .. 'job:' .. jobId
    local job = redis.call('HMGET', jobKey, 'state', 'tier', 'buffered')
    if job[1] == 'delayed' and job[3] == '1' then
      local entry = redis.call('XADD', base .. 'lane:' .. job[2], '*', 'j', jobId)
      redis.call('HSET', jobKey, 'state', 'waiting', 'entry', entry)
      redis.call('HDEL', jobKey, 'buffered')
      redis.call('HSET', scheduleKey, 'lastJob', jobId)
      released = released + 1
      busy = true
    end
  end
  if redis.call('LLEN', buffer) == 0 then redis.call('SREM', KEYS[1], id) end
end
return released
