--[[
unschedule: remove a repeat schedule, so it has no future runs.

KEYS[1]  schedule hash
KEYS[2]  schedules-due sorted set
KEYS[3]  schedule-ids set
KEYS[4]  set of schedules with held-back occurrences
ARGV[1]  schedule id

Reply:   {0} when there was no such schedule; else {1, held-back job ids...,
         "|", recent occurrence job ids...} for the caller to cancel (the held
         ones always: they never started; the recent ones on request).
Guarantee: once this returns, no leader can materialise or release another
occurrence of the schedule (its hash, buffer and due entry are gone in one
step, and materialise refuses a schedule whose version it cannot find).
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
local buffer, recent = KEYS[1] .. ':buffer', KEYS[1] .. ':recent'
local reply = {1}
for _, jobId in ipairs(redis.call('LRANGE', buffer, 0, -1)) do reply[#reply + 1] = jobId end
reply[#reply + 1] = '|'
for _, jobId in ipairs(redis.call('LRANGE', recent, 0, -1)) do reply[#reply + 1] = jobId end
redis.call('DEL', KEYS[1], buffer, recent)
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('SREM', KEYS[4], ARGV[1])
return reply
