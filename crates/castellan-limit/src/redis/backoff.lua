-- Castellan growing delays (castellan-limit, src/redis/backoff.lua).
-- KEYS[i]  state of check i (a hash: n = attempts counted, w = wait until, Unix ms); all keys
--          of one call share a hash tag, so the script runs on one node of a cluster.
-- ARGV[4i-3 .. 4i]  free, base_ms, max_ms, forget_ms of check i.
-- Times are the Redis server's, so every replica agrees. If any check's delay is running the
-- attempt is refused and nothing is counted; else it is counted under every check, and the
-- count reaching `free` or beyond starts a delay of base * 2^(n - free), capped at max. A key
-- expires `forget` after its delay ends (or after the attempt, with no delay).
-- Returns { allowed (0|1), longest wait in ms, index of the check that waits longest (0) }.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = #KEYS
local wait, which = 0, 0
for i = 1, n do
  local w = tonumber(redis.call('HGET', KEYS[i], 'w') or '0')
  if w - now > wait then
    wait = w - now
    which = i
  end
end
if wait > 0 then
  return { 0, wait, which }
end
for i = 1, n do
  local free = tonumber(ARGV[4 * i - 3])
  local base = tonumber(ARGV[4 * i - 2])
  local max = tonumber(ARGV[4 * i - 1])
  local forget = tonumber(ARGV[4 * i])
  local count = redis.call('HINCRBY', KEYS[i], 'n', 1)
  local until_ms = 0
  if count >= free then
    local delay = base * math.pow(2, math.min(count - free, 40))
    if delay > max then
      delay = max
    end
    until_ms = now + delay
  end
  redis.call('HSET', KEYS[i], 'w', string.format('%d', until_ms))
  redis.call('PEXPIREAT', KEYS[i], string.format('%d', math.max(until_ms, now) + forget))
end
return { 1, 0, 0 }
