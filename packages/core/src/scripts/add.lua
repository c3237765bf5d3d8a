--[[
add: store jobs and make them runnable, idempotently by job id.

KEYS[1]  delayed sorted set of the queue (routes the call to the queue's slot)
ARGV[1]  base: the queue's key prefix, "prefix:{queue}:"
ARGV[2]  number of jobs N
ARGV[3]  arguments per job: 5, or 6 when the jobs carry trace contexts;
         N groups of them follow ARGV[5]:
           id, spec head (the JSON text `[name, data, opts` without its closing
           bracket: the script appends createdAt and stores it as `spec`), tier,
           runAt (epoch ms, -1 none), delay (ms),
           [trace context (JSON carrier, "" none): stored as `trace`]
ARGV[4]  one character per job: "1" when the caller made its id just now (a
         random id no stored job can have: not looked up), "0" when it was given
ARGV[5]  publish command: PUBLISH, or SPUBLISH on a cluster

Reply:   {createdAt, then per job: 0 when created waiting, its due time (ms)
         when created delayed, or {field, value, ...} (the stored hash) when
         the id already existed}
Guarantee: a job hash and its stream entry (or delayed-set member) are written
together or not at all; an existing id is left untouched, so adding the same
job id twice never makes two jobs. A delayed job due before every other one
is announced on `base due` (its due time), so the sleeping scheduler leader
wakes for it.
]]
local base = ARGV[1]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local stride, fresh, publish = tonumber(ARGV[3]), ARGV[4], ARGV[5]
local replies = {now}
local earliest -- due time of the earliest delayed job added
for i = 0, tonumber(ARGV[2]) - 1 do
  local a = 6 + i * stride
  local id, specHead, tier = ARGV[a], ARGV[a + 1], ARGV[a + 2]
  local runAt, delay = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  local jobKey = base .. 'job:' .. id
  if string.byte(fresh, i + 1) ~= 49 and redis.call('EXISTS', jobKey) == 1 then
    replies[#replies + 1] = redis.call('HGETALL', jobKey)
  else
    local due = 0
    if runAt >= 0 then due = runAt elseif delay > 0 then due = now + delay end
    -- attemptsMade and stalls are absent until they count something (read as 0)
    -- the job's immutable part is one field: a worker's claim reads and returns it whole
    local spec = specHead .. ',' .. now .. ']'
    if due > now then
      redis.call('HSET', jobKey, 'spec', spec, 'tier', tier, 'state', 'delayed', 'dueAt', due)
      redis.call('ZADD', KEYS[1], due, id)
      if not earliest or due < earliest then earliest = due end
      replies[#replies + 1] = due
    else
      local entry = redis.call('XADD', base .. 'lane:' .. tier, '*', 'j', id)
      redis.call('HSET', jobKey, 'spec', spec, 'tier', tier, 'state', 'waiting', 'entry', entry)
      replies[#replies + 1] = 0
    end
    if stride > 5 and ARGV[a + 5] ~= '' then redis.call('HSET', jobKey, 'trace', ARGV[a + 5]) end
  end
end
-- the leader sleeps until the earliest due job it knows: tell it of an earlier one
if earliest and tonumber(redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2]) == earliest then
  redis.call(publish, base .. 'due', earliest)
end
return replies
