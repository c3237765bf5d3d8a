--[[
fetch: claim and start up to COUNT jobs, highest tier first.

KEYS     the tier streams, highest tier first
ARGV[1]  base: the queue's key prefix, "prefix:{queue}:"
ARGV[2]  consumer group
ARGV[3]  consumer name (the worker)
ARGV[4]  COUNT: free slots of the worker
ARGV[5]  events stream max length (approximate)

Reply:   {1, {entryId, tier, jobId, {checkpoint hash}, field, value, ...}, ...}
         with the started jobs' hashes and saved checkpoints and steps, or {0, lastDeliveredId per tier} when nothing was waiting, for
         the worker to block on new entries after those ids.
Guarantee: atomic. A lower tier is read only when every higher tier has no
undelivered entry, and at most COUNT entries are claimed, all of them started,
so nothing is pre-claimed that higher-tier work could sit behind. Entries that
cannot be parsed or whose job hash is missing are dead-lettered with a reason;
entries of jobs no longer waiting (stale) are acknowledged and dropped.
]]
local base, group, consumer = ARGV[1], ARGV[2], ARGV[3]
local remaining, maxEvents = tonumber(ARGV[4]), ARGV[5]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

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
  redis.call('XADD', base .. 'events', 'MAXLEN', '~', maxEvents, '*',
    'e', 'job:dead-lettered', 'j', deadId, 'reason', reason)
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
      local state = jobId and redis.call('HMGET', base .. 'job:' .. jobId, 'state', 'entry')
      if not jobId then
        deadLetter(lane, tier, entryId, fields, nil, 'stream entry has no job id field "j"')
      elseif not state[1] then
        deadLetter(lane, tier, entryId, fields, jobId, 'job record ' .. jobId .. ' is missing')
      elseif state[1] ~= 'waiting' or state[2] ~= entryId then
        redis.call('XACK', lane, group, entryId)
        redis.call('XDEL', lane, entryId)
      else
        local jobKey = base .. 'job:' .. jobId
        redis.call('HSET', jobKey, 'state', 'active', 'owner', consumer, 'startedAt', now)
        local job = redis.call('HGETALL', jobKey)
        table.insert(job, 1, redis.call('HGETALL', base .. 'checkpoint:' .. jobId))
        table.insert(job, 1, jobId)
        table.insert(job, 1, tier)
        table.insert(job, 1, entryId)
        started[#started + 1] = job
        remaining = remaining - 1
      end
    end
  end
end
if #started > 0 then return {1, started} end

local lastIds = {}
for tier = 1, #KEYS do
  lastIds[tier] = '0-0'
  for _, info in ipairs(redis.call('XINFO', 'GROUPS', KEYS[tier])) do
    if field(info, 'name') == group then lastIds[tier] = field(info, 'last-delivered-id') end
  end
end
return {0, lastIds}
