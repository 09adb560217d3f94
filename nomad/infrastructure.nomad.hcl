# Everything the shop's services depend on, for a single Nomad node (development, staging, a
# demo): three PostgreSQL, Redis, RabbitMQ, NATS with JetStream, and the observability stack.
# Production would use managed databases and brokers instead; the services find either kind
# through the same nomadService names.
#
# Run from the repository root (the `file(...)` calls read the Prometheus, Loki, Promtail and
# Grafana configuration from grafana/):
#
#   nomad var put nomad/jobs/shop-infrastructure postgres_password=... \
#     users_db_owner_password=... users_db_app_password=... \
#     products_db_owner_password=... products_db_app_password=... \
#     orders_db_owner_password=... orders_db_app_password=... \
#     rabbitmq_admin_password=... rabbitmq_order_password=... \
#     rabbitmq_notification_password=... rabbitmq_bridge_password=... \
#     redis_password=... nats_bridge_password=... nats_storefront_password=... \
#     grafana_admin_password=...
#   nomad job run nomad/infrastructure.nomad.hcl
#
# (The service passwords are the same values as in nomad/jobs/shop, where the services read
# them; docs/deploy.md.)
#
# Hardening: every task runs with a read-only root file system (tmpfs where it must write), no
# capabilities and no-new-privileges, with a memory limit. The UIs (RabbitMQ management,
# Prometheus, Grafana, Jaeger) are published on the client's `loopback` host network only
# (client configuration: host_network "loopback" { cidr = "127.0.0.1/32" }): reach them
# through an SSH tunnel. Redis requires a password; RabbitMQ and NATS have one user per
# service, each allowed only its own exchanges, queues or subjects (NATS: `bridge` publishes
# the order events, `storefront` only reads them; deploy/nats/shop.conf).
# The observability group shares one network namespace (bridge mode): Grafana reaches
# Prometheus, Loki and Jaeger on localhost, so none of those need a port on the node's address.
#
# Nothing here is published on the node's public address: the ports the services use (the
# databases, Redis, RabbitMQ, NATS, Jaeger's OTLP, the exporters Prometheus scrapes) are on the
# client's `private` host network (client configuration: host_network "private" { cidr =
# "<the nodes' private subnet>" }), the rest on `loopback`. Nomad has no port that is reachable
# without a host mapping short of Consul Connect, which this deployment does not use, so the
# host network a port is mapped on is what decides who can reach it. Only the gateway job
# (nomad/gateway.nomad.hcl) publishes on the public address.
#
# Data lives in host volumes declared in the client's configuration (host_volume "shop-users-db"
# { path = ... } and so on for each `volume` below).

variable "datacenters" {
  type    = list(string)
  default = ["dc1"]
}

variable "nomad_alloc_dir" {
  type        = string
  default     = "/opt/nomad/data/alloc"
  description = "The client's alloc dir (data_dir/alloc), whose task logs Promtail reads."
}

