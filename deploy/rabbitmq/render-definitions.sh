#!/bin/sh
# Writes the broker's users and permissions into $1, a definitions file RabbitMQ loads at start
# (deploy/rabbitmq/shop.conf: load_definitions). Passwords come from the environment and are
# stored only as salted SHA-256 hashes (RabbitMQ's rabbit_password_hashing_sha256:
# base64(salt ++ sha256(salt ++ password))). With definitions loaded, RabbitMQ creates no
# default user: the administrator below is for the management UI and operators only.
#
# One user per service, each limited to what it declares, writes and reads (regexes on
# vhost `/`; `[.]` instead of `\.` keeps the JSON free of escapes):
#   shop-order         declares and publishes to the order_events exchange; reads nothing.
#   shop-notification  its queue order_notifications and the .delay.<ms>ms / .dead queues
#                      named after it; binds them to order_events; republishes through the
#                      default exchange (amq.default) into its delay queues.
#   shop-bridge        its queue order_events_bridge and order_events_bridge.dead, likewise.
set -eu
out="$1"
mkdir -p "$(dirname "$out")"

hash() {
    salt=$(mktemp)
    openssl rand 4 >"$salt"
    { cat "$salt"; printf '%s' "$1"; } | openssl dgst -sha256 -binary | cat "$salt" - | openssl base64 -A
    rm -f "$salt"
}

user() {
    printf '{"name":"%s","password_hash":"%s","hashing_algorithm":"rabbit_password_hashing_sha256","tags":[%s]}' \
        "$1" "$(hash "$2")" "$3"
}

permission() {
    printf '{"user":"%s","vhost":"/","configure":"%s","write":"%s","read":"%s"}' "$1" "$2" "$3" "$4"
}

umask 077
cat >"$out" <<JSON
{
  "users": [
    $(user shop-admin "$RABBITMQ_ADMIN_PASSWORD" '"administrator"'),
    $(user shop-order "$RABBITMQ_ORDER_PASSWORD" ''),
    $(user shop-notification "$RABBITMQ_NOTIFICATION_PASSWORD" ''),
    $(user shop-bridge "$RABBITMQ_BRIDGE_PASSWORD" '')
  ],
  "vhosts": [{"name": "/"}],
  "permissions": [
    $(permission shop-admin '.*' '.*' '.*'),
    $(permission shop-order '^order_events$' '^order_events$' '^$'),
    $(permission shop-notification '^(order_events|order_notifications([.].+)?)$' '^(amq[.]default|order_notifications([.].+)?)$' '^(order_events|order_notifications([.].+)?)$'),
    $(permission shop-bridge '^(order_events|order_events_bridge([.].+)?)$' '^(amq[.]default|order_events_bridge([.].+)?)$' '^(order_events|order_events_bridge([.].+)?)$')
  ],
  "exchanges": [
    {"name": "order_events", "vhost": "/", "type": "topic", "durable": true, "auto_delete": false, "internal": false, "arguments": {}}
  ]
}
JSON
