--[[
settle: record the outcomes of a worker's finished attempts, then claim and
start jobs for its free slots, highest tier first. One call does both, so a
busy worker pays one round trip per batch of jobs, not two per job.

KEYS     the tier streams, highest tier first
ARGV[1]  base: the queue's key prefix, "prefix:{queue}:"
ARGV[2]  consumer group
ARGV[3]  consumer name (the worker)
ARGV[4]  how many jobs to claim (free slots; 0 to only record outcomes)
ARGV[5]  events stream max length (approximate)
ARGV[6]  N, the number of outcomes, followed by N groups of 9:
           job id, tier, stream entry id,
           outcome ("completed", "failed" or "canceled": the handler canceled it),
           value (completed: result JSON or ""; failed: error message; canceled: reason),
           failed: stack / canceled: who,
           failed: retry due time in ms, 0 to retry at once, -1 final,
           retention: how many finished jobs of this outcome to keep (-1 all, 0 none),
           retention: their max age in ms (-1 any)

Reply:   {per outcome "completed" | "retrying" | "failed" | "canceled" | "lost",
          now,
          1, {{entryId, tier, jobId, {checkpoint hash}, {field, value, ...}}, ...}}
         with the started jobs' hashes (as stored before they started) and saved
         checkpoints and steps; or {..., now, 0, lastDeliveredId per tier} when
         nothing was waiting, for the worker to block on entries after those ids;
         or {..., now, "paused"} when the queue is paused (nothing claimed).
Guarantees:
- Outcomes: the owner check, XACK, XDEL and the next state in one step, so an
  attempt's outcome is recorded at most once, a fenced-off worker's late
  outcome is never stored ("lost"), and an acknowledged job is always in a
  stream, the delayed set or a final state. A job canceled while this worker
  ran it keeps its state; its late outcome is discarded with a `job:discarded`
  event ("canceled").
- Claims: a lower tier is read only when every higher tier has no undelivered
  entry, and at most the asked number of entries are claimed, all of them
  started, so nothing is pre-claimed that higher-tier work could sit behind.
  Entries that cannot be parsed or whose job hash is missing are dead-lettered
  with a reason; entries of jobs no longer waiting (stale) are dropped.
]]
local base, group, consumer = ARGV[1], ARGV[2], ARGV[3]
local remaining, maxEvents = tonumber(ARGV[4]), ARGV[5]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

local function event(name, jobId, ...)
  redis.call('XADD', base .. 'events', 'MAXLEN', '~', maxEvents, '*', 'e', name, 'j', jobId, ...)
end