job "shop-infrastructure" {
  datacenters = var.datacenters
  type        = "service"

  # Stateful and single-node: replace in place, never two copies of one database at once.
  update {
    max_parallel     = 1
    auto_revert      = true
    min_healthy_time = "10s"
    healthy_deadline = "5m"
    health_check     = "checks"
  }

  group "databases" {
    network {
      port "users" {
        to           = 5432
        host_network = "private"
      }
      port "products" {
        to           = 5432
        host_network = "private"
      }
      port "orders" {
        to           = 5432
        host_network = "private"
      }
    }

    volume "users-db" {
      type   = "host"
      source = "shop-users-db"
    }
    volume "products-db" {
      type   = "host"
      source = "shop-products-db"
    }
    volume "orders-db" {
      type   = "host"
      source = "shop-orders-db"
    }

    task "users-db" {
      driver = "docker"
      config {
        # Hardened: nothing written outside the task's directories and tmpfs, no
        # capabilities, no privilege gain.
        readonly_rootfs = true
        cap_drop        = ["ALL"]
        security_opt    = ["no-new-privileges"]
        image = "postgres:16-alpine"
        ports = ["users"]
        # The role script runs once, when the data directory is first initialised.
        volumes = ["local/initdb:/docker-entrypoint-initdb.d"]
        mount {
          type     = "tmpfs"
          target   = "/var/run/postgresql"
          readonly = false
          tmpfs_options {
            size = 16777216
          }
        }
        mount {
          type     = "tmpfs"
          target   = "/tmp"
          readonly = false
          tmpfs_options {
            size = 67108864
          }
        }
      }
      volume_mount {
        volume      = "users-db"
        destination = "/var/lib/postgresql/data"
      }
      # The superuser is for operators; the service logs in as users_owner / users_app.
      user = "postgres"
      env {
        POSTGRES_USER = "postgres"
        POSTGRES_DB   = "users"
      }
      template {
        destination = "secrets/postgres.env"
        env         = true
        data        = <<-EOT
          {{ with nomadVar "nomad/jobs/shop-infrastructure" }}POSTGRES_PASSWORD={{ .postgres_password }}
          DB_OWNER_PASSWORD={{ .users_db_owner_password }}
          DB_APP_PASSWORD={{ .users_db_app_password }}{{ end }}
        EOT
      }
      template {
        destination = "local/initdb/roles.sh"
        data        = file("deploy/postgres/roles.sh")
      }
      service {
        provider = "nomad"
        name     = "users-db"
        port     = "users"
        check {
          type     = "tcp"
          interval = "10s"
          timeout  = "2s"
        }
      }
      resources {
        cpu    = 300
        memory = 256
      }
    }

    task "products-db" {
      driver = "docker"
      config {
        # Hardened: nothing written outside the task's directories and tmpfs, no
        # capabilities, no privilege gain.
        readonly_rootfs = true
        cap_drop        = ["ALL"]
        security_opt    = ["no-new-privileges"]
        image = "postgres:16-alpine"
        ports = ["products"]
        # The role script runs once, when the data directory is first initialised.
        volumes = ["local/initdb:/docker-entrypoint-initdb.d"]
        mount {
          type     = "tmpfs"
          target   = "/var/run/postgresql"
          readonly = false
          tmpfs_options {
            size = 16777216
          }
        }
        mount {
          type     = "tmpfs"
          target   = "/tmp"
          readonly = false
          tmpfs_options {
            size = 67108864
          }
        }
      }
      volume_mount {
        volume      = "products-db"
        destination = "/var/lib/postgresql/data"
      }
      # The superuser is for operators; the service logs in as products_owner / products_app.
      user = "postgres"
      env {
        POSTGRES_USER = "postgres"
        POSTGRES_DB   = "products"
      }
      template {
        destination = "secrets/postgres.env"
        env         = true
        data        = <<-EOT
          {{ with nomadVar "nomad/jobs/shop-infrastructure" }}POSTGRES_PASSWORD={{ .postgres_password }}
          DB_OWNER_PASSWORD={{ .products_db_owner_password }}
          DB_APP_PASSWORD={{ .products_db_app_password }}{{ end }}
        EOT
      }
      template {
        destination = "local/initdb/roles.sh"
        data        = file("deploy/postgres/roles.sh")
      }
      service {
        provider = "nomad"
        name     = "products-db"
        port     = "products"
        check {
          type     = "tcp"
          interval = "10s"
          timeout  = "2s"
        }
      }
      resources {
        cpu    = 300
        memory = 256
      }
    }

    task "orders-db" {
      driver = "docker"
      config {
        # Hardened: nothing written outside the task's directories and tmpfs, no
        # capabilities, no privilege gain.
        readonly_rootfs = true
        cap_drop        = ["ALL"]
        security_opt    = ["no-new-privileges"]
        image = "postgres:16-alpine"
        ports = ["orders"]
        # The role script runs once, when the data directory is first initialised.
        volumes = ["local/initdb:/docker-entrypoint-initdb.d"]
        mount {
          type     = "tmpfs"
          target   = "/var/run/postgresql"
          readonly = false
          tmpfs_options {
            size = 16777216
          }
        }
        mount {
          type     = "tmpfs"
          target   = "/tmp"
          readonly = false
          tmpfs_options {
            size = 67108864
          }
        }
      }
      volume_mount {
        volume      = "orders-db"
        destination = "/var/lib/postgresql/data"
      }
      # The superuser is for operators; the service logs in as orders_owner / orders_app.
      user = "postgres"
      env {
        POSTGRES_USER = "postgres"
        POSTGRES_DB   = "orders"
      }
      template {
        destination = "secrets/postgres.env"
        env         = true
        data        = <<-EOT
          {{ with nomadVar "nomad/jobs/shop-infrastructure" }}POSTGRES_PASSWORD={{ .postgres_password }}
          DB_OWNER_PASSWORD={{ .orders_db_owner_password }}
          DB_APP_PASSWORD={{ .orders_db_app_password }}{{ end }}
        EOT
      }
      template {
        destination = "local/initdb/roles.sh"
        data        = file("deploy/postgres/roles.sh")
      }
      service {
        provider = "nomad"
        name     = "orders-db"
        port     = "orders"
        check {
          type     = "tcp"
          interval = "10s"
          timeout  = "2s"
        }
      }
      resources {
        cpu    = 300
        memory = 256
      }
    }
  }

  group "brokers" {
    network {
      port "redis" {
        to           = 6379
        host_network = "private"
      }
      port "redis-exporter" {
        to           = 9121
        host_network = "private"
      }
      port "amqp" {
        to           = 5672
        host_network = "private"
      }
      port "rabbitmq-management" {
        static       = 15672
        to           = 15672
        host_network = "loopback"
      }
      port "rabbitmq-metrics" {
        to           = 15692
        host_network = "private"
      }
      port "nats" {
        to           = 4222
        host_network = "private"
      }
      # Only Nomad's health check reads the monitor, from this node: loopback.
      port "nats-monitor" {
        to           = 8222
        host_network = "loopback"
      }
    }

    task "redis" {
      driver = "docker"
      config {
        # Hardened: nothing written outside the task's directories and tmpfs, no
        # capabilities, no privilege gain.
        readonly_rootfs = true
        cap_drop        = ["ALL"]
        security_opt    = ["no-new-privileges"]
        image = "redis:7-alpine"
        # A cache, not a store (see compose.yaml): nothing persisted, memory bounded, only
        # keys with a TTL evicted, soonest to expire first.
        # The password comes from a rendered file, not the command line.
        args = [
          "redis-server", "/secrets/redis.conf", "--appendonly", "no", "--save", "",
          "--maxmemory", "256mb", "--maxmemory-policy", "volatile-ttl",
        ]
        ports = ["redis"]
      }
      user = "redis"
      template {
        destination = "secrets/redis.conf"
        data        = "{{ with nomadVar \"nomad/jobs/shop-infrastructure\" }}requirepass {{ .redis_password }}{{ end }}"
      }
      service {
        provider = "nomad"
        name     = "redis"
        port     = "redis"
        check {
          type     = "tcp"
          interval = "10s"
          timeout  = "2s"
        }
      }
      resources {
        cpu    = 200
        memory = 256
      }
    }

    task "redis-exporter" {
      driver = "docker"
      config {
        # Hardened: nothing written outside the task's directories and tmpfs, no
        # capabilities, no privilege gain.
        readonly_rootfs = true
        cap_drop        = ["ALL"]
        security_opt    = ["no-new-privileges"]
        image = "oliver006/redis_exporter:v1.62.0"
        ports = ["redis-exporter"]
      }
      template {
        destination = "secrets/exporter.env"
        env         = true
        data        = "{{ range nomadService \"redis\" }}REDIS_ADDR=redis://{{ .Address }}:{{ .Port }}{{ end }}\n{{ with nomadVar \"nomad/jobs/shop-infrastructure\" }}REDIS_PASSWORD={{ .redis_password }}{{ end }}"
      }
      service {
        provider = "nomad"
        name     = "redis-exporter"
        port     = "redis-exporter"
        check {
          type     = "http"
          path     = "/health"
          interval = "15s"
          timeout  = "2s"
        }
      }
      resources {
        cpu    = 50
        memory = 32
      }
    }

    task "rabbitmq" {
      driver = "docker"
      config {
        # Hardened: nothing written outside the task's directories and tmpfs, no
        # capabilities, no privilege gain.
        readonly_rootfs = true
        cap_drop        = ["ALL"]
        security_opt    = ["no-new-privileges"]
        image    = "rabbitmq:3.13-management-alpine"
        hostname = "rabbitmq"
        # The users (one per service, an administrator for the UI) are rendered into a
        # definitions file the broker loads (deploy/rabbitmq): no default or shared user.
        command = "sh"
        args    = ["-c", "sh /local/render-definitions.sh /tmp/rabbitmq/definitions.json && rabbitmq-plugins enable --offline rabbitmq_management rabbitmq_prometheus && exec rabbitmq-server"]
        ports   = ["amqp", "rabbitmq-management", "rabbitmq-metrics"]
        volumes = ["local/shop.conf:/etc/rabbitmq/conf.d/20-shop.conf"]
        mount {
          type     = "tmpfs"
          target   = "/tmp"
          readonly = false
          tmpfs_options {
            size = 16777216
          }
        }
        # The node's state (as before, not kept across restarts of the task).
        mount {
          type     = "tmpfs"
          target   = "/var/lib/rabbitmq"
          readonly = false
          tmpfs_options {
            size = 268435456
          }
        }
      }
      user = "rabbitmq"
      env {
        RABBITMQ_ENABLED_PLUGINS_FILE = "/var/lib/rabbitmq/enabled_plugins"
      }
      template {
        destination = "secrets/rabbitmq.env"
        env         = true
        data        = <<-EOT
          {{ with nomadVar "nomad/jobs/shop-infrastructure" }}RABBITMQ_ADMIN_PASSWORD={{ .rabbitmq_admin_password }}
          RABBITMQ_ORDER_PASSWORD={{ .rabbitmq_order_password }}
          RABBITMQ_NOTIFICATION_PASSWORD={{ .rabbitmq_notification_password }}
          RABBITMQ_BRIDGE_PASSWORD={{ .rabbitmq_bridge_password }}{{ end }}
        EOT
      }
      template {
        destination = "local/render-definitions.sh"
        data        = file("deploy/rabbitmq/render-definitions.sh")
      }
      template {
        destination = "local/shop.conf"
        data        = file("deploy/rabbitmq/shop.conf")
      }
      service {
        provider = "nomad"
        name     = "rabbitmq"
        port     = "amqp"
        check {
          type     = "tcp"
          interval = "10s"
          timeout  = "2s"
        }
      }
      service {
        provider = "nomad"
        name     = "rabbitmq-metrics"
        port     = "rabbitmq-metrics"
        check {
          type     = "http"
          path     = "/metrics"
          interval = "15s"
          timeout  = "5s"
        }
      }
      resources {
        cpu    = 500
        memory = 768 # the tmpfs above counts against it
      }
    }

    task "nats" {
      driver = "docker"
      config {
        # Hardened: nothing written outside the task's directories and tmpfs, no
        # capabilities, no privilege gain.
        readonly_rootfs = true
        cap_drop        = ["ALL"]
        security_opt    = ["no-new-privileges"]
        image = "nats:2.10-alpine"
        # One user per client with its own permissions (deploy/nats/shop.conf, as compose);
        # the file reads the passwords from the environment rendered below.
        args  = ["--jetstream", "--store_dir", "/alloc/data/nats", "--http_port", "8222", "--config", "/local/shop.conf"]
        ports = ["nats", "nats-monitor"]
      }
      template {
        destination = "local/shop.conf"
        data        = file("deploy/nats/shop.conf")
      }
      template {
        destination = "secrets/nats.env"
        env         = true
        data        = <<-EOT
          {{ with nomadVar "nomad/jobs/shop-infrastructure" }}NATS_BRIDGE_PASSWORD={{ .nats_bridge_password }}
          NATS_STOREFRONT_PASSWORD={{ .nats_storefront_password }}{{ end }}
        EOT
      }
      service {
        provider = "nomad"
        name     = "nats"
        port     = "nats"
        check {
          type     = "http"
          port     = "nats-monitor"
          path     = "/healthz"
          interval = "10s"
          timeout  = "2s"
        }
      }
      resources {
        cpu    = 200
        memory = 128
      }
    }
  }

  group "observability" {
    # One network namespace for the group: Grafana and Promtail reach Prometheus, Loki and
    # Jaeger on localhost. Only Jaeger's OTLP port is on the private network (the services
    # export to it); everything else on the loopback host network. Prometheus scrapes the
    # services at their private addresses (from the bridge, through the node's routing).
    network {
      mode = "bridge"
      port "prometheus" {
        static       = 9090
        to           = 9090
        host_network = "loopback"
      }
      port "loki" {
        to           = 3100
        host_network = "loopback"
      }
      port "grafana" {
        static       = 3000
        to           = 3000
        host_network = "loopback"
      }
      port "jaeger-ui" {
        static       = 16686
        to           = 16686
        host_network = "loopback"
      }
      port "jaeger-otlp" {
        to           = 4318
        host_network = "private"
      }
      port "jaeger-admin" {
        to           = 14269
        host_network = "loopback"
      }
    }

    task "prometheus" {
      driver = "docker"
      config {
        # Hardened: nothing written outside the task's directories and tmpfs, no
        # capabilities, no privilege gain.
        readonly_rootfs = true
        cap_drop        = ["ALL"]
        security_opt    = ["no-new-privileges"]
        image = "prom/prometheus:v2.54.1"
        args = [
          "--config.file=/local/prometheus.yml",
          "--storage.tsdb.path=/alloc/data/prometheus",
          "--storage.tsdb.retention.time=7d",
        ]
      }
      template {
        destination = "local/prometheus.yml"
        data        = file("grafana/prometheus/prometheus-nomad.yml")
      }
      # The rules hold Prometheus' own {{ $labels }} templates: other delimiters here.
      template {
        destination     = "local/rules/shop.yml"
        data            = file("grafana/prometheus/rules/shop.yml")
        left_delimiter  = "[["
        right_delimiter = "]]"
      }
      # One file_sd target file per scraped service, re-rendered as replicas come and go;
      # Prometheus notices the change by itself (no restart).
      template {
        destination = "local/targets/user-service.json"
        change_mode = "noop"
        data        = "[{{ range $i, $s := nomadService \"user-service\" }}{{ if $i }},{{ end }}{\"targets\":[\"{{ $s.Address }}:{{ $s.Port }}\"]}{{ end }}]"
      }
      template {
        destination = "local/targets/product-service.json"
        change_mode = "noop"
        data        = "[{{ range $i, $s := nomadService \"product-service\" }}{{ if $i }},{{ end }}{\"targets\":[\"{{ $s.Address }}:{{ $s.Port }}\"]}{{ end }}]"
      }
      template {
        destination = "local/targets/order-service.json"
        change_mode = "noop"
        data        = "[{{ range $i, $s := nomadService \"order-service\" }}{{ if $i }},{{ end }}{\"targets\":[\"{{ $s.Address }}:{{ $s.Port }}\"]}{{ end }}]"
      }
      template {
        destination = "local/targets/notification-service.json"
        change_mode = "noop"
        data        = "[{{ range $i, $s := nomadService \"notification-service\" }}{{ if $i }},{{ end }}{\"targets\":[\"{{ $s.Address }}:{{ $s.Port }}\"]}{{ end }}]"
      }
      template {
        destination = "local/targets/event-bridge.json"
        change_mode = "noop"
        data        = "[{{ range $i, $s := nomadService \"event-bridge\" }}{{ if $i }},{{ end }}{\"targets\":[\"{{ $s.Address }}:{{ $s.Port }}\"]}{{ end }}]"
      }
      template {
        destination = "local/targets/redis-exporter.json"
        change_mode = "noop"
        data        = "[{{ range $i, $s := nomadService \"redis-exporter\" }}{{ if $i }},{{ end }}{\"targets\":[\"{{ $s.Address }}:{{ $s.Port }}\"]}{{ end }}]"
      }
      template {
        destination = "local/targets/rabbitmq-metrics.json"
        change_mode = "noop"
        data        = "[{{ range $i, $s := nomadService \"rabbitmq-metrics\" }}{{ if $i }},{{ end }}{\"targets\":[\"{{ $s.Address }}:{{ $s.Port }}\"]}{{ end }}]"
      }
      service {
        provider = "nomad"
        name     = "prometheus"
        port     = "prometheus"
        check {
          type     = "http"
          path     = "/-/ready"
          interval = "10s"
          timeout  = "2s"
        }
      }
      resources {
        cpu    = 300
        memory = 512
      }
    }

    task "loki" {
      driver = "docker"
      config {
        # Hardened: nothing written outside the task's directories and tmpfs, no
        # capabilities, no privilege gain.
        readonly_rootfs = true
        cap_drop        = ["ALL"]
        security_opt    = ["no-new-privileges"]
        image = "grafana/loki:3.1.1"
        args  = ["-config.file=/local/loki.yaml"]
        # Loki's data (not kept across restarts of the task, as before).
        mount {
          type     = "tmpfs"
          target   = "/loki"
          readonly = false
          tmpfs_options {
            size = 536870912
          }
        }
        mount {
          type     = "tmpfs"
          target   = "/tmp"
          readonly = false
          tmpfs_options {
            size = 16777216
          }
        }
      }
      template {
        destination = "local/loki.yaml"
        data        = file("grafana/loki/loki.yaml")
      }
      service {
        provider = "nomad"
        name     = "loki"
        port     = "loki"
        check {
          type     = "http"
          path     = "/ready"
          interval = "10s"
          timeout  = "2s"
        }
      }
      resources {
        cpu    = 200
        memory = 1024 # the tmpfs above counts against it
      }
    }

    # Reads the task logs Nomad writes under the client's alloc dir, read-only (no Docker
    # socket); the host path needs the docker driver's `volumes { enabled = true }`.
    task "promtail" {
      driver = "docker"
      config {
        # Hardened: nothing written outside the task's directories and tmpfs, no
        # capabilities, no privilege gain.
        readonly_rootfs = true
        cap_drop        = ["ALL"]
        security_opt    = ["no-new-privileges"]
        image   = "grafana/promtail:3.1.1"
        args    = ["-config.file=/local/promtail.yaml"]
        volumes = ["${var.nomad_alloc_dir}:/nomad/alloc:ro"]
        # Read positions, kept across restarts of the task.
        mount {
          type   = "bind"
          source = "../alloc/data"
          target = "/var/lib/promtail"
        }
      }
      template {
        destination = "local/promtail.yaml"
        data        = replace(file("grafana/promtail/promtail.yaml"), "http://loki:3100", "http://127.0.0.1:3100")
      }
      resources {
        cpu    = 100
        memory = 128
      }
    }

    task "jaeger" {
      driver = "docker"
      config {
        # Hardened: nothing written outside the task's directories and tmpfs, no
        # capabilities, no privilege gain.
        readonly_rootfs = true
        cap_drop        = ["ALL"]
        security_opt    = ["no-new-privileges"]
        image = "jaegertracing/all-in-one:1.60"
        mount {
          type     = "tmpfs"
          target   = "/tmp"
          readonly = false
          tmpfs_options {
            size = 16777216
          }
        }
      }
      env {
        COLLECTOR_OTLP_ENABLED = "true"
      }
      service {
        provider = "nomad"
        name     = "jaeger-ui"
        port     = "jaeger-ui"
      }
      service {
        provider = "nomad"
        name     = "jaeger-otlp"
        port     = "jaeger-otlp"
        check {
          type     = "http"
          port     = "jaeger-admin"
          path     = "/"
          interval = "10s"
          timeout  = "2s"
        }
      }
      resources {
        cpu    = 200
        memory = 512
      }
    }

    task "grafana" {
      driver = "docker"
      config {
        # Hardened: nothing written outside the task's directories and tmpfs, no
        # capabilities, no privilege gain.
        readonly_rootfs = true
        cap_drop        = ["ALL"]
        security_opt    = ["no-new-privileges"]
        image = "grafana/grafana:11.2.0"
        # Grafana's own state: everything it shows is provisioned from files.
        mount {
          type     = "tmpfs"
          target   = "/var/lib/grafana"
          readonly = false
          tmpfs_options {
            size = 67108864
          }
        }
        mount {
          type     = "tmpfs"
          target   = "/tmp"
          readonly = false
          tmpfs_options {
            size = 16777216
          }
        }
        volumes = [
          "local/provisioning:/etc/grafana/provisioning",
          "local/dashboards:/var/lib/grafana/dashboards",
        ]
      }
      template {
        destination = "secrets/grafana.env"
        env         = true
        data        = "GF_SECURITY_ADMIN_USER=admin\nGF_USERS_ALLOW_SIGN_UP=false\n{{ with nomadVar \"nomad/jobs/shop-infrastructure\" }}GF_SECURITY_ADMIN_PASSWORD={{ .grafana_admin_password }}{{ end }}"
      }
      # Same provisioning as compose; the data sources are on the group's localhost.
      template {
        destination = "local/provisioning/datasources/datasources.yaml"
        data        = replace(replace(replace(file("grafana/provisioning/datasources/datasources.yaml"), "http://prometheus:9090", "http://127.0.0.1:9090"), "http://loki:3100", "http://127.0.0.1:3100"), "http://jaeger:16686", "http://127.0.0.1:16686")
      }
      template {
        destination = "local/provisioning/dashboards/dashboards.yaml"
        data        = file("grafana/provisioning/dashboards/dashboards.yaml")
      }
      template {
        destination     = "local/dashboards/shop-red.json"
        data            = file("grafana/dashboards/shop-red.json")
        left_delimiter  = "[["
        right_delimiter = "]]"
      }
      template {
        destination     = "local/dashboards/shop-business.json"
        data            = file("grafana/dashboards/shop-business.json")
        left_delimiter  = "[["
        right_delimiter = "]]"
      }
      template {
        destination     = "local/dashboards/shop-messaging.json"
        data            = file("grafana/dashboards/shop-messaging.json")
        left_delimiter  = "[["
        right_delimiter = "]]"
      }
      service {
        provider = "nomad"
        name     = "grafana"
        port     = "grafana"
        check {
          type     = "http"
          path     = "/api/health"
          interval = "10s"
          timeout  = "2s"
        }
      }
      resources {
        cpu    = 200
        memory = 256
      }
    }
  }
}
