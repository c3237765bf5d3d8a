--[[
handback: a worker gives jobs it holds back to the queue: a closing worker its
unfinished ones, and a worker that lost the reply of one of its calls the jobs
that call claimed (it never learned of them).

KEYS     the tier streams, highest tier first
ARGV[1]  base: the queue's key prefix, "prefix:{queue}:"
ARGV[2]  consumer group
ARGV[3]  consumer name (the worker)
ARGV[4]  events stream max length (approximate)
ARGV[5]  "listed": hand back the jobs that follow; "unlisted": hand back every
         job whose entry is pending for the consumer, except the jobs that follow
ARGV[6..] triples: tier, stream entry id, job id

Reply:   the number of jobs handed back.
Guarantee: each job this worker still holds (its entry still pending: see
settle) is acknowledged and re-added to its tier stream in one step, so
blocked workers start it at once; no attempt or stall is counted, and the
worker's late outcome is fenced off. "unlisted" is for a worker with no call in
flight, listing every job it runs or is about to start: an entry pending for it
beyond those was claimed by a call whose reply it never got (settle starts a
job by leaving its entry pending), so that job runs again at once instead of
waiting out the stall timeout and counting a stall.
]]
local base, group, consumer, maxEvents, mode = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local handedBack = 0

local function handBack(lane, entryId, jobId)
  redis.call('XACK', lane, group, entryId)
  redis.call('XDEL', lane, entryId)
  local jobKey = base .. 'job:' .. jobId
  -- the job's own entry, unless it was never readable (settle dead-letters those unclaimed)
  if redis.call('HGET', jobKey, 'entry') ~= entryId then return end
  local entry = redis.call('XADD', lane, '*', 'j', jobId)
  redis.call('HSET', jobKey, 'entry', entry)
  redis.call('XADD', base .. 'events', 'MAXLEN', '~', maxEvents, '*', 'e', 'job:handed-back', 'j', jobId)
  handedBack = handedBack + 1
end

if mode == 'listed' then
  for i = 6, #ARGV - 2, 3 do
    local tier, entryId, jobId = tonumber(ARGV[i]), ARGV[i + 1], ARGV[i + 2]
    local lane = KEYS[tier + 1]
    if #redis.call('XPENDING', lane, group, entryId, entryId, 1, consumer) == 1 then handBack(lane, entryId, jobId) end
  end
  return handedBack
end

local listed = {}
for i = 6, #ARGV - 2, 3 do listed[ARGV[i] .. ':' .. ARGV[i + 1]] = true end
for tier = 0, #KEYS - 1 do
  local lane, start = KEYS[tier + 1], '-'
  while true do
    local page = redis.call('XPENDING', lane, group, start, '+', 1000, consumer)
    for _, pending in ipairs(page) do
      local entryId = pending[1]
      if not listed[tier .. ':' .. entryId] then
        local entry = redis.call('XRANGE', lane, entryId, entryId)[1]
        local fields = entry and entry[2] or {}
        local jobId = fields[1] == 'j' and fields[2] or nil
        if jobId then
          handBack(lane, entryId, jobId)
        else
          redis.call('XACK', lane, group, entryId)
        end
      end
    end
    if #page < 1000 then break end
    start = '(' .. page[#page][1]
  end
end
return handedBack
