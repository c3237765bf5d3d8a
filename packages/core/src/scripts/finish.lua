--[[
finish: record the outcome of a job's attempt, if this worker still owns it:
completed, retry scheduled, or failed for good (dead-lettered).

KEYS[1]  job hash
KEYS[2]  tier stream the job's entry is in
ARGV[1]  base: the queue's key prefix, "prefix:{queue}:"
ARGV[2]  consumer group
ARGV[3]  consumer name (the worker)
ARGV[4]  stream entry id the worker was given
ARGV[5]  job id
ARGV[6]  outcome: "completed", "failed", or "canceled" (the handler canceled
         its own job)
ARGV[7]  completed: result JSON ("" for none); failed: error message;
         canceled: reason
ARGV[8]  failed: error stack; canceled: who canceled (may be "")
ARGV[9]  failed: retry due time in epoch ms, 0 to retry at once, -1 final
ARGV[10] retention: how many finished jobs of this outcome to keep (-1 all, 0 none)
ARGV[11] retention: max age in ms of finished jobs of this outcome (-1 any)
ARGV[12] events stream max length (approximate)

Reply:   "completed", "retrying", "failed", "canceled", or "lost" when the
         worker no longer owns the job (reclaimed, handed back): nothing changes
         then. When the job was canceled while this worker ran it, the outcome
         is discarded, a `job:discarded` event says so, and the reply is
         "canceled".
Guarantee: ownership check, XACK, XDEL and the next state in one step, so an
attempt's outcome is recorded at most once, a fenced-off worker's late outcome
is never stored, and an acknowledged job is always in a stream, the delayed
set or a final state.
]]
local base, group, consumer, entryId, jobId, outcome = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local retryAt, keepCount, keepAge, maxEvents = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11]), ARGV[12]
local jobKey, lane = KEYS[1], KEYS[2]
local job = redis.call('HMGET', jobKey, 'state', 'owner', 'entry')
if job[2] ~= consumer or job[3] ~= entryId then return 'lost' end

local function event(name, ...)
  redis.call('XADD', base .. 'events', 'MAXLEN', '~', maxEvents, '*', 'e', name, 'j', jobId, ...)
end

if job[1] == 'canceled' then
  -- canceled while running: the late outcome is discarded, and said so
  redis.call('HDEL', jobKey, 'owner', 'entry')
  event('job:discarded', 'outcome', outcome, 'error', outcome == 'failed' and ARGV[7] or '')
  return 'canceled'
end
if job[1] ~= 'active' then return 'lost' end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

redis.call('XACK', lane, group, entryId)
redis.call('XDEL', lane, entryId)
redis.call('HDEL', jobKey, 'owner', 'entry')

local retained
if outcome == 'completed' then
  redis.call('HSET', jobKey, 'state', 'completed', 'finishedAt', now, 'result', ARGV[7])
  event('job:completed')
  retained = base .. 'completed'
elseif outcome == 'canceled' then
  redis.call('HSET', jobKey, 'state', 'canceled', 'finishedAt', now, 'cancelReason', ARGV[7], 'canceledBy', ARGV[8])
  redis.call('ZADD', base .. 'canceled', now, jobId)
  event('job:canceled', 'reason', ARGV[7], 'by', ARGV[8], 'from', 'handler')
  return 'canceled'
else
  local attemptsMade = redis.call('HINCRBY', jobKey, 'attemptsMade', 1)
  redis.call('HSET', jobKey, 'error', ARGV[7], 'stack', ARGV[8])
  if retryAt >= 0 then
    if retryAt <= now then
      local entry = redis.call('XADD', lane, '*', 'j', jobId)
      redis.call('HSET', jobKey, 'state', 'waiting', 'entry', entry)
    else
      redis.call('ZADD', base .. 'delayed', retryAt, jobId)
      redis.call('HSET', jobKey, 'state', 'delayed', 'dueAt', retryAt)
    end
    event('job:retrying', 'attemptsMade', attemptsMade, 'error', ARGV[7])
    return 'retrying'
  end
  redis.call('HSET', jobKey, 'state', 'failed', 'finishedAt', now)
  event('job:failed', 'error', ARGV[7])
  retained = base .. 'dead'
end

-- retention of finished jobs (with their checkpoints): within count and age, the oldest removed first
if keepCount == 0 then
  redis.call('DEL', jobKey, base .. 'checkpoint:' .. jobId)
  return outcome
end
redis.call('ZADD', retained, now, jobId)
local expired = {}
if keepAge >= 0 then
  expired = redis.call('ZRANGEBYSCORE', retained, '-inf', now - keepAge, 'LIMIT', 0, 100)
end
if keepCount > 0 then
  local excess = redis.call('ZCARD', retained) - keepCount
  if excess > 0 then
    for _, id in ipairs(redis.call('ZRANGE', retained, 0, math.min(excess, 100) - 1)) do
      expired[#expired + 1] = id
    end
  end
end
for _, id in ipairs(expired) do
  redis.call('DEL', base .. 'job:' .. id, base .. 'checkpoint:' .. id)
  redis.call('ZREM', retained, id)
end
return outcome
