--[[
promote: move due delayed jobs and retries into their tier streams. Run by the
scheduler leader only.

KEYS[1]  delayed sorted set of the queue
KEYS[2]  leader lock of the queue
KEYS[3]  when a leader last watched the queue (server ms): its last round, or
         when it resigned
KEYS[4]  schedules-due sorted set
ARGV[1]  base: the queue's key prefix, "prefix:{queue}:"
ARGV[2]  the leader's lock value "<instance>:<fencing token>"
ARGV[3]  max jobs to promote in this call

Reply:   {promoted, nextDueAt or -1, now, previous round's time or 0, the
         earliest schedule's next run or -1}, or {-1, -1, now, 0, -1} when the
         caller is not the current leader (a stale leader is fenced off:
         nothing changes).
Guarantee: a delayed job is removed from the delayed set and added to its
stream in one step, so it is promoted exactly once however many schedulers
run; a job canceled or otherwise no longer delayed is dropped from the set
without being run; an id whose job record is missing is passed to the top
tier stream, where the settle script dead-letters it with the reason.
]]
local base, token, limit = ARGV[1], ARGV[2], ARGV[3]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
if redis.call('GET', KEYS[2]) ~= token then return {-1, -1, now, 0, -1} end
-- every round records itself: schedules tell live occurrences from missed ones by it
local seen = tonumber(redis.call('GET', KEYS[3]) or '0')
redis.call('SET', KEYS[3], now)

local promoted = 0
for _, jobId in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, limit)) do
  redis.call('ZREM', KEYS[1], jobId)
  local jobKey = base .. 'job:' .. jobId
  local job = redis.call('HMGET', jobKey, 'state', 'tier')
  if job[1] == 'delayed' then
    local entry = redis.call('XADD', base .. 'lane:' .. job[2], '*', 'j', jobId)
    redis.call('HSET', jobKey, 'state', 'waiting', 'entry', entry)
    promoted = promoted + 1
  elseif not job[1] then
    -- no record: hand the id to the settle script, which dead-letters it with the reason
    redis.call('XADD', base .. 'lane:0', '*', 'j', jobId)
  end
end
local next = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local nextSchedule = redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')
return {promoted, next[2] and tonumber(next[2]) or -1, now, seen, nextSchedule[2] and tonumber(nextSchedule[2]) or -1}
