#!/usr/bin/env bash
# Benchmark of POST /orders end to end (docs/benchmarks.md): User, Product and Order services
# in release builds on this machine, 32 connections, then the outbox's commit-to-confirm
# latency from the database. Each service gets a fresh database; everything stops at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-20s}
CONNECTIONS=${CONNECTIONS:-32}
RUN=$$
BENCH=docs/bench
PSQL="psql -q -h 127.0.0.1 -U postgres"

cargo build --release -q -p user-service -p product-service -p order-service
common="APP_PROFILE=development LOG_LEVEL=warn"
env $common PORT=18201 BCRYPT_COST=10 DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_users_$RUN \
  BOOTSTRAP_ADMIN_USERNAME=admin BOOTSTRAP_ADMIN_PASSWORD=admin-password \
  target/release/user-service > /tmp/bench-order-users.log 2>&1 &
PIDS="$!"
env $common PORT=18202 DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_products_$RUN \
  USER_SERVICE_URL=http://127.0.0.1:18201 CACHE_KEY_PREFIX=bench$RUN: \
  target/release/product-service > /tmp/bench-order-products.log 2>&1 &
PIDS="$PIDS $!"
env $common PORT=18203 DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_orders_$RUN \
  USER_SERVICE_URL=http://127.0.0.1:18201 PRODUCT_SERVICE_URL=http://127.0.0.1:18202 \
  ORDER_EVENTS_EXCHANGE=bench.order_events.$RUN MAX_PENDING_ORDERS_PER_CUSTOMER=100000000 \
  target/release/order-service > /tmp/bench-order-orders.log 2>&1 &
PIDS="$PIDS $!"
cleanup() {
  kill $PIDS 2>/dev/null || true
  wait 2>/dev/null || true
  for db in users products orders; do $PSQL -c "DROP DATABASE IF EXISTS bench_${db}_$RUN WITH (FORCE)" >/dev/null; done
}
trap cleanup EXIT
for port in 18201 18202 18203; do
  for _ in $(seq 200); do curl -sf http://127.0.0.1:$port/health/live >/dev/null && break; sleep 0.1; done
done

token() {
  curl -sf -X POST http://127.0.0.1:18201/login -H 'content-type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"$2\"}" | sed 's/.*"access_token":"\([^"]*\)".*/\1/'
}
ADMIN=$(token admin admin-password)
curl -sf -X POST http://127.0.0.1:18201/register -H 'content-type: application/json' \
  -d '{"username":"shopper","password":"shopper-password"}' >/dev/null
CUSTOMER=$(token shopper shopper-password)
PRODUCT=$(curl -sf -X POST http://127.0.0.1:18202/products -H 'content-type: application/json' \
  -H "authorization: Bearer $ADMIN" \
  -d '{"name":"Benchmark widget","price":"19.99","quantity":100000000}' | sed 's/.*"id":\([0-9]*\).*/\1/')

echo "== POST /orders, $CONNECTIONS connections, $DURATION"
TOKEN=$CUSTOMER BODY="{\"product_id\":$PRODUCT,\"quantity\":1}" \
  wrk -t2 -c$CONNECTIONS -d$DURATION -s $BENCH/post-json.lua http://127.0.0.1:18203/orders | tail -1

echo "== outbox: commit to broker confirm"
for _ in $(seq 100); do
  left=$($PSQL -d bench_orders_$RUN -tAc "SELECT count(*) FROM outbox WHERE published_at IS NULL")
  [ "$left" = 0 ] && break; sleep 0.1
done
$PSQL -d bench_orders_$RUN -tAc "SELECT format('events %s  p50 %s ms  p99 %s ms  max %s ms', count(*),
  round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM published_at - created_at)) * 1000)::numeric, 2),
  round((percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM published_at - created_at)) * 1000)::numeric, 2),
  round((max(extract(epoch FROM published_at - created_at)) * 1000)::numeric, 2)) FROM outbox"

echo "== RSS (MiB): user, product, order"
for pid in $PIDS; do ps -o rss= -p $pid | awk '{printf "%.1f ", $1/1024}'; done; echo
