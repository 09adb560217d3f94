-- wrk script for `cargo xtask bench`: POST /orders as one of several customers (their bearer
-- tokens in TOKENS, comma-separated), each with a new Idempotency-Key, for product 1 (HOT=1)
-- or a product drawn from 1..ROWS.
local rows = tonumber(os.getenv("ROWS") or "1000")
local hot = os.getenv("HOT") == "1"
local tokens = {}
for token in string.gmatch(os.getenv("TOKENS") or "", "[^,]+") do
  tokens[#tokens + 1] = "Bearer " .. token
end
local counter = 0
-- Each thread gets its own prefix (set from the main state), so keys never collide.
prefix = "00000000"
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("prefix", string.format("%08x", os.time() % 0x1000000 * 16 + threads))
end

request = function()
  counter = counter + 1
  local product = hot and 1 or math.random(1, rows)
  return wrk.format("POST", "/orders", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = tokens[math.random(1, #tokens)],
    ["Idempotency-Key"] = string.format("%s-%012x", prefix, counter),
  }, string.format('{"product_id":%d,"quantity":1}', product))
end

done = function(summary, latency, requests)
  io.write(string.format("requests/s %.1f p50 %.3f p99 %.3f errors %d non2xx %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
