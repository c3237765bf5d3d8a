--[[
cancel: cancel jobs in any state, from any process.

KEYS[1]  delayed sorted set of the queue (routes the call to the queue's slot)
ARGV[1]  base: the queue's key prefix, "prefix:{queue}:"
ARGV[2]  consumer group
ARGV[3]  reason (may be "")
ARGV[4]  who cancels (may be "")
ARGV[5]  events stream max length (approximate)
ARGV[6..] job ids

Reply:   per id: 1 canceled now; 0 already final or unknown (nothing changed).
Guarantee: atomic per call. A waiting job's stream entry and a delayed job's
delayed-set member are removed with the state change, so it never starts. An
active job's entry is acknowledged and removed (it can no longer be reclaimed)
while its hash keeps `owner` and `entry`, and a notice is published on
`base cancel`: the owner aborts its handler on the notice, or at its next
heartbeat if it missed it, and the settle script then discards the late
outcome. Cancel and finish are both atomic, so exactly one of them decides the
final state.
]]
local base, group, reason, by, maxEvents = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local replies = {}
for i = 6, #ARGV do
  local jobId = ARGV[i]
  local jobKey = base .. 'job:' .. jobId
  local job = redis.call('HMGET', jobKey, 'state', 'tier', 'entry')
  local state, lane = job[1], base .. 'lane:' .. tostring(job[2])
  local cancelable = state == 'waiting' or state == 'delayed' or state == 'active'
  if cancelable then
    if state == 'waiting' then
      redis.call('XACK', lane, group, job[3])
      redis.call('XDEL', lane, job[3])
      redis.call('HDEL', jobKey, 'entry')
    elseif state == 'delayed' then
      redis.call('ZREM', KEYS[1], jobId)
    else
      redis.call('XACK', lane, group, job[3])
      redis.call('XDEL', lane, job[3])
      redis.call('PUBLISH', base .. 'cancel', cjson.encode({ id = jobId, reason = reason, by = by }))
    end
    redis.call('HSET', jobKey, 'state', 'canceled', 'finishedAt', now, 'cancelReason', reason, 'canceledBy', by)
    redis.call('ZADD', base .. 'canceled', now, jobId)
    redis.call('XADD', base .. 'events', 'MAXLEN', '~', maxEvents, '*',
      'e', 'job:canceled', 'j', jobId, 'reason', reason, 'by', by, 'from', state)
  end
  replies[#replies + 1] = cancelable and 1 or 0
end
return replies
