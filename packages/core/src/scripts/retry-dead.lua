--[[
retry-dead: take a failed job out of the dead-letter set and run it again,
with a fresh set of attempts.

KEYS[1]  dead-letter sorted set
KEYS[2]  job hash
ARGV[1]  base: the queue's key prefix, "prefix:{queue}:"
ARGV[2]  job id
ARGV[3]  events stream max length (approximate)

Reply:   1 requeued; 0 not in the dead-letter set; -1 an unreadable entry
         (there is no job to run; it stays dead-lettered).
Guarantee: the job leaves the dead-letter set and enters its stream in one step.
]]
local base, jobId, maxEvents = ARGV[1], ARGV[2], ARGV[3]
if not redis.call('ZSCORE', KEYS[1], jobId) then return 0 end
local job = redis.call('HMGET', KEYS[2], 'state', 'tier', 'entryFields')
if job[1] ~= 'failed' or job[3] then return -1 end
redis.call('ZREM', KEYS[1], jobId)
local entry = redis.call('XADD', base .. 'lane:' .. job[2], '*', 'j', jobId)
redis.call('HSET', KEYS[2], 'state', 'waiting', 'entry', entry, 'attemptsMade', 0, 'stalls', 0)
redis.call('HDEL', KEYS[2], 'finishedAt')
redis.call('XADD', base .. 'events', 'MAXLEN', '~', maxEvents, '*', 'e', 'job:retried', 'j', jobId)
return 1
