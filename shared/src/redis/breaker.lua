-- A circuit breaker shared by every consumer process: one hash per destination.
--
-- KEYS[1]  {prefix}:breaker:{destination}   fields: state, failures, open_until, probe_until
-- ARGV[1]  'allow' | 'success' | 'failure'
-- ARGV[2]  failures that open the circuit
-- ARGV[3]  how long it stays open, ms
-- ARGV[4]  how long one half-open probe may take before another is let through, ms
--
-- Returns {allowed (1|0), state, failures}. States: closed (no hash), open (no calls until
-- open_until), half_open (one probe at a time; its success closes, its failure re-opens).
-- Time is Redis's own (TIME), so every consumer judges expiry by one clock. Running as a
-- script makes each transition atomic: of two consumers asking at the end of an open period
-- exactly one gets the probe.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
local op = ARGV[1]

local failures = tonumber(redis.call('HGET', KEYS[1], 'failures') or '0')

local function open()
  redis.call('HSET', KEYS[1], 'state', 'open', 'open_until', now + tonumber(ARGV[3]))
  return {0, 'open', failures}
end

if op == 'allow' then
  if state == 'closed' then
    return {1, 'closed', failures}
  end
  local until_field = state == 'open' and 'open_until' or 'probe_until'
  if now < tonumber(redis.call('HGET', KEYS[1], until_field) or '0') then
    return {0, state, failures}
  end
  redis.call('HSET', KEYS[1], 'state', 'half_open', 'probe_until', now + tonumber(ARGV[4]))
  return {1, 'half_open', failures}
elseif op == 'success' then
  redis.call('DEL', KEYS[1])
  return {1, 'closed', 0}
else
  if state == 'half_open' then
    return open()
  end
  failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
  if failures >= tonumber(ARGV[2]) then
    return open()
  end
  return {1, 'closed', failures}
end
