# shop-infra: PostgreSQL 15, Redis, RabbitMQ and NATS with JetStream on their usual local ports,
# with data under one directory, for contributors without Docker and for the Nix test check.
#   shop-infra [DIR]               run in the foreground until Ctrl-C (default DIR: ./.infra)
#   shop-infra --background DIR    start and return once every port answers
#   shop-infra --stop DIR          stop what --background started
{ pkgs }:
pkgs.writeShellApplication {
  name = "shop-infra";
  runtimeInputs = [ pkgs.postgresql_15 pkgs.redis pkgs.rabbitmq-server pkgs.nats-server pkgs.netcat-gnu pkgs.coreutils ];
  text = ''
    mode=foreground
    case "''${1:-}" in
      --background) mode=background; shift ;;
      --stop) mode=stop; shift ;;
    esac
    dir=$(realpath -m "''${1:-.infra}")
    mkdir -p "$dir"

    stop() {
      pg_ctl -D "$dir/pg" -m fast stop >/dev/null 2>&1 || true
      for pidfile in "$dir"/*.pid; do
        [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
      done
      RABBITMQ_NODENAME=shop@localhost rabbitmqctl stop >/dev/null 2>&1 || true
    }

    if [ "$mode" = stop ]; then stop; exit 0; fi

    if [ ! -d "$dir/pg" ]; then
      initdb -A trust -U postgres -D "$dir/pg" >/dev/null
    fi
    pg_ctl -D "$dir/pg" -o "-p 5432 -k $dir -c listen_addresses=127.0.0.1" -l "$dir/pg.log" -w start >/dev/null

    redis-server --port 6379 --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
      --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"

    mkdir -p "$dir/nats"
    nats-server -a 127.0.0.1 -p 4222 -js -sd "$dir/nats" -l "$dir/nats.log" -P "$dir/nats.pid" &

    mkdir -p "$dir/rabbitmq"
    echo "[]." > "$dir/rabbitmq/plugins"
    RABBITMQ_NODENAME=shop@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=5672 \
      RABBITMQ_MNESIA_BASE="$dir/rabbitmq/mnesia" RABBITMQ_LOG_BASE="$dir/rabbitmq/log" \
      RABBITMQ_ENABLED_PLUGINS_FILE="$dir/rabbitmq/plugins" rabbitmq-server -detached

    for port in 5432 6379 4222 5672; do
      for _ in $(seq 600); do nc -z 127.0.0.1 "$port" && break; sleep 0.1; done
      nc -z 127.0.0.1 "$port" || { echo "shop-infra: nothing answers on $port" >&2; stop; exit 1; }
    done
    echo "shop-infra: PostgreSQL :5432, Redis :6379, RabbitMQ :5672, NATS :4222 (data in $dir)"

    if [ "$mode" = foreground ]; then
      trap stop EXIT INT TERM
      wait
    fi
  '';
}
