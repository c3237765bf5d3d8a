--[[
pause-schedule: pause a schedule, or resume it from now.

KEYS[1]  schedule hash
KEYS[2]  schedules-due sorted set
ARGV[1]  schedule id
ARGV[2]  "pause" or "resume"
ARGV[3]  resume: next occurrence from now (ms), -1 when the spec has none left
ARGV[4]  resume: the schedule version that occurrence was computed from
ARGV[5]  publish command: PUBLISH, or SPUBLISH on a cluster
ARGV[6]  the queue's `due` channel

Reply:   1 changed, 0 already so or no such schedule, -2 the schedule changed
         meanwhile (resume again).
Guarantee: a paused schedule has no due entry, so no leader materialises it;
occurrences due while paused are not run and not counted as missed; resuming
waits for the next occurrence after now, and ends a schedule whose end passed
while it was paused. Held-back (buffer) occurrences are not released while
paused either. A resumed schedule tells the scheduler leader on the `due`
channel: its next run, and that held-back occurrences may start.
]]
local state = redis.call('HMGET', KEYS[1], 'paused', 'version', 'ended')
if not state[2] then return 0 end
if ARGV[2] == 'pause' then
  if state[1] == '1' then return 0 end
  redis.call('HSET', KEYS[1], 'paused', 1)
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 1
end
if state[1] ~= '1' then return 0 end
if state[2] ~= ARGV[4] then return -2 end
redis.call('HSET', KEYS[1], 'paused', 0)
redis.call(ARGV[5], ARGV[6], 'release')
local next = tonumber(ARGV[3])
if state[3] == '1' then return 1 end
if next >= 0 then
  redis.call('HSET', KEYS[1], 'next', next)
  redis.call('ZADD', KEYS[2], next, ARGV[1])
  redis.call(ARGV[5], ARGV[6], next)
else
  -- its end (endAt) passed while paused
  redis.call('HSET', KEYS[1], 'ended', 1)
  redis.call('HDEL', KEYS[1], 'next')
end
return 1
