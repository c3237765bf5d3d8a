--[[
reclaim: give the jobs of dead or stalled workers back to the queue.

KEYS     the tier streams, highest tier first
ARGV[1]  base: the queue's key prefix, "prefix:{queue}:"
ARGV[2]  consumer group
ARGV[3]  consumer name (the reclaiming worker)
ARGV[4]  min idle time in ms (the stall timeout)
ARGV[5]  max entries to claim per XAUTOCLAIM call
ARGV[6]  max stalls: a job that stalls more often than this fails for good
ARGV[7]  events stream max length (approximate)
ARGV[8]  "1": also forget consumers with nothing pending that are idle past
         the stall timeout; "0": not this time
ARGV[9]  most XAUTOCLAIM calls per tier in this call
ARGV[10..] per tier, the XAUTOCLAIM cursor to go on from ("0-0": the start)

Reply:   {requeued, failing, unreadable, pending, cursor per tier}: `failing`
         counts the requeued jobs marked to fail at their next fetch, having
         stalled too often; `pending` is how many entries were pending in all
         tiers before this call; a cursor other than "0-0" says where the walk
         of that tier's pending entries stopped (XAUTOCLAIM looks at most ten
         times COUNT entries per call), to go on from there next time.
Guarantee: an entry idle longer than the stall timeout belongs to a worker that
stopped heartbeating; its job is re-added to its tier stream (marked to be
failed without running when it has stalled too often) and its old entry
acknowledged, atomically, so the job runs again exactly once more and the old
owner's writes are fenced off. A tier with nothing pending costs one XPENDING.
Entries that cannot be parsed or whose job is missing are re-added as they
were, and dead-lettered by the next fetch. Consumers with nothing pending and
idle past the stall timeout are deleted from the group.
]]
local base, group, consumer = ARGV[1], ARGV[2], ARGV[3]
local minIdle, count, maxStalls, maxEvents = ARGV[4], ARGV[5], tonumber(ARGV[6]), ARGV[7]
local cleanConsumers, maxCalls = ARGV[8] == '1', tonumber(ARGV[9])
local requeued, failed, unreadable, pending = 0, 0, 0, 0
local cursors = {}

local function field(fields, name)
  if type(fields) ~= 'table' then return nil end
  for i = 1, #fields - 1, 2 do
    if fields[i] == name then return fields[i + 1] end
  end
  return nil
end

local function event(name, jobId, ...)
  redis.call('XADD', base .. 'events', 'MAXLEN', '~', maxEvents, '*', 'e', name, 'j', jobId, ...)
end

local function requeue(lane, entryId, fields)
  redis.call('XACK', lane, group, entryId)
  redis.call('XDEL', lane, entryId)
  local jobId = field(fields, 'j')
  local jobKey = jobId and base .. 'job:' .. jobId
  local job = jobId and redis.call('HMGET', jobKey, 'state', 'entry')
  if not jobId or not job[1] then
    -- unreadable: put it back as it was, for fetch to dead-letter with its reason
    local raw = type(fields) == 'table' and #fields > 0 and fields or {'unreadable', '1'}
    redis.call('XADD', lane, '*', unpack(raw))
    unreadable = unreadable + 1
  elseif job[1] == 'waiting' and job[2] == entryId then
    -- a delivered entry of a waiting job is a running attempt (see settle)
    local stalls = redis.call('HINCRBY', jobKey, 'stalls', 1)
    local newEntry = redis.call('XADD', lane, '*', 'j', jobId)
    redis.call('HSET', jobKey, 'entry', newEntry)
    event('job:stalled', jobId, 'stalls', stalls)
    if stalls > maxStalls then
      -- the next worker to fetch it fails it at once, without running it,
      -- through finish (so retention and events are the usual ones)
      redis.call('HSET', jobKey, 'stallError', 'job stalled ' .. stalls .. ' times (its worker died or ' ..
        'stopped heartbeating while running it; maxStalls is ' .. maxStalls .. ')')
      failed = failed + 1
    else
      requeued = requeued + 1
    end
  end
end

for tier = 1, #KEYS do
  local lane = KEYS[tier]
  local cursor = ARGV[9 + tier] or '0-0'
  local inTier = redis.call('XPENDING', lane, group)[1]
  pending = pending + inTier
  if inTier == 0 then cursor = '0-0' end
  for _ = 1, inTier > 0 and maxCalls or 0 do
    local claimed = redis.call('XAUTOCLAIM', lane, group, consumer, minIdle, cursor, 'COUNT', count)
    cursor = claimed[1]
    for _, entry in ipairs(claimed[2]) do requeue(lane, entry[1], entry[2]) end
    if cursor == '0-0' then break end
  end
  cursors[tier] = cursor
end
-- Consumers come and go with worker processes. One with nothing pending and
-- idle past the stall timeout is forgotten; a live one is re-created by its
-- next XREADGROUP, so this loses nothing.
for tier = 1, cleanConsumers and #KEYS or 0 do
  for _, info in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[tier], group)) do
    local name, idle, inConsumer
    for i = 1, #info - 1, 2 do
      if info[i] == 'name' then name = info[i + 1]
      elseif info[i] == 'pending' then inConsumer = info[i + 1]
      elseif info[i] == 'idle' then idle = info[i + 1] end
    end
    if inConsumer == 0 and idle > tonumber(minIdle) and name ~= consumer then
      redis.call('XGROUP', 'DELCONSUMER', KEYS[tier], group, name)
    end
  end
end
local reply = {requeued, failed, unreadable, pending}
for tier = 1, #KEYS do reply[#reply + 1] = cursors[tier] end
return reply
