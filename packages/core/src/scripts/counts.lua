--[[
counts: how many jobs the queue holds in each state.

KEYS     the tier streams, highest tier first
ARGV[1]  base: the queue's key prefix, "prefix:{queue}:"
ARGV[2]  consumer group

Reply:   {waiting, active, delayed, completed, failed, canceled, then waiting
         per tier...}
Guarantee: one consistent snapshot. Active counts entries delivered and not yet
acknowledged (running, or held by a dead worker until reclaimed); completed
and failed count the retained ones.
]]
local base, group = ARGV[1], ARGV[2]
local waiting, active = 0, 0
local perTier = {}
for tier = 1, #KEYS do
  local pending = 0
  local ok, summary = pcall(redis.call, 'XPENDING', KEYS[tier], group)
  if ok then pending = summary[1] end
  local length = redis.call('XLEN', KEYS[tier])
  perTier[tier] = length - pending
  waiting = waiting + length - pending
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
