--[[
counts: how many jobs the queue holds in each state.

KEYS     the tier streams, highest tier first
ARGV[1]  base: the queue's key prefix, "prefix:{queue}:"
ARGV[2]  consumer group

Reply:   {waiting, active, delayed, completed, failed, canceled, then waiting
         per tier...}
Guarantee: one consistent snapshot. Waiting counts the entries after the
group's last delivered id (acknowledged entries linger until trimmed by whole
nodes: see settle); active counts entries delivered and not yet acknowledged
(running, or held by a dead worker until reclaimed); completed and failed
count the retained ones.
]]
local base, group = ARGV[1], ARGV[2]

local function field(fields, name)
  for i = 1, #fields - 1, 2 do
    if fields[i] == name then return fields[i + 1] end
  end
  return nil
end

-- Redis 7 keeps the group's lag, but it is unknown (nil) while a deleted entry
-- lies after the last delivered id (a canceled waiting job), or before Redis 7,
-- and Redis 7.0 can be off by one after deletions and trims (seen: lag 1 on an
-- empty stream whose every entry was delivered). Up to a thousand, the entries
-- after the last delivered id are counted instead, which is exact; above, the
-- lag stands (an error of one does not matter there).
local EXACT_UP_TO = 1000
local function undelivered(lane)
  local lastId, lag = '0-0', nil
  for _, info in ipairs(redis.call('XINFO', 'GROUPS', lane)) do
    if field(info, 'name') == group then
      lag = field(info, 'lag')
      lastId = field(info, 'last-delivered-id')
    end
  end
  if type(lag) == 'number' and lag > EXACT_UP_TO then return lag end
  local count, after = 0, '(' .. lastId
  while true do
    local entries = redis.call('XRANGE', lane, after, '+', 'COUNT', 1000)
    count = count + #entries
    if #entries < 1000 then return count end
    after = '(' .. entries[#entries][1]
  end
end

local waiting, active = 0, 0
local perTier = {}
for tier = 1, #KEYS do
  local pending, queued = 0, 0
  if redis.call('EXISTS', KEYS[tier]) == 1 then
    pending = redis.call('XPENDING', KEYS[tier], group)[1]
    queued = undelivered(KEYS[tier])
  end
  perTier[tier] = queued
  waiting = waiting + queued
  active = active + pending
end
local reply = {
  waiting, active,
  redis.call('ZCARD', base .. 'delayed'),
  redis.call('LLEN', base .. 'completed'),
  redis.call('ZCARD', base .. 'dead'),
  redis.call('ZCARD', base .. 'canceled'),
}
for tier = 1, #perTier do reply[#reply + 1] = perTier[tier] end
return reply
