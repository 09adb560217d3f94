#!/usr/bin/env bash
# Benchmarks of the User Service (docs/benchmarks.md): login against its bcrypt limit, /health
# latency while 50 logins are in flight, validate-token throughput. Starts a release build on
# port 18101 against a fresh database and stops it at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-20s}
PORT=18101
BASE=http://127.0.0.1:$PORT
DB=bench_users_$$
BENCH=docs/bench

cargo build --release -q -p user-service
APP_PROFILE=development PORT=$PORT LOG_LEVEL=warn BCRYPT_COST=12 \
  LOGIN_MAX_FAILURES=1000000 DATABASE_URL=postgres://postgres@127.0.0.1:5432/$DB \
  target/release/user-service > /tmp/bench-user.log 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null' EXIT
for _ in $(seq 100); do curl -sf $BASE/health/live >/dev/null && break; sleep 0.1; done

curl -sf -X POST $BASE/register -H 'content-type: application/json' \
  -d '{"username":"bench","password":"bench-password"}' >/dev/null
TOKEN=$(curl -sf -X POST $BASE/login -H 'content-type: application/json' \
  -d '{"username":"bench","password":"bench-password"}' | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
LOGIN='{"username":"bench","password":"bench-password"}'

echo "== one bcrypt verification (cost 12), single login, 5 runs"
for _ in 1 2 3 4 5; do
  curl -s -o /dev/null -w "%{time_total}\n" -X POST $BASE/login -H 'content-type: application/json' -d "$LOGIN"
done

echo "== login throughput, 16 connections, $DURATION"
BODY=$LOGIN wrk -t2 -c16 -d$DURATION --timeout 10s -s $BENCH/post-json.lua $BASE/login | tail -1

echo "== /health while 50 logins are in flight, $DURATION"
BODY=$LOGIN wrk -t1 -c50 -d$DURATION --timeout 30s -s $BENCH/post-json.lua $BASE/login > /tmp/bench-login-bg.txt &
BG=$!
sleep 2
wrk -t1 -c4 -d$DURATION -s $BENCH/get.lua $BASE/health | tail -1
wait $BG

echo "== validate-token throughput, 32 connections, $DURATION"
BODY="{\"token\":\"$TOKEN\"}" wrk -t2 -c32 -d$DURATION -s $BENCH/post-json.lua $BASE/validate-token | tail -1

echo "== RSS after the runs"
ps -o rss= -p $PID | awk '{printf "%.1f MiB\n", $1/1024}'
