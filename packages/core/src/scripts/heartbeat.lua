--[[
heartbeat: keep the entries of the jobs a live worker runs fresh, and tell it
which of them it no longer owns.

KEYS     the tier streams, highest tier first
ARGV[1]  base: the queue's key prefix, "prefix:{queue}:"
ARGV[2]  consumer group
ARGV[3]  consumer name (the worker)
ARGV[4..] triples: tier, stream entry id, job id — one per running job

Reply:   {lost ids, canceled jobs as a flat list [id, reason, by, ...]}:
         the jobs this worker no longer owns, and those canceled while it ran
         them (the backstop for a missed cancel notice).
Guarantee: `XCLAIM ... JUSTID` from the owner resets an entry's idle time
without counting a delivery, so XAUTOCLAIM in other workers never reclaims a
job whose worker is alive and heartbeating. An entry is only touched when the
job hash still names this worker and this entry, so a heartbeat can never
steal back a job that was reclaimed.
]]
local base, group, consumer = ARGV[1], ARGV[2], ARGV[3]
local lost, canceled = {}, {}
for i = 4, #ARGV - 2, 3 do
  local tier, entryId, jobId = tonumber(ARGV[i]), ARGV[i + 1], ARGV[i + 2]
  local job = redis.call('HMGET', base .. 'job:' .. jobId, 'state', 'owner', 'entry', 'cancelReason', 'canceledBy')
  local owned = job[2] == consumer and job[3] == entryId
  if owned and job[1] == 'active' then
    redis.call('XCLAIM', KEYS[tier + 1], group, consumer, 0, entryId, 'JUSTID')
  elseif owned and job[1] == 'canceled' then
    canceled[#canceled + 1] = jobId
    canceled[#canceled + 1] = job[4] or ''
    canceled[#canceled + 1] = job[5] or ''
  else
    lost[#lost + 1] = jobId
  end
end
return {lost, canceled}
