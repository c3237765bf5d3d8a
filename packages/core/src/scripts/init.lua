--[[
init: agree on the queue's tiers and make sure every tier stream has the
consumer group.

KEYS[1]  meta hash of the queue
ARGV[1]  base: the queue's key prefix, "prefix:{queue}:"
ARGV[2]  consumer group name
ARGV[3]  tiers as a JSON array, or "" to take whatever the queue already uses
         (the default tiers when it has none yet)
ARGV[4]  default tiers as a JSON array

Reply:   {1, tiersJson} with the tiers in force, or {0, storedTiersJson} when
         ARGV[3] differs from the tiers the queue was created with (nothing is
         changed then).
Guarantee: the first caller fixes a queue's tiers; later callers either agree
or are told, so no process reads or writes lanes the others do not know of.
]]
local base, group, wanted, defaults = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local stored = redis.call('HGET', KEYS[1], 'tiers')
if stored and wanted ~= '' and stored ~= wanted then
  return {0, stored}
end
local tiers = stored or (wanted ~= '' and wanted) or defaults
if not stored then
  redis.call('HSET', KEYS[1], 'tiers', tiers)
end
for tier = 0, #cjson.decode(tiers) - 1 do
  local ok, err = pcall(redis.call, 'XGROUP', 'CREATE', base .. 'lane:' .. tier, group, '0', 'MKSTREAM')
  if not ok and not string.find(tostring(err), 'BUSYGROUP') then
    return redis.error_reply(tostring(err))
  end
end
return {1, tiers}