-- retention of finished jobs (with their checkpoints): within count and age, oldest first
local function retain(set, jobKey, jobId, keepCount, keepAge)
  if keepCount == 0 then
    redis.call('DEL', jobKey, base .. 'checkpoint:' .. jobId)
    return
  end
  redis.call('ZADD', set, now, jobId)
  local expired = {}
  if keepAge >= 0 then
    expired = redis.call('ZRANGEBYSCORE', set, '-inf', now - keepAge, 'LIMIT', 0, 100)
  end
  if keepCount > 0 then
    local excess = redis.call('ZCARD', set) - keepCount
    if excess > 0 then
      for _, id in ipairs(redis.call('ZRANGE', set, 0, math.min(excess, 100) - 1)) do
        expired[#expired + 1] = id
      end
    end
  end
  for _, id in ipairs(expired) do
    redis.call('DEL', base .. 'job:' .. id, base .. 'checkpoint:' .. id)
    redis.call('ZREM', set, id)
  end
end

-- entries of finished jobs, per lane, acknowledged and deleted together at the end
local done = {}

local function finish(jobId, tier, entryId, outcome, value, extra, retryAt, keepCount, keepAge)
  local jobKey, lane = base .. 'job:' .. jobId, KEYS[tier + 1]
  local job = redis.call('HMGET', jobKey, 'state', 'owner', 'entry')
  if job[2] ~= consumer or job[3] ~= entryId then return 'lost' end
  if job[1] == 'canceled' then
    -- canceled while running: the late outcome is discarded, and said so
    redis.call('HDEL', jobKey, 'owner', 'entry')
    event('job:discarded', jobId, 'outcome', outcome, 'error', outcome == 'failed' and value or '')
    return 'canceled'
  end
  if job[1] ~= 'active' then return 'lost' end
  done[tier + 1] = done[tier + 1] or {}
  table.insert(done[tier + 1], entryId)
  redis.call('HDEL', jobKey, 'owner', 'entry')
  if outcome == 'completed' then
    redis.call('HSET', jobKey, 'state', 'completed', 'finishedAt', now, 'result', value)
    event('job:completed', jobId)
    retain(base .. 'completed', jobKey, jobId, keepCount, keepAge)
    return 'completed'
  end
  if outcome == 'canceled' then
    redis.call('HSET', jobKey, 'state', 'canceled', 'finishedAt', now, 'cancelReason', value, 'canceledBy', extra)
    redis.call('ZADD', base .. 'canceled', now, jobId)
    event('job:canceled', jobId, 'reason', value, 'by', extra, 'from', 'handler')
    return 'canceled'
  end
  local attemptsMade = redis.call('HINCRBY', jobKey, 'attemptsMade', 1)
  redis.call('HSET', jobKey, 'error', value, 'stack', extra)
  if retryAt >= 0 then
    if retryAt <= now then
      local entry = redis.call('XADD', lane, '*', 'j', jobId)
      redis.call('HSET', jobKey, 'state', 'waiting', 'entry', entry)
    else
      redis.call('ZADD', base .. 'delayed', retryAt, jobId)
      redis.call('HSET', jobKey, 'state', 'delayed', 'dueAt', retryAt)
    end
    event('job:retrying', jobId, 'attemptsMade', attemptsMade, 'error', value)
    return 'retrying'
  end
  redis.call('HSET', jobKey, 'state', 'failed', 'finishedAt', now)
  event('job:failed', jobId, 'error', value)
  retain(base .. 'dead', jobKey, jobId, keepCount, keepAge)
  return 'failed'
end

local reply = {}
for i = 0, tonumber(ARGV[6]) - 1 do
  local a = 7 + i * 9
  reply[#reply + 1] = finish(ARGV[a], tonumber(ARGV[a + 1]), ARGV[a + 2], ARGV[a + 3], ARGV[a + 4],
    ARGV[a + 5], tonumber(ARGV[a + 6]), tonumber(ARGV[a + 7]), tonumber(ARGV[a + 8]))
end
for lane, entryIds in pairs(done) do
  redis.call('XACK', KEYS[lane], group, unpack(entryIds))
  redis.call('XDEL', KEYS[lane], unpack(entryIds))
end
reply[#reply + 1] = now
if remaining <= 0 then return reply end
if redis.call('EXISTS', base .. 'paused') == 1 then
  reply[#reply + 1] = 'paused'
  return reply
end

local function field(fields, name)
  if type(fields) ~= 'table' then return nil end
  for i = 1, #fields - 1, 2 do
    if fields[i] == name then return fields[i + 1] end
  end
  return nil
end

local function deadLetter(lane, tier, entryId, fields, jobId, reason)
  redis.call('XACK', lane, group, entryId)
  redis.call('XDEL', lane, entryId)
  local deadId = 'dead:' .. tier .. ':' .. entryId
  redis.call('HSET', base .. 'job:' .. deadId, 'name', '(unreadable entry)', 'data', 'null',
    'opts', '{"attempts":1}', 'tier', tier, 'state', 'failed', 'createdAt', now, 'finishedAt', now,
    'attemptsMade', 0, 'stalls', 0, 'error', reason, 'entryFields', cjson.encode(fields or {}),
    'entryJobId', jobId or '')
  redis.call('ZADD', base .. 'dead', now, deadId)
  event('job:dead-lettered', deadId, 'reason', reason)
end

local started = {}
for tier = 0, #KEYS - 1 do
  local lane = KEYS[tier + 1]
  while remaining > 0 do
    local read = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', remaining, 'STREAMS', lane, '>')
    if not read then break end
    for _, entry in ipairs(read[1][2]) do
      local entryId, fields = entry[1], entry[2]
      local jobId = field(fields, 'j')
      local jobKey = jobId and base .. 'job:' .. jobId
      local job = jobId and redis.call('HGETALL', jobKey)
      local state, entry, saved
      if job then
        for i = 1, #job - 1, 2 do
          local name = job[i]
          if name == 'state' then state = job[i + 1]
          elseif name == 'entry' then entry = job[i + 1]
          elseif name == 'saved' then saved = true end
        end
      end
      if not jobId then
        deadLetter(lane, tier, entryId, fields, nil, 'stream entry has no job id field "j"')
      elseif #job == 0 then
        deadLetter(lane, tier, entryId, fields, jobId, 'job record ' .. jobId .. ' is missing')
      elseif state ~= 'waiting' or entry ~= entryId then
        redis.call('XACK', lane, group, entryId)
        redis.call('XDEL', lane, entryId)
      else
        redis.call('HSET', jobKey, 'state', 'active', 'owner', consumer, 'startedAt', now)
        local checkpoint = saved and redis.call('HGETALL', base .. 'checkpoint:' .. jobId) or {}
        started[#started + 1] = {entryId, tier, jobId, checkpoint, job}
        remaining = remaining - 1
      end
    end
  end
end
if #started > 0 then
  reply[#reply + 1] = 1
  reply[#reply + 1] = started
  return reply
end

local lastIds = {}
for tier = 1, #KEYS do
  lastIds[tier] = '0-0'
  for _, info in ipairs(redis.call('XINFO', 'GROUPS', KEYS[tier])) do
    if field(info, 'name') == group then lastIds[tier] = field(info, 'last-delivered-id') end
  end
end
reply[#reply + 1] = 0
reply[#reply + 1] = lastIds
return reply
