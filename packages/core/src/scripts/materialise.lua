--[[
materialise: turn a schedule's due occurrences into jobs. Run by the scheduler
leader only, with a plan computed from the schedule it read.

KEYS[1]  schedule hash
KEYS[2]  schedules-due sorted set
KEYS[3]  leader lock
ARGV[1]  base: the queue's key prefix, "prefix:{queue}:"
ARGV[2]  the leader's lock value "<instance>:<fencing token>"
ARGV[3]  schedule id
ARGV[4]  schedule version the plan was made from
ARGV[5]  next occurrence after this round (ms), -1 when the schedule ends
ARGV[6]  occurrences passed over (missed) in this round
ARGV[7]  events stream max length (approximate)
ARGV[8]  end of the backlog being worked off (ms), kept for the next rounds
ARGV[9..] nominal times (ms) of the occurrences to run, oldest first

Reply:   {created, skipped, buffered}, or {-1} when the caller is not the
         leader, or {-2} when the schedule changed or was removed since it was
         read (nothing is written; the next round plans again).
Guarantee: every occurrence becomes at most one job, with the deterministic
id "<schedule id>@<nominal ms>", created only if absent; the schedule's next
run advances in the same step, fenced by the leader's term and the schedule's
version, so overlapping leaders, restarts and concurrent upserts never make
two jobs of one occurrence. With overlap "skip", an occurrence due while the
schedule's previous run is unfinished is skipped and counted; with "buffer" it
is created held back (state delayed, not in the delayed set) and released in
order by release-buffered.
]]
local base, token, id, version = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local nextAt, missed, maxEvents = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
if redis.call('GET', KEYS[3]) ~= token then return {-1} end
local schedule = redis.call('HMGET', KEYS[1], 'version', 'template', 'spec', 'lastJob', 'paused')
if schedule[1] ~= version then return {-2} end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local template = cjson.decode(schedule[2])
-- a job's `spec` (see add.lua) up to createdAt: name, data and opts are the template's
local jobSpecHead = '[' .. cjson.encode(template.name) .. ',' .. template.data .. ',' .. template.opts .. ','
local overlap = cjson.decode(schedule[3]).overlap
local buffer = KEYS[1] .. ':buffer'
local recent = KEYS[1] .. ':recent'

local function event(name, ...)
  redis.call('XADD', base .. 'events', 'MAXLEN', '~', maxEvents, '*', 'e', name, 'j', '', 'schedule', id, ...)
end

local function unfinished(jobId)
  if not jobId then return false end
  local state = redis.call('HGET', base .. 'job:' .. jobId, 'state')
  return state == 'waiting' or state == 'active' or state == 'delayed'
end

local created, skipped, buffered, last = 0, 0, 0, nil
local previous = schedule[4]
for i = 9, #ARGV do
  local nominal = ARGV[i]
  local jobId = id .. '@' .. nominal
  local jobKey = base .. 'job:' .. jobId
  last = nominal
  if redis.call('EXISTS', jobKey) == 0 then
    local held = overlap == 'buffer' and (unfinished(previous) or redis.call('LLEN', buffer) > 0)
    if overlap == 'skip' and unfinished(previous) then
      skipped = skipped + 1
      event('schedule:skipped', 'scheduledFor', nominal)
    else
      redis.call('HSET', jobKey, 'spec', jobSpecHead .. now .. ']', 'tier', template.tier,
        'scheduleId', id, 'scheduledFor', nominal)
      if held then
        redis.call('HSET', jobKey, 'state', 'delayed', 'buffered', 1)
        redis.call('RPUSH', buffer, jobId)
        redis.call('SADD', base .. 'schedules:buffered', id)
        buffered = buffered + 1
      else
        local entry = redis.call('XADD', base .. 'lane:' .. template.tier, '*', 'j', jobId)
        redis.call('HSET', jobKey, 'state', 'waiting', 'entry', entry)
        redis.call('HSET', KEYS[1], 'lastJob', jobId)
        previous = jobId
      end
      redis.call('LPUSH', recent, jobId)
      redis.call('LTRIM', recent, 0, 999)
      created = created + 1
    end
  end
end

redis.call('HINCRBY', KEYS[1], 'runs', created)
if skipped > 0 then redis.call('HINCRBY', KEYS[1], 'skipped', skipped) end
if missed > 0 then
  redis.call('HINCRBY', KEYS[1], 'missed', missed)
  event('schedule:missed', 'count', missed)
end
if last then redis.call('HSET', KEYS[1], 'last', last) end
redis.call('HSET', KEYS[1], 'backlogUntil', ARGV[8])
if nextAt >= 0 then
  redis.call('HSET', KEYS[1], 'next', nextAt)
  if schedule[5] ~= '1' then redis.call('ZADD', KEYS[2], nextAt, id) end
else
  redis.call('HSET', KEYS[1], 'ended', 1)
  redis.call('HDEL', KEYS[1], 'next')
  redis.call('ZREM', KEYS[2], id)
end
return {created, skipped, buffered}
