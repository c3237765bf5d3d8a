--[[
save-state: a running job's handler saves its checkpoint, a step's result or
its progress; fenced to the job's owner, and counted as a heartbeat.

KEYS[1]  job hash
KEYS[2]  the job's checkpoint hash
KEYS[3]  tier stream the job's entry is in
ARGV[1]  base: the queue's key prefix, "prefix:{queue}:"
ARGV[2]  consumer group
ARGV[3]  consumer name (the worker)
ARGV[4]  stream entry id the worker was given
ARGV[5]  job id
ARGV[6]  what: "checkpoint", "step" or "progress"
ARGV[7]  step name (for "step")
ARGV[8]  value (JSON)
ARGV[9]  events stream max length (approximate)

Reply:   1 saved; 0 the worker no longer owns the job (reclaimed, handed
         back): nothing written; 2 the job was canceled: nothing written.
Guarantee: only the job's current owner writes its checkpoint, steps and
progress, so a worker that lost the job (stalled past the stall timeout while
another took over) cannot overwrite the new owner's state. A save also resets
the entry's idle time, like a heartbeat.
]]
local base, group, consumer, entryId, jobId = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local what, value = ARGV[6], ARGV[8]
-- the attempt is ours while its entry is pending for us (see settle)
if #redis.call('XPENDING', KEYS[3], group, entryId, entryId, 1, consumer) == 0 then
  local job = redis.call('HMGET', KEYS[1], 'state', 'owner', 'entry')
  return (job[1] == 'canceled' and job[2] == consumer and job[3] == entryId) and 2 or 0
end
redis.call('XCLAIM', KEYS[3], group, consumer, 0, entryId, 'JUSTID')
if what == 'checkpoint' then
  redis.call('HSET', KEYS[2], 'state', value)
  redis.call('HSET', KEYS[1], 'saved', 1) -- tells settle to hand the checkpoint hash out with the job
elseif what == 'step' then
  redis.call('HSET', KEYS[2], 'step:' .. ARGV[7], value)
  redis.call('HSET', KEYS[1], 'saved', 1)
else
  redis.call('HSET', KEYS[1], 'progress', value)
  redis.call('XADD', base .. 'events', 'MAXLEN', '~', ARGV[9], '*', 'e', 'job:progress', 'j', jobId, 'progress', value)
end
return 1
