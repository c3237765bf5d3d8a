--[[
resign: give up the scheduler leadership, so another instance takes over at
once instead of after the lock's lifetime.

KEYS[1]  leader lock
KEYS[2]  when a leader last watched the queue (server ms; see promote)
ARGV[1]  the caller's lock value "<instance>:<token>"
ARGV[2]  publish command: PUBLISH, or SPUBLISH on a cluster
ARGV[3]  the queue's `leader` channel

Reply:   1 when released, 0 when the caller was not the leader.
Guarantee: only the holder of the current term can release it. The release
records that a leader watched until now (so the successor's first round
treats what falls due from here on as live, not as a backlog) and tells the
followers on the `leader` channel, so one of them claims at once.
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
local time = redis.call('TIME')
redis.call('SET', KEYS[2], tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000))
redis.call(ARGV[2], ARGV[3], 'resigned')
return 1
