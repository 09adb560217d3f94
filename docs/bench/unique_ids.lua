-- wrk script for `wrk -t2`: every request asks for a product id that no request asked for
-- before, so every read misses the cache (PostgreSQL read + cache fill). Thread 1 requests
-- ids 1, 3, 5, ...; thread 2 requests 2, 4, 6, ...
local THREADS = 2
local started = 0

function setup(thread)
  started = started + 1
  thread:set("next_id", started)
end

function request()
  local id = next_id
  next_id = next_id + THREADS
  return wrk.format("GET", "/products/" .. id)
end
