--[[
add: store jobs and make them runnable, idempotently by job id.

KEYS[1]  delayed sorted set of the queue (routes the call to the queue's slot)
ARGV[1]  base: the queue's key prefix, "prefix:{queue}:"
ARGV[2]  number of jobs N
ARGV[3]  arguments per job: 5, or 6 when the jobs carry trace contexts;
         followed by N groups of them:
           id, spec head (the JSON text `[name, data, opts` without its closing
           bracket: the script appends createdAt and stores it as `spec`), tier,
           runAt (epoch ms, -1 none), delay (ms),
           [trace context (JSON carrier, "" none): stored as `trace`]

Reply:   one element per job: {1, createdAt, state, dueAt} when created, or
         {0, field, value, ...} (the stored hash) when the id already existed.
Guarantee: a job hash and its stream entry (or delayed-set member) are written
together or not at all; an existing id is left untouched, so adding the same
job id twice never makes two jobs.
]]
local base = ARGV[1]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local stride = tonumber(ARGV[3])
local replies = {}
for i = 0, tonumber(ARGV[2]) - 1 do
  local a = 4 + i * stride
  local id, specHead, tier = ARGV[a], ARGV[a + 1], ARGV[a + 2]
  local runAt, delay = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  local jobKey = base .. 'job:' .. id
  if redis.call('EXISTS', jobKey) == 1 then
    local existing = redis.call('HGETALL', jobKey)
    table.insert(existing, 1, 0)
    replies[#replies + 1] = existing
  else
    local due = 0
    if runAt >= 0 then due = runAt elseif delay > 0 then due = now + delay end
    -- attemptsMade and stalls are absent until they count something (read as 0)
    -- the job's immutable part is one field: a worker's claim reads and returns it whole
    local spec = specHead .. ',' .. now .. ']'
    if due > now then
      redis.call('HSET', jobKey, 'spec', spec, 'tier', tier, 'state', 'delayed', 'dueAt', due)
      redis.call('ZADD', KEYS[1], due, id)
      replies[#replies + 1] = {1, now, 'delayed', due}
    else
      local entry = redis.call('XADD', base .. 'lane:' .. tier, '*', 'j', id)
      redis.call('HSET', jobKey, 'spec', spec, 'tier', tier, 'state', 'waiting', 'entry', entry)
      replies[#replies + 1] = {1, now, 'waiting', 0}
    end
    if stride > 5 and ARGV[a + 5] ~= '' then redis.call('HSET', jobKey, 'trace', ARGV[a + 5]) end
  end
end
return replies
