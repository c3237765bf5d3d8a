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
Guarantee: an attempt is its worker's while its entry is pending for the
worker's consumer (see settle). Only those entries are touched: `XCLAIM ...
JUSTID` from the owner resets their idle time without counting a delivery, so
XAUTOCLAIM in other workers never reclaims a job whose worker is alive and
heartbeating, and a heartbeat never steals back a job that was reclaimed.
]]
local base, group, consumer = ARGV[1], ARGV[2], ARGV[3]
local listed = {}
for i = 4, #ARGV - 2, 3 do
  local lane = tonumber(ARGV[i]) + 1
  listed[lane] = listed[lane] or {}
  listed[lane][ARGV[i + 1]] = true
end
local held = {}
for lane, entries in pairs(listed) do
  local claim = {'XCLAIM', KEYS[lane], group, consumer, 0}
  for _, pending in ipairs(redis.call('XPENDING', KEYS[lane], group, '-', '+', 1000000, consumer)) do
    if entries[pending[1]] then
      held[pending[1]] = true
      claim[#claim + 1] = pending[1]
    end
  end
  if #claim > 5 then
    claim[#claim + 1] = 'JUSTID'
    redis.call(unpack(claim))
  end
end
local lost, canceled = {}, {}
for i = 4, #ARGV - 2, 3 do
  local entryId, jobId = ARGV[i + 1], ARGV[i + 2]
  if not held[entryId] then
    local job = redis.call('HMGET', base .. 'job:' .. jobId, 'state', 'owner', 'entry', 'cancelReason', 'canceledBy')
    if job[1] == 'canceled' and job[2] == consumer and job[3] == entryId then
      canceled[#canceled + 1] = jobId
      canceled[#canceled + 1] = job[4] or ''
      canceled[#canceled + 1] = job[5] or ''
    else
      lost[#lost + 1] = jobId
    end
  end
end
return {lost, canceled}
