--[[
handback: a closing worker gives its unfinished jobs back to the queue.

KEYS     the tier streams, highest tier first
ARGV[1]  base: the queue's key prefix, "prefix:{queue}:"
ARGV[2]  consumer group
ARGV[3]  consumer name (the worker)
ARGV[4]  events stream max length (approximate)
ARGV[5..] triples: tier, stream entry id, job id

Reply:   the number of jobs handed back.
Guarantee: each job this worker still holds (its entry still pending: see
settle) is acknowledged and re-added to its tier stream in one step, so
blocked workers start it at once; no attempt or stall is counted, and the
closing worker's late outcome is fenced off.
]]
local base, group, consumer, maxEvents = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local handedBack = 0
for i = 5, #ARGV - 2, 3 do
  local tier, entryId, jobId = tonumber(ARGV[i]), ARGV[i + 1], ARGV[i + 2]
  local lane = KEYS[tier + 1]
  if #redis.call('XPENDING', lane, group, entryId, entryId, 1, consumer) == 1 then
    redis.call('XACK', lane, group, entryId)
    redis.call('XDEL', lane, entryId)
    local entry = redis.call('XADD', lane, '*', 'j', jobId)
    redis.call('HSET', base .. 'job:' .. jobId, 'entry', entry)
    redis.call('XADD', base .. 'events', 'MAXLEN', '~', maxEvents, '*', 'e', 'job:handed-back', 'j', jobId)
    handedBack = handedBack + 1
  end
end
return handedBack
