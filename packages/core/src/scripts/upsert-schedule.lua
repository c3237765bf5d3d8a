--[[
upsert-schedule: define a repeat schedule, or change it; idempotent.

KEYS[1]  schedule hash
KEYS[2]  schedules-due sorted set
KEYS[3]  schedule-ids set
ARGV[1]  schedule id
ARGV[2]  spec (normalised JSON)
ARGV[3]  template (normalised JSON)
ARGV[4]  first occurrence from now (ms), -1 when the spec has none
ARGV[5]  now (server ms, the anchor of `every` schedules)
ARGV[6]  publish command: PUBLISH, or SPUBLISH on a cluster
ARGV[7]  the queue's `due` channel

Reply:   0 unchanged (same spec and template: nothing written), 1 created,
         2 changed (takes effect from now: next occurrence recomputed).
Guarantee: concurrent upserts of the same definition leave one schedule with
its next run intact, whatever their order; a changed definition replaces the
old in one step and bumps `version`, so a leader holding a plan made from the
old one cannot apply it. A new or changed schedule's next run is announced on
the `due` channel, so the sleeping scheduler leader wakes for it.
]]
local id, spec, template, first, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local stored = redis.call('HMGET', KEYS[1], 'spec', 'template', 'paused')
if stored[1] == spec and stored[2] == template then return 0 end
local created = not stored[1]
if created then
  redis.call('HSET', KEYS[1], 'createdAt', now, 'runs', 0, 'missed', 0, 'skipped', 0, 'paused', 0, 'version', 0)
  redis.call('SADD', KEYS[3], id)
end
redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('HSET', KEYS[1], 'spec', spec, 'template', template, 'anchor', now, 'updatedAt', now)
if first >= 0 then
  redis.call('HSET', KEYS[1], 'next', first, 'ended', 0)
  if stored[3] ~= '1' then
    redis.call('ZADD', KEYS[2], first, id)
    redis.call(ARGV[6], ARGV[7], first)
  end
else
  redis.call('HSET', KEYS[1], 'ended', 1)
  redis.call('HDEL', KEYS[1], 'next')
  redis.call('ZREM', KEYS[2], id)
end
return created and 1 or 2
