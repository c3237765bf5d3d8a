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
ARGV[6]  the outcomes, one JSON text (a client writes it far faster than ten
         arguments per outcome): one flat array (Lua builds a table per nested
         array, which costs more than the values in it), per outcome
           kind, job id, tier, stream entry id, when the attempt started (ms,
           as a string: the `now` of the call that claimed it), ...
         then by kind (each as short as the common case allows):
           "c" completed, every completed job kept: result JSON or ""
           "C" completed with retention: result JSON or "", how many completed
               jobs to keep (-1 all, 0 none), their max age in ms (-1 any)
           "x" canceled by its handler: reason, who
           "f" failed: error message, stack, retry due time in ms (0 at once,
               -1 final), retention count and age as for "C"

ARGV[7]  publish command: PUBLISH, or SPUBLISH on a cluster
ARGV[8]  the job ids among the outcomes that are occurrences of a schedule, one
         JSON array, or "" (nearly always): when one ends and its schedule holds
         occurrences back (overlap "buffer"), the leader is told on `base due`
ARGV[9]  optional: a key (the worker's wake stream); while it exists, nothing is
         claimed: the worker is closing (its idle read sends a claim behind it)

Reply:   one JSON text (a client parses it far faster than a deep RESP reply,
         and Redis writes it faster too) of the array
         {per outcome "completed" | "retrying" | "failed" | "canceled" | "lost",
          now,
          1, {jobId, {checkpoint hash} or "", spec or "", entryId, tier,
              {field, value, ...} or "", jobId, ...}}
         (flat: cjson writes a table per job slower than its values, and a
         number far slower than a string) with, per started job, its saved
         checkpoint and steps ("": nothing saved), the fields of its hash that
         every started job has (its state is "waiting"), and its other fields
         ("": none; a hash from before `spec` has name, data, opts and
         createdAt there); or
         {..., now, 0, lastDeliveredId per tier} when nothing was waiting, for
         the worker to block on entries after those ids; or {..., now, 2} when
         the queue is paused.
Guarantees:
- A running job is its stream entry, delivered and not yet acknowledged: the
  job hash says "waiting" with that entry until an outcome is recorded, and
  the entry id is the attempt's fencing token: the attempt is this worker's
  while the entry is pending (reclaim, cancel and hand-back acknowledge the
  entries they take, and change the hash).
- Acknowledged entries leave the stream by whole nodes (XTRIM MINID ~), never
  past the oldest pending one; readers count waiting entries after the group's
  last delivered id.
- Outcomes: the ownership check, XACK and the next state in one step, so
  an attempt's outcome is recorded at most once, a fenced-off worker's late
  outcome is never stored ("lost"), an outcome sent again after its reply was
  lost gets the same answer and writes nothing, and an acknowledged job is always in a
  stream, the delayed set or a final state. A job canceled while this worker
  ran it keeps its state; its late outcome is discarded with a `job:discarded`
  event ("canceled").
- Claims: a lower tier is read only when every higher tier has no undelivered
  entry, and at most the asked number of entries are claimed, all of them
  started, so nothing is pre-claimed that higher-tier work could sit behind.
  Entries that cannot be parsed or whose job hash is missing are dead-lettered
  with a reason; entries of jobs no longer waiting (stale), and entries that
  are not the job's own (its entry id, in its tier's stream), are dropped.
- `job:completed` events are written only while someone reads the events
  stream (the `listeners` key exists); every other event always is.
