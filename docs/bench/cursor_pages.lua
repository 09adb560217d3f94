-- wrk script for `wrk -t2`: GET /products?limit=20&cursor=N with N never repeated, starting at
-- the environment's CURSOR_FROM, so every page misses the page cache and is a PostgreSQL
-- keyset query at that depth.
local THREADS = 2
local started = 0
local from = tonumber(os.getenv("CURSOR_FROM") or "0")

function setup(thread)
  started = started + 1
  thread:set("next_cursor", from + started)
end

function request()
  local cursor = next_cursor
  next_cursor = next_cursor + THREADS
  return wrk.format("GET", "/products?limit=20&cursor=" .. cursor)
end
