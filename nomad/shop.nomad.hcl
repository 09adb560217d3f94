# The shop's services and the event bridge on Nomad, found through Nomad's native service
# discovery (provider = "nomad"; no Consul). Run after nomad/infrastructure.nomad.hcl:
#
#   nomad var put nomad/jobs/shop postgres_password=... rabbitmq_password=... \
#     jwt_secret=... service_token=... bootstrap_admin_username=admin bootstrap_admin_password=... \
#     storefront_csrf_secret=...
#   nomad job run nomad/shop.nomad.hcl
#
# Images: `nix build .#image-<binary>` and `docker load < result` on every client (or push them
# to a registry and change `image`). Secrets come from the Nomad variable above and the
# addresses of dependencies from `nomadService`, rendered into each task's environment; a
# change of either re-renders the file and restarts the task.
#
# Service-to-service URLs name one healthy replica, chosen per allocation by rendezvous hashing
# (`nomadService 1 (env "NOMAD_ALLOC_ID") ...`), so callers spread over the callee's replicas and
# a caller is re-rendered onto another replica when the chosen one goes away.
#
# Each group's service has two checks: /health/ready (routing: an unready replica is taken out
# of nomadService answers) and /health/live (restart a replica that stops answering).

variable "version" {
  type        = string
  default     = "0.1.0"
  description = "Image tag of every service (the workspace version)."
}

variable "datacenters" {
  type    = list(string)
  default = ["dc1"]
}

