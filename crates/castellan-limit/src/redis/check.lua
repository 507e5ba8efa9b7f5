-- Castellan multi-window fixed-window rate limit check (castellan-limit, src/redis/check.lua).
-- KEYS[i]   counter of window i            ARGV[i]     limit of window i
--                                          ARGV[n + i] length of window i in milliseconds
-- Windows are aligned to the Unix epoch on the Redis server's clock, so every replica agrees.
-- All windows are read first; only if every one admits is each incremented, so a refused
-- request consumes nothing. A counter expires at the last millisecond of its window, so its
-- TTL never exceeds the window and key cardinality stays bounded.
-- Returns { allowed (0|1), now_ms, count_1, ..., count_n }: counts include this request when
-- it was admitted.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = #KEYS
local counts = {}
local allowed = 1
for i = 1, n do
  local c = tonumber(redis.call('GET', KEYS[i]) or '0')
  counts[i] = c
  if c >= tonumber(ARGV[i]) then
    allowed = 0
  end
end
if allowed == 1 then
  for i = 1, n do
    local c = redis.call('INCR', KEYS[i])
    counts[i] = c
    if c == 1 then
      local w = tonumber(ARGV[n + i])
      redis.call('PEXPIREAT', KEYS[i], (math.floor(now / w) + 1) * w - 1)
    end
  end
end
local out = { allowed, now }
for i = 1, n do
  out[i + 2] = counts[i]
end
return out
