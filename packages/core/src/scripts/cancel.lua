--[[
cancel: cancel jobs in any state, from any process.

KEYS[1]  delayed sorted set of the queue (routes the call to the queue's slot)
ARGV[1]  base: the queue's key prefix, "prefix:{queue}:"
ARGV[2]  consumer group
ARGV[3]  reason (may be "")
ARGV[4]  who cancels (may be "")
ARGV[5]  events stream max length (approximate)
ARGV[6]  publish command: PUBLISH, or SPUBLISH on a cluster (sharded: the channel has the queue's hash tag)
ARGV[7..] job ids

Reply:   per id: 1 canceled now; 0 already final or unknown (nothing changed).
Guarantee: atomic per call. A waiting job's stream entry and a delayed job's
delayed-set member are removed with the state change, so it never starts. A
running job (a waiting one whose entry is pending) has its entry acknowledged
and removed, so it can no longer be reclaimed and its owner no longer holds
it (the hash gets `owner` and keeps `entry`, naming the canceled attempt), and a notice is published on `base cancel`: the owner aborts its handler
on the notice, or at its next heartbeat if it missed it, and the settle script
then discards the late outcome. Cancel and finish are both atomic, so exactly one of them decides the
final state. Canceling an occurrence of a schedule that holds occurrences back
(overlap "buffer") tells the scheduler leader on `base due`: the next may start.
]]
local base, group, reason, by, maxEvents, publish = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local replies = {}
local occurrenceEnded = false
for i = 7, #ARGV do
  local jobId = ARGV[i]
  local jobKey = base .. 'job:' .. jobId
  local job = redis.call('HMGET', jobKey, 'state', 'tier', 'entry', 'scheduleId')
  local state, lane = job[1], base .. 'lane:' .. tostring(job[2])
  local cancelable = state == 'waiting' or state == 'delayed'
  if cancelable then
    if state == 'waiting' then
      -- a running job is a waiting job whose entry is pending: XACK says which
      local running = job[3] and redis.call('XPENDING', lane, group, job[3], job[3], 1)[1]
      if running then
        -- `owner` and `entry` name the canceled attempt for its owner's scripts
        state = 'active'
        redis.call('XACK', lane, group, job[3])
        redis.call('HSET', jobKey, 'owner', running[2])
        redis.call(publish, base .. 'cancel', cjson.encode({ id = jobId, reason = reason, by = by }))
      elseif job[3] then
        redis.call('HDEL', jobKey, 'entry')
      end
      if job[3] then redis.call('XDEL', lane, job[3]) end
    else
      redis.call('ZREM', KEYS[1], jobId)
    end
    redis.call('HSET', jobKey, 'state', 'canceled', 'finishedAt', now, 'cancelReason', reason, 'canceledBy', by)
    redis.call('ZADD', base .. 'canceled', now, jobId)
    redis.call('XADD', base .. 'events', 'MAXLEN', '~', maxEvents, '*',
      'e', 'job:canceled', 'j', jobId, 'reason', reason, 'by', by, 'from', state)
    if job[4] then occurrenceEnded = true end
  end
  replies[#replies + 1] = cancelable and 1 or 0
end
if occurrenceEnded and redis.call('EXISTS', base .. 'schedules:buffered') == 1 then
  redis.call(publish, base .. 'due', 'release')
end
return replies
