-- wrk script for `cargo xtask bench`: POST /internal/reservations with a new reservation id
-- each time, for product 1 (HOT=1: every request on one row) or a product drawn from 1..ROWS.
-- The service credential comes from SERVICE_TOKEN.
local rows = tonumber(os.getenv("ROWS") or "1000")
local hot = os.getenv("HOT") == "1"
local counter = 0
-- Each thread gets its own prefix (set from the main state), so ids never collide.
prefix = "00000000"
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("prefix", string.format("%08x", os.time() % 0x1000000 * 16 + threads))
end

request = function()
  counter = counter + 1
  local id = string.format("%s-0000-4000-8000-%012x", prefix, counter)
  local product = hot and 1 or math.random(1, rows)
  local body = string.format('{"reservation_id":"%s","product_id":%d,"quantity":1}', id, product)
  return wrk.format("POST", "/internal/reservations", {
    ["Content-Type"] = "application/json",
    ["X-Service-Token"] = os.getenv("SERVICE_TOKEN") or "dev-service-token",
  }, body)
end

done = function(summary, latency, requests)
  io.write(string.format("requests/s %.1f p50 %.3f p99 %.3f errors %d non2xx %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
