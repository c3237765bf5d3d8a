--[[
get-job: a job as a reader sees it.

KEYS[1]  job hash
KEYS[2]  the job's checkpoint hash
ARGV[1]  base: the queue's key prefix, "prefix:{queue}:"
ARGV[2]  consumer group

Reply:   {job hash as a flat list (empty when there is no such job),
          the checkpoint's `state` or false,
          the consumer running it or false}
Guarantee: one consistent snapshot. A running job's hash says "waiting" with
the entry its worker holds (see settle): the entry being pending is what makes
it active, and the pending entry names the worker.
]]
local job = redis.call('HGETALL', KEYS[1])
local state, tier, entry
for i = 1, #job - 1, 2 do
  local name = job[i]
  if name == 'state' then state = job[i + 1]
  elseif name == 'tier' then tier = job[i + 1]
  elseif name == 'entry' then entry = job[i + 1] end
end
local owner = false
if state == 'waiting' and entry then
  local ok, pending = pcall(redis.call, 'XPENDING', ARGV[1] .. 'lane:' .. tier, ARGV[2], entry, entry, 1)
  if ok and pending[1] then owner = pending[1][2] end
end
return {job, redis.call('HGET', KEYS[2], 'state'), owner}
