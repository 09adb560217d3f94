# Everything the shop's services depend on, for a single Nomad node (development, staging, a
# demo): three PostgreSQL, Redis, RabbitMQ, NATS with JetStream, and the observability stack.
# Production would use managed databases and brokers instead; the services find either kind
# through the same nomadService names.
#
# Run from the repository root (the `file(...)` calls read the Prometheus, Loki, Promtail and
# Grafana configuration from grafana/):
#
#   nomad var put nomad/jobs/shop-infrastructure postgres_password=... rabbitmq_password=... \
#     grafana_admin_password=...
#   nomad job run nomad/infrastructure.nomad.hcl
#
# Data lives in host volumes declared in the client's configuration (host_volume "shop-users-db"
# { path = ... } and so on for each `volume` below).

variable "datacenters" {
  type    = list(string)
  default = ["dc1"]
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
      port "users" { to = 5432 }
      port "products" { to = 5432 }
      port "orders" { to = 5432 }
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
        image = "postgres:16-alpine"
        ports = ["users"]
      }
      volume_mount {
        volume      = "users-db"
        destination = "/var/lib/postgresql/data"
      }
      env {
        POSTGRES_USER = "shop"
        POSTGRES_DB   = "users"
      }
      template {
        destination = "secrets/postgres.env"
        env         = true
        data        = "{{ with nomadVar \"nomad/jobs/shop-infrastructure\" }}POSTGRES_PASSWORD={{ .postgres_password }}{{ end }}"
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
        image = "postgres:16-alpine"
        ports = ["products"]
      }
      volume_mount {
        volume      = "products-db"
        destination = "/var/lib/postgresql/data"
      }
      env {
        POSTGRES_USER = "shop"
        POSTGRES_DB   = "products"
      }
      template {
        destination = "secrets/postgres.env"
        env         = true
        data        = "{{ with nomadVar \"nomad/jobs/shop-infrastructure\" }}POSTGRES_PASSWORD={{ .postgres_password }}{{ end }}"
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
        image = "postgres:16-alpine"
        ports = ["orders"]
      }
      volume_mount {
        volume      = "orders-db"
        destination = "/var/lib/postgresql/data"
      }
      env {
        POSTGRES_USER = "shop"
        POSTGRES_DB   = "orders"
      }
      template {
        destination = "secrets/postgres.env"
        env         = true
        data        = "{{ with nomadVar \"nomad/jobs/shop-infrastructure\" }}POSTGRES_PASSWORD={{ .postgres_password }}{{ end }}"
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
      port "redis" { to = 6379 }
      port "redis-exporter" { to = 9121 }
      port "amqp" { to = 5672 }
      port "rabbitmq-management" {
        static = 15672
        to     = 15672
      }
      port "rabbitmq-metrics" { to = 15692 }
      port "nats" { to = 4222 }
      port "nats-monitor" { to = 8222 }
    }

    task "redis" {
      driver = "docker"
      config {
        image = "redis:7-alpine"
        # A cache, not a store (see compose.yaml): nothing persisted, memory bounded, only
        # keys with a TTL evicted, soonest to expire first.
        args = [
          "redis-server", "--appendonly", "no", "--save", "",
          "--maxmemory", "256mb", "--maxmemory-policy", "volatile-ttl",
        ]
        ports = ["redis"]
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
        image = "oliver006/redis_exporter:v1.62.0"
        ports = ["redis-exporter"]
      }
      template {
        destination = "local/exporter.env"
        env         = true
        data        = "{{ range nomadService \"redis\" }}REDIS_ADDR=redis://{{ .Address }}:{{ .Port }}{{ end }}"
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
        image    = "rabbitmq:3.13-management-alpine"
        hostname = "rabbitmq"
        command  = "sh"
        args     = ["-c", "rabbitmq-plugins enable --offline rabbitmq_management rabbitmq_prometheus && exec rabbitmq-server"]
        ports    = ["amqp", "rabbitmq-management", "rabbitmq-metrics"]
      }
      template {
        destination = "secrets/rabbitmq.env"
        env         = true
        data        = "RABBITMQ_DEFAULT_USER=shop\n{{ with nomadVar \"nomad/jobs/shop-infrastructure\" }}RABBITMQ_DEFAULT_PASS={{ .rabbitmq_password }}{{ end }}"
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
        memory = 512
      }
    }

    task "nats" {
      driver = "docker"
      config {
        image = "nats:2.10-alpine"
        args  = ["--jetstream", "--store_dir", "/alloc/data/nats", "--http_port", "8222"]
        ports = ["nats", "nats-monitor"]
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
    network {
      port "prometheus" {
        static = 9090
        to     = 9090
      }
      port "loki" { to = 3100 }
      port "grafana" {
        static = 3000
        to     = 3000
      }
      port "jaeger-ui" {
        static = 16686
        to     = 16686
      }
      port "jaeger-otlp" { to = 4318 }
      port "jaeger-admin" { to = 14269 }
    }

    task "prometheus" {
      driver = "docker"
      config {
        image = "prom/prometheus:v2.54.1"
        args = [
          "--config.file=/local/prometheus.yml",
          "--storage.tsdb.path=/alloc/data/prometheus",
          "--storage.tsdb.retention.time=7d",
        ]
        ports = ["prometheus"]
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
        image = "grafana/loki:3.1.1"
        args  = ["-config.file=/local/loki.yaml"]
        ports = ["loki"]
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
        memory = 256
      }
    }

    # Reads the node's containers through the Docker socket, as under compose; it needs the
    # docker driver's `volumes { enabled = true }` in the client configuration.
    task "promtail" {
      driver = "docker"
      config {
        image   = "grafana/promtail:3.1.1"
        args    = ["-config.file=/local/promtail.yaml"]
        volumes = ["/var/run/docker.sock:/var/run/docker.sock:ro"]
      }
      template {
        destination = "local/promtail.yaml"
        data        = file("grafana/promtail/promtail.yaml")
      }
      resources {
        cpu    = 100
        memory = 128
      }
    }

    task "jaeger" {
      driver = "docker"
      config {
        image = "jaegertracing/all-in-one:1.60"
        ports = ["jaeger-ui", "jaeger-otlp", "jaeger-admin"]
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
        image = "grafana/grafana:11.2.0"
        ports = ["grafana"]
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
      # Same provisioning as compose; the data source URLs point at the Nomad services.
      template {
        destination = "local/provisioning/datasources/datasources.yaml"
        data        = replace(replace(replace(file("grafana/provisioning/datasources/datasources.yaml"), "http://prometheus:9090", "{{ range nomadService \"prometheus\" }}http://{{ .Address }}:{{ .Port }}{{ end }}"), "http://loki:3100", "{{ range nomadService \"loki\" }}http://{{ .Address }}:{{ .Port }}{{ end }}"), "http://jaeger:16686", "{{ range nomadService \"jaeger-ui\" }}http://{{ .Address }}:{{ .Port }}{{ end }}")
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