- A retry due before every other delayed job is announced on `base due`, so
  the sleeping scheduler leader wakes for it.
]]
local base, group, consumer = ARGV[1], ARGV[2], ARGV[3]
local remaining, maxEvents = tonumber(ARGV[4]), ARGV[5]
local flat = cjson.decode(ARGV[6])
-- where each outcome starts in the flat array: its values are flat[at], flat[at + 1], ...
local VALUES_PER_KIND = {c = 6, C = 8, x = 7, f = 10}
local outcomes = {}
do
  local at = 1
  local count = #flat
  while at <= count do
    outcomes[#outcomes + 1] = at
    at = at + VALUES_PER_KIND[flat[at]]
  end
end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
-- per-job writes take the time as a string: formatting a number costs on every call
local nowText = time[1] .. string.format('%03d', math.floor(tonumber(time[2]) / 1000))

local function event(name, jobId, ...)
  redis.call('XADD', base .. 'events', 'MAXLEN', '~', maxEvents, '*', 'e', name, 'j', jobId, ...)
end

local function deleteJobs(ids)
  if #ids == 0 then return end
  local keys = {}
  for _, id in ipairs(ids) do
    keys[#keys + 1] = base .. 'job:' .. id
    keys[#keys + 1] = base .. 'checkpoint:' .. id
  end
  redis.call('DEL', unpack(keys))
end

-- retention of failed jobs (dead set, by time): within count and age, oldest first
local function retainDead(jobId, keepCount, keepAge)
  local set = base .. 'dead'
  if keepCount == 0 then return deleteJobs({jobId}) end
  redis.call('ZADD', set, now, jobId)
  local expired = {}
  if keepAge >= 0 then
    expired = redis.call('ZRANGEBYSCORE', set, '-inf', now - keepAge, 'LIMIT', 0, 100)
  end
  if keepCount > 0 then
    local excess = redis.call('ZCARD', set) - keepCount
    if excess > 0 then
      for _, id in ipairs(redis.call('ZRANGE', set, 0, math.min(excess, 100) - 1)) do expired[#expired + 1] = id end
    end
  end
  if #expired > 0 then
    deleteJobs(expired)
    redis.call('ZREM', set, unpack(expired))
  end
end

-- retention of completed jobs: a list in finish order (oldest first), trimmed
-- from its head by count and by age
local completedList = base .. 'completed'
local function trimCompleted(keepCount, keepAge)
  if keepCount > 0 then
    local excess = redis.call('LLEN', completedList) - keepCount
    if excess > 0 then deleteJobs(redis.call('LPOP', completedList, math.min(excess, 1000))) end
  end
  if keepAge >= 0 then
    local expired = {}
    for _ = 1, 1000 do
      local head = redis.call('LINDEX', completedList, 0)
      if not head then break end
      local finishedAt = tonumber(redis.call('HGET', base .. 'job:' .. head, 'finishedAt'))
      if finishedAt and finishedAt > now - keepAge then break end
      redis.call('LPOP', completedList)
      expired[#expired + 1] = head
    end
    deleteJobs(expired)
  end
end

-- Stream ids compare as (ms, seq) pairs.
local function idParts(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end

-- Acknowledged entries are not deleted one by one (XDEL seeks each in its
-- node); they are trimmed by whole nodes from the head of the stream, up to the
-- oldest entry still pending, or when nothing is, past the newest of the
-- entries just acknowledged: entries up to there were all delivered, so all
-- acknowledged.
local function trimAcknowledged(lane, entryIds)
  local summary = redis.call('XPENDING', lane, group)
  local minId = summary[1] > 0 and summary[2] or nil
  if not minId then
    local newestMs, newestSeq = -1, -1
    for _, entryId in ipairs(entryIds) do
      local ms, seq = idParts(entryId)
      if ms > newestMs or (ms == newestMs and seq > newestSeq) then newestMs, newestSeq = ms, seq end
    end
    minId = newestMs .. '-' .. (newestSeq + 1)
  end
  redis.call('XTRIM', lane, 'MINID', '~', minId)
end

-- Which finished attempts this worker still held: XACK acknowledges the
-- entries still pending, and when it acknowledged all of a lane's (nearly
-- always), all were this worker's (a worker only presents entries delivered
-- to it). Otherwise the job hash tells, per job: an entry another script took
-- (reclaim, hand-back, cancel) is no longer the hash's waiting entry.
local held, check = {}, {}
if #outcomes > 0 then
  local perLane = {}
  for _, at in ipairs(outcomes) do
    local lane = flat[at + 2] + 1
    perLane[lane] = perLane[lane] or {}
    table.insert(perLane[lane], flat[at + 3])
  end
  for lane, entryIds in pairs(perLane) do
    local acked = redis.call('XACK', KEYS[lane], group, unpack(entryIds))
    local mark = acked == #entryIds and held or check
    for _, entryId in ipairs(entryIds) do mark[entryId] = true end
    if acked > 0 then trimAcknowledged(KEYS[lane], entryIds) end
  end
end

local completed, trims, listening = {}, {}, nil
local earliestRetry -- due time of the earliest retry put in the delayed set

-- what an outcome of this attempt already recorded answered: its call's reply
-- was lost (a cut connection) and the worker sent it again
local REPLAYED = {completed = 'completed', failed = 'failed', delayed = 'retrying'}

local function notHeld(jobId, entryId, outcome, value)
  local jobKey = base .. 'job:' .. jobId
  local job = redis.call('HMGET', jobKey, 'state', 'owner', 'entry')
  if job[3] ~= entryId then return 'lost' end
  if job[1] == 'canceled' then
    if not job[2] then return 'canceled' end -- the handler's own cancel, recorded already
    if job[2] ~= consumer then return 'lost' end
    -- canceled while this attempt ran: the late outcome is discarded, and said so
    redis.call('HDEL', jobKey, 'owner', 'entry')
    event('job:discarded', jobId, 'outcome', outcome, 'error', outcome == 'failed' and value or '')
    return 'canceled'
  end
  return REPLAYED[job[1]] or 'lost'
end

local function finish(jobId, tier, outcome, value, extra, retryAt, keepCount, keepAge, startedAt)
  local jobKey = base .. 'job:' .. jobId
  if outcome == 'completed' then
    if keepCount == 0 then
      deleteJobs({jobId})
    else
      if value == '' then
        redis.call('HSET', jobKey, 'state', 'completed', 'startedAt', startedAt, 'finishedAt', nowText)
      else
        redis.call('HSET', jobKey, 'state', 'completed', 'startedAt', startedAt, 'finishedAt', nowText, 'result', value)
      end
      completed[#completed + 1] = jobId
      if keepCount > 0 or keepAge >= 0 then trims[keepCount .. ':' .. keepAge] = {keepCount, keepAge} end
    end
    if listening == nil then listening = redis.call('EXISTS', base .. 'listeners') == 1 end
    if listening then event('job:completed', jobId) end
    return 'completed'
  end
  if outcome == 'canceled' then
    redis.call('HSET', jobKey, 'state', 'canceled', 'startedAt', startedAt, 'finishedAt', nowText,
      'cancelReason', value, 'canceledBy', extra)
    redis.call('ZADD', base .. 'canceled', now, jobId)
    event('job:canceled', jobId, 'reason', value, 'by', extra, 'from', 'handler')
    return 'canceled'
  end
  local attemptsMade = redis.call('HINCRBY', jobKey, 'attemptsMade', 1)
  if retryAt >= 0 then
    if retryAt <= now then
      local entry = redis.call('XADD', KEYS[tier + 1], '*', 'j', jobId)
      redis.call('HSET', jobKey, 'state', 'waiting', 'entry', entry, 'error', value, 'stack', extra)
    else
      redis.call('ZADD', base .. 'delayed', retryAt, jobId)
      if not earliestRetry or retryAt < earliestRetry then earliestRetry = retryAt end
      redis.call('HSET', jobKey, 'state', 'delayed', 'dueAt', retryAt, 'error', value, 'stack', extra)
    end
    event('job:retrying', jobId, 'attemptsMade', attemptsMade, 'error', value)
    return 'retrying'
  end
  redis.call('HSET', jobKey, 'state', 'failed', 'startedAt', startedAt, 'finishedAt', nowText, 'error', value, 'stack', extra)
  event('job:failed', jobId, 'error', value)
  retainDead(jobId, keepCount, keepAge)
  return 'failed'
end

local OUTCOMES = {c = 'completed', C = 'completed', x = 'canceled', f = 'failed'}
local reply = {}
for _, at in ipairs(outcomes) do
  local kind, jobId, tier, entryId, startedAt, value = unpack(flat, at, at + 5)
  local outcome = OUTCOMES[kind]
  if check[entryId] then
    local job = redis.call('HMGET', base .. 'job:' .. jobId, 'state', 'entry')
    held[entryId] = job[1] == 'waiting' and job[2] == entryId
  end
  if not held[entryId] then
    reply[#reply + 1] = notHeld(jobId, entryId, outcome, value)
  elseif kind == 'c' then
    reply[#reply + 1] = finish(jobId, tier, outcome, value, '', -1, -1, -1, startedAt)
  elseif kind == 'C' then
    reply[#reply + 1] = finish(jobId, tier, outcome, value, '', -1, flat[at + 6], flat[at + 7], startedAt)
  elseif kind == 'x' then
    reply[#reply + 1] = finish(jobId, tier, outcome, value, flat[at + 6], -1, -1, -1, startedAt)
  else
    reply[#reply + 1] = finish(jobId, tier, outcome, value, flat[at + 6], flat[at + 7], flat[at + 8], flat[at + 9], startedAt)
  end
end
if #completed > 0 then
  redis.call('RPUSH', completedList, unpack(completed))
  for _, trim in pairs(trims) do trimCompleted(trim[1], trim[2]) end
end
-- the leader sleeps until the earliest due job it knows: tell it of an earlier one
if earliestRetry and tonumber(redis.call('ZRANGE', base .. 'delayed', 0, 0, 'WITHSCORES')[2]) == earliestRetry then
  redis.call(ARGV[7], base .. 'due', earliestRetry)
end
-- an occurrence ended: the next one its schedule held back may start
if ARGV[8] ~= '' then
  local scheduled, ended = {}, false
  for _, jobId in ipairs(cjson.decode(ARGV[8])) do scheduled[jobId] = true end
  for i, at in ipairs(outcomes) do
    if scheduled[flat[at + 1]] and reply[i] ~= 'retrying' and reply[i] ~= 'lost' then ended = true end
  end
  if ended and redis.call('EXISTS', base .. 'schedules:buffered') == 1 then redis.call(ARGV[7], base .. 'due', 'release') end
end
reply[#reply + 1] = now
if ARGV[9] and redis.call('EXISTS', ARGV[9]) == 1 then remaining = 0 end
if remaining <= 0 then return cjson.encode(reply) end
if redis.call('EXISTS', base .. 'paused') == 1 then
  reply[#reply + 1] = 2
  return cjson.encode(reply)
end

local function field(fields, name)
  if type(fields) ~= 'table' then return nil end
  for i = 1, #fields - 1, 2 do
    if fields[i] == name then return fields[i + 1] end
  end
  return nil
end

local function drop(lane, entryId)
  redis.call('XACK', lane, group, entryId)
  redis.call('XDEL', lane, entryId)
end

local function deadLetter(lane, tier, entryId, fields, jobId, reason)
  drop(lane, entryId)
  local deadId = 'dead:' .. tier .. ':' .. entryId
  redis.call('HSET', base .. 'job:' .. deadId, 'spec', '["(unreadable entry)",null,{"attempts":1},' .. nowText .. ']',
    'tier', tier, 'state', 'failed', 'finishedAt', nowText,
    'error', reason, 'entryFields', cjson.encode(fields or {}), 'entryJobId', jobId or '')
  redis.call('ZADD', base .. 'dead', now, deadId)
  event('job:dead-lettered', deadId, 'reason', reason)
end

local started = {}
for tier = 0, #KEYS - 1 do
  local lane, tierText = KEYS[tier + 1], tostring(tier)
  while remaining > 0 do
    local read = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', remaining, 'STREAMS', lane, '>')
    if not read then break end
    for _, entry in ipairs(read[1][2]) do
      local entryId, fields = entry[1], entry[2]
      local jobId = type(fields) == 'table' and fields[1] == 'j' and fields[2] or field(fields, 'j') -- ours are exactly {j, id}
      local job = jobId and redis.call('HGETALL', base .. 'job:' .. jobId)
      -- the fields every started job has go back by position; the rest (a retried
      -- or scheduled job's, say) as a flat list
      local state, entry, jobTier, saved, spec, others
      if job then
        for i = 1, #job - 1, 2 do
          local name = job[i]
          if name == 'spec' then spec = job[i + 1]
          elseif name == 'state' then state = job[i + 1]
          elseif name == 'entry' then entry = job[i + 1]
          elseif name == 'tier' then jobTier = job[i + 1]
          elseif name == 'saved' then saved = true
          else
            others = others or {}
            others[#others + 1] = name
            others[#others + 1] = job[i + 1]
          end
        end
      end
      if not jobId then
        deadLetter(lane, tier, entryId, fields, nil, 'stream entry has no job id field "j"')
      elseif #job == 0 then
        deadLetter(lane, tier, entryId, fields, jobId, 'job record ' .. jobId .. ' is missing')
      elseif state ~= 'waiting' or entry ~= entryId or jobTier ~= tierText then
        -- stale, or not its entry: ids are per stream, so the same id in another tier's stream is another entry
        drop(lane, entryId)
      else
        -- started: the entry is now pending for this consumer; the hash is not touched
        local n = #started
        started[n + 1] = jobId
        started[n + 2] = saved and redis.call('HGETALL', base .. 'checkpoint:' .. jobId) or ''
        started[n + 3] = spec or ''
        started[n + 4] = entryId
        started[n + 5] = tierText
        started[n + 6] = others or ''
        remaining = remaining - 1
      end
    end
  end
end
if #started > 0 then
  reply[#reply + 1] = 1
  reply[#reply + 1] = started
  return cjson.encode(reply)
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
return cjson.encode(reply)