job "shop" {
  datacenters = var.datacenters
  type        = "service"

  # One replica at a time; a new version must stay healthy for 10 s, a canary is promoted
  # automatically once healthy, and a deployment that fails reverts to the last good version.
  update {
    max_parallel      = 1
    canary            = 1
    auto_promote      = true
    auto_revert       = true
    min_healthy_time  = "10s"
    healthy_deadline  = "2m"
    progress_deadline = "5m"
    health_check      = "checks"
  }

  reschedule {
    delay          = "10s"
    delay_function = "exponential"
    max_delay      = "5m"
    unlimited      = true
  }

  group "user" {
    count = 2

    network {
      port "http" {
        to = 8001
      }
    }

    service {
      provider = "nomad"
      name     = "user-service"
      port     = "http"
      tags     = ["shop", "metrics"]

      check {
        name     = "ready"
        type     = "http"
        path     = "/health/ready"
        interval = "10s"
        timeout  = "2s"
      }

      check {
        name     = "live"
        type     = "http"
        path     = "/health/live"
        interval = "10s"
        timeout  = "2s"

        check_restart {
          limit = 3
          grace = "30s"
        }
      }
    }

    restart {
      attempts = 3
      interval = "5m"
      delay    = "10s"
      mode     = "delay"
    }

    task "user-service" {
      driver = "docker"

      config {
        image = "shop/user-service:${var.version}"
        ports = ["http"]
      }

      env {
        LOG_FORMAT         = "json"
        LOG_LEVEL          = "info"
        DB_CREATE_DATABASE = "false"
      }

      template {
        destination = "secrets/service.env"
        env         = true
        change_mode = "restart"
        data        = <<-EOT
          {{ range nomadService "users-db" }}DATABASE_URL=postgres://shop:{{ with nomadVar "nomad/jobs/shop" }}{{ .postgres_password }}{{ end }}@{{ .Address }}:{{ .Port }}/users{{ end }}
          {{ with nomadVar "nomad/jobs/shop" }}JWT_SECRET={{ .jwt_secret }}
          BOOTSTRAP_ADMIN_USERNAME={{ .bootstrap_admin_username }}
          BOOTSTRAP_ADMIN_PASSWORD={{ .bootstrap_admin_password }}{{ end }}
          {{ range nomadService "redis" }}REDIS_URL=redis://{{ .Address }}:{{ .Port }}{{ end }}
          {{ range nomadService "jaeger-otlp" }}OTEL_EXPORTER_OTLP_ENDPOINT=http://{{ .Address }}:{{ .Port }}{{ end }}
        EOT
      }

      # Drain window: SIGTERM, then SHUTDOWN_TIMEOUT_SECS (10 s) for requests and deliveries in hand.
      kill_timeout = "15s"

      resources {
        cpu    = 300
        memory = 256
      }
    }
  }

  group "product" {
    count = 2

    network {
      port "http" {
        to = 8002
      }
    }

    service {
      provider = "nomad"
      name     = "product-service"
      port     = "http"
      tags     = ["shop", "metrics"]

      check {
        name     = "ready"
        type     = "http"
        path     = "/health/ready"
        interval = "10s"
        timeout  = "2s"
      }

      check {
        name     = "live"
        type     = "http"
        path     = "/health/live"
        interval = "10s"
        timeout  = "2s"

        check_restart {
          limit = 3
          grace = "30s"
        }
      }
    }

    restart {
      attempts = 3
      interval = "5m"
      delay    = "10s"
      mode     = "delay"
    }

    task "product-service" {
      driver = "docker"

      config {
        image = "shop/product-service:${var.version}"
        ports = ["http"]
      }

      env {
        LOG_FORMAT         = "json"
        LOG_LEVEL          = "info"
        DB_CREATE_DATABASE = "false"
      }

      template {
        destination = "secrets/service.env"
        env         = true
        change_mode = "restart"
        data        = <<-EOT
          {{ range nomadService "products-db" }}DATABASE_URL=postgres://shop:{{ with nomadVar "nomad/jobs/shop" }}{{ .postgres_password }}{{ end }}@{{ .Address }}:{{ .Port }}/products{{ end }}
          {{ range nomadService "redis" }}REDIS_URL=redis://{{ .Address }}:{{ .Port }}{{ end }}
          {{ range nomadService 1 (env "NOMAD_ALLOC_ID") "user-service" }}USER_SERVICE_URL=http://{{ .Address }}:{{ .Port }}{{ end }}
          {{ with nomadVar "nomad/jobs/shop" }}SERVICE_TOKEN={{ .service_token }}{{ end }}
          {{ range nomadService "jaeger-otlp" }}OTEL_EXPORTER_OTLP_ENDPOINT=http://{{ .Address }}:{{ .Port }}{{ end }}
        EOT
      }

      # Drain window: SIGTERM, then SHUTDOWN_TIMEOUT_SECS (10 s) for requests and deliveries in hand.
      kill_timeout = "15s"

      resources {
        cpu    = 200
        memory = 128
      }
    }
  }

  group "order" {
    count = 2

    network {
      port "http" {
        to = 8003
      }
    }

    service {
      provider = "nomad"
      name     = "order-service"
      port     = "http"
      tags     = ["shop", "metrics"]

      check {
        name     = "ready"
        type     = "http"
        path     = "/health/ready"
        interval = "10s"
        timeout  = "2s"
      }

      check {
        name     = "live"
        type     = "http"
        path     = "/health/live"
        interval = "10s"
        timeout  = "2s"

        check_restart {
          limit = 3
          grace = "30s"
        }
      }
    }

    restart {
      attempts = 3
      interval = "5m"
      delay    = "10s"
      mode     = "delay"
    }

    task "order-service" {
      driver = "docker"

      config {
        image = "shop/order-service:${var.version}"
        ports = ["http"]
      }

      env {
        LOG_FORMAT         = "json"
        LOG_LEVEL          = "info"
        DB_CREATE_DATABASE = "false"
      }

      template {
        destination = "secrets/service.env"
        env         = true
        change_mode = "restart"
        data        = <<-EOT
          {{ range nomadService "orders-db" }}DATABASE_URL=postgres://shop:{{ with nomadVar "nomad/jobs/shop" }}{{ .postgres_password }}{{ end }}@{{ .Address }}:{{ .Port }}/orders{{ end }}
          {{ range nomadService 1 (env "NOMAD_ALLOC_ID") "user-service" }}USER_SERVICE_URL=http://{{ .Address }}:{{ .Port }}{{ end }}
          {{ range nomadService 1 (env "NOMAD_ALLOC_ID") "product-service" }}PRODUCT_SERVICE_URL=http://{{ .Address }}:{{ .Port }}{{ end }}
          {{ range nomadService "rabbitmq" }}AMQP_URL=amqp://shop:{{ with nomadVar "nomad/jobs/shop" }}{{ .rabbitmq_password }}{{ end }}@{{ .Address }}:{{ .Port }}/%2f{{ end }}
          {{ with nomadVar "nomad/jobs/shop" }}SERVICE_TOKEN={{ .service_token }}{{ end }}
          {{ range nomadService "jaeger-otlp" }}OTEL_EXPORTER_OTLP_ENDPOINT=http://{{ .Address }}:{{ .Port }}{{ end }}
        EOT
      }

      # Drain window: SIGTERM, then SHUTDOWN_TIMEOUT_SECS (10 s) for requests and deliveries in hand.
      kill_timeout = "15s"

      resources {
        cpu    = 200
        memory = 128
      }
    }
  }

  group "notification" {
    # Competing consumers on one queue: at least two workers.
    count = 2

    network {
      port "http" {
        to = 8004
      }
    }

    service {
      provider = "nomad"
      name     = "notification-service"
      port     = "http"
      tags     = ["shop", "metrics"]

      check {
        name     = "ready"
        type     = "http"
        path     = "/health/ready"
        interval = "10s"
        timeout  = "2s"
      }

      check {
        name     = "live"
        type     = "http"
        path     = "/health/live"
        interval = "10s"
        timeout  = "2s"

        check_restart {
          limit = 3
          grace = "30s"
        }
      }
    }

    restart {
      attempts = 3
      interval = "5m"
      delay    = "10s"
      mode     = "delay"
    }

    task "notification-service" {
      driver = "docker"

      config {
        image = "shop/notification-service:${var.version}"
        ports = ["http"]
      }

      env {
        LOG_FORMAT          = "json"
        LOG_LEVEL           = "info"
        NOTIFY_CHANNELS     = "log"
        NOTIFY_ROUTING_KEYS = "order.created,order.status_changed"
      }

      template {
        destination = "secrets/service.env"
        env         = true
        change_mode = "restart"
        data        = <<-EOT
          {{ range nomadService "rabbitmq" }}AMQP_URL=amqp://shop:{{ with nomadVar "nomad/jobs/shop" }}{{ .rabbitmq_password }}{{ end }}@{{ .Address }}:{{ .Port }}/%2f{{ end }}
          {{ range nomadService "jaeger-otlp" }}OTEL_EXPORTER_OTLP_ENDPOINT=http://{{ .Address }}:{{ .Port }}{{ end }}
        EOT
      }

      # Drain window: SIGTERM, then SHUTDOWN_TIMEOUT_SECS (10 s) for requests and deliveries in hand.
      kill_timeout = "15s"

      resources {
        cpu    = 100
        memory = 96
      }
    }
  }

  group "bridge" {
    # The bridge queue has a single active consumer: the second replica stands by.
    count = 2

    network {
      port "http" {
        to = 8005
      }
    }

    service {
      provider = "nomad"
      name     = "event-bridge"
      port     = "http"
      tags     = ["shop", "metrics"]

      check {
        name     = "ready"
        type     = "http"
        path     = "/health/ready"
        interval = "10s"
        timeout  = "2s"
      }

      check {
        name     = "live"
        type     = "http"
        path     = "/health/live"
        interval = "10s"
        timeout  = "2s"

        check_restart {
          limit = 3
          grace = "30s"
        }
      }
    }

    restart {
      attempts = 3
      interval = "5m"
      delay    = "10s"
      mode     = "delay"
    }

    task "event-bridge" {
      driver = "docker"

      config {
        image = "shop/event-bridge:${var.version}"
        ports = ["http"]
      }

      env {
        LOG_FORMAT = "json"
        LOG_LEVEL  = "info"
      }

      template {
        destination = "secrets/service.env"
        env         = true
        change_mode = "restart"
        data        = <<-EOT
          {{ range nomadService "rabbitmq" }}AMQP_URL=amqp://shop:{{ with nomadVar "nomad/jobs/shop" }}{{ .rabbitmq_password }}{{ end }}@{{ .Address }}:{{ .Port }}/%2f{{ end }}
          {{ range nomadService "nats" }}NATS_URL=nats://{{ .Address }}:{{ .Port }}{{ end }}
          {{ range nomadService "jaeger-otlp" }}OTEL_EXPORTER_OTLP_ENDPOINT=http://{{ .Address }}:{{ .Port }}{{ end }}
        EOT
      }

      # Drain window: SIGTERM, then SHUTDOWN_TIMEOUT_SECS (10 s) for requests and deliveries in hand.
      kill_timeout = "15s"

      resources {
        cpu    = 100
        memory = 96
      }
    }
  }

  group "storefront" {
    # Each replica follows the order events with a durable consumer of its own.
    count = 2

    network {
      port "http" {
        to = 8006
      }
    }

    service {
      provider = "nomad"
      name     = "storefront"
      port     = "http"
      tags     = ["shop", "metrics"]

      check {
        name     = "ready"
        type     = "http"
        path     = "/health/ready"
        interval = "10s"
        timeout  = "2s"
      }

      check {
        name     = "live"
        type     = "http"
        path     = "/health/live"
        interval = "10s"
        timeout  = "2s"

        check_restart {
          limit = 3
          grace = "30s"
        }
      }
    }

    restart {
      attempts = 3
      interval = "5m"
      delay    = "10s"
      mode     = "delay"
    }

    task "storefront" {
      driver = "docker"

      config {
        image = "shop/storefront:${var.version}"
        ports = ["http"]
      }

      env {
        LOG_FORMAT = "json"
        LOG_LEVEL  = "info"
        # Stable while the allocation lives (task restarts resume the consumer); a replaced
        # allocation starts a new one and the old expires after a day unused.
        STOREFRONT_CONSUMER = "storefront-${NOMAD_ALLOC_ID}"
      }

      template {
        destination = "secrets/service.env"
        env         = true
        change_mode = "restart"
        data        = <<-EOT
          {{ range nomadService 1 (env "NOMAD_ALLOC_ID") "user-service" }}USER_SERVICE_URL=http://{{ .Address }}:{{ .Port }}{{ end }}
          {{ range nomadService 1 (env "NOMAD_ALLOC_ID") "product-service" }}PRODUCT_SERVICE_URL=http://{{ .Address }}:{{ .Port }}{{ end }}
          {{ range nomadService 1 (env "NOMAD_ALLOC_ID") "order-service" }}ORDER_SERVICE_URL=http://{{ .Address }}:{{ .Port }}{{ end }}
          {{ range nomadService "nats" }}NATS_URL=nats://{{ .Address }}:{{ .Port }}{{ end }}
          {{ with nomadVar "nomad/jobs/shop" }}STOREFRONT_CSRF_SECRET={{ .storefront_csrf_secret }}{{ end }}
          {{ range nomadService "jaeger-otlp" }}OTEL_EXPORTER_OTLP_ENDPOINT=http://{{ .Address }}:{{ .Port }}{{ end }}
        EOT
      }

      # Drain window: SIGTERM, then SHUTDOWN_TIMEOUT_SECS (10 s); open live streams end at once.
      kill_timeout = "15s"

      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}
