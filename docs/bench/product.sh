#!/usr/bin/env bash
# Benchmark of the Product Service (docs/benchmarks.md, "Product Service"): release builds of the
# service and of a bare salvo handler serving the same JSON (the floor), run side by side against
# the local PostgreSQL and Redis, loaded with wrk. Ports 18002/18090, database bench_products,
# Redis keys under "bench:"; everything it starts is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
TARGET=${CARGO_TARGET_DIR:-target}
DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-32}
ROWS=${ROWS:-300000}

cargo build --release -p product-service --bin product-service --example bare_floor
psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS bench_products WITH (FORCE)"
redis-cli --scan --pattern 'bench:*' | xargs -r redis-cli del > /dev/null

APP_PROFILE=development PORT=18002 HOST=127.0.0.1 \
  DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_products CACHE_KEY_PREFIX=bench: \
  "$TARGET/release/product-service" &
SERVICE=$!
"$TARGET/release/examples/bare_floor" 18090 &
FLOOR=$!
trap 'kill $SERVICE $FLOOR 2>/dev/null || true' EXIT
until curl -sf http://127.0.0.1:18002/health/ready > /dev/null; do sleep 0.2; done

psql -h 127.0.0.1 -U postgres -d bench_products -qc \
  "INSERT INTO products (name, description, price, quantity, created_at, updated_at)
   SELECT 'item ' || g, 'benchmark product ' || g, (g % 1000) + 0.99, g % 50,
          '2026-11-25T00:00:00Z', '2026-11-25T00:00:00Z'
   FROM generate_series(1, $ROWS) g; ANALYZE products;"
curl -sf http://127.0.0.1:18002/products/1 > /dev/null   # warm the cache for id 1

run() {
  echo "=== $1"
  shift
  wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency "$@" | grep -E "Requests/sec|50%|99%|Non-2xx|Socket errors"
}
run "bare salvo handler (floor)"          http://127.0.0.1:18090/products/1
run "GET /health/live (same middleware, no Redis)" http://127.0.0.1:18002/health/live
run "GET /products/1 cached"              http://127.0.0.1:18002/products/1
run "GET /products/{id} uncached"         -s docs/bench/unique_ids.lua http://127.0.0.1:18002
run "GET /products?limit=20"              "http://127.0.0.1:18002/products?limit=20"
run "GET /products?limit=20 deep cursor (cached)" "http://127.0.0.1:18002/products?limit=20&cursor=$((ROWS - 1000))"
export CURSOR_FROM=0; run "uncached pages, cursors from row 0"            -s docs/bench/cursor_pages.lua http://127.0.0.1:18002
export CURSOR_FROM=$((ROWS / 2)); run "uncached pages, cursors from row $((ROWS / 2))" -s docs/bench/cursor_pages.lua http://127.0.0.1:18002
echo "=== product-service memory: $(grep -E 'VmHWM|VmRSS' /proc/$SERVICE/status | tr -s ' \n' ' ')"
curl -s http://127.0.0.1:18002/metrics | grep -E "^product_cache_(hits|misses)_total"
kill $SERVICE $FLOOR
wait $SERVICE $FLOOR 2>/dev/null || true
psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS bench_products WITH (FORCE)" 2>/dev/null || true
redis-cli --scan --pattern 'bench:*' | xargs -r redis-cli del > /dev/null
