# The shop's services and the event bridge on Nomad, found through Nomad's native service
# discovery (provider = "nomad"; no Consul). Run after nomad/infrastructure.nomad.hcl:
#
#   nomad var put nomad/jobs/shop \
#     users_db_owner_password=... users_db_app_password=... \
#     products_db_owner_password=... products_db_app_password=... \
#     orders_db_owner_password=... orders_db_app_password=... \
#     rabbitmq_order_password=... rabbitmq_notification_password=... \
#     rabbitmq_bridge_password=... redis_password=... \
#     nats_bridge_password=... nats_storefront_password=... \
#     jwt_secret=... service_token=... bootstrap_admin_username=admin bootstrap_admin_password=... \
#     storefront_csrf_secret=...
#
# Each service connects with credentials of its own: its database's <db>_app role (rows only)
# and <db>_owner role (DATABASE_MIGRATION_URL: the migrations at start), its own RabbitMQ
# user, the Redis password, and (bridge, storefront) its own NATS user: `bridge` may publish
# the order events, `storefront` may only read them (deploy/nats/shop.conf). The passwords are the ones
# nomad/jobs/shop-infrastructure gives the databases and brokers.
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
# Clients come in through nomad/gateway.nomad.hcl; the user, product, order and storefront
# services believe X-Forwarded-For only from the gateway's private address (TRUSTED_PROXIES,
# from nomadService "gateway", which the gateway registers at that address). Every service
# port is on the client's `private` host network: nothing here is published on a public
# address.
#
# Each group's service has two checks: /health/ready (routing: an unready replica is taken out
# of nomadService answers) and /health/live (restart a replica that stops answering).
#
# The groups differ only in what `var.services` holds (port, replicas, resources, the
# environment template); one `dynamic "group"` block writes them all, so a check, a restart
# policy or a drain window is changed in one place.

variable "version" {
  type        = string
  default     = "0.1.0"
  description = "Image tag of every service (the workspace version)."
}

variable "datacenters" {
  type    = list(string)
  default = ["dc1"]
}

variable "services" {
  description = "Each service binary's group: name, port, replicas, resources, environment."
  type = map(object({
    group  = string
    port   = number
    count  = number
    cpu    = number
    memory = number
    # Rendered into the task's environment: dependencies' addresses from nomadService, secrets
    # from the job's Nomad variable, and the service's own settings.
    environment = string
  }))
  default = {
    "user-service" = {
      group       = "user"
      port        = 8001
      count       = 2
      cpu         = 300
      memory      = 256
      environment = <<-EOT
        SHUTDOWN_DRAIN_MS=8000
        DB_CREATE_DATABASE=false
        {{ range nomadService "users-db" }}DATABASE_URL=postgres://users_app:{{ with nomadVar "nomad/jobs/shop" }}{{ .users_db_app_password }}{{ end }}@{{ .Address }}:{{ .Port }}/users{{ end }}
        {{ range nomadService "users-db" }}DATABASE_MIGRATION_URL=postgres://users_owner:{{ with nomadVar "nomad/jobs/shop" }}{{ .users_db_owner_password }}{{ end }}@{{ .Address }}:{{ .Port }}/users{{ end }}
        {{ with nomadVar "nomad/jobs/shop" }}JWT_SECRET={{ .jwt_secret }}
        BOOTSTRAP_ADMIN_USERNAME={{ .bootstrap_admin_username }}
        BOOTSTRAP_ADMIN_PASSWORD={{ .bootstrap_admin_password }}
        SERVICE_TOKEN={{ .service_token }}{{ end }}
        {{ range nomadService "redis" }}REDIS_URL=redis://:{{ with nomadVar "nomad/jobs/shop" }}{{ .redis_password }}{{ end }}@{{ .Address }}:{{ .Port }}{{ end }}
        {{ range nomadService "jaeger-otlp" }}OTEL_EXPORTER_OTLP_ENDPOINT=http://{{ .Address }}:{{ .Port }}{{ end }}
        TRUSTED_PROXIES={{ range nomadService "gateway" }}{{ .Address }},{{ end }}
      EOT
    }
    "product-service" = {
      group       = "product"
      port        = 8002
      count       = 2
      cpu         = 200
      memory      = 128
      environment = <<-EOT
        SHUTDOWN_DRAIN_MS=8000
        DB_CREATE_DATABASE=false
        {{ range nomadService "products-db" }}DATABASE_URL=postgres://products_app:{{ with nomadVar "nomad/jobs/shop" }}{{ .products_db_app_password }}{{ end }}@{{ .Address }}:{{ .Port }}/products{{ end }}
        {{ range nomadService "products-db" }}DATABASE_MIGRATION_URL=postgres://products_owner:{{ with nomadVar "nomad/jobs/shop" }}{{ .products_db_owner_password }}{{ end }}@{{ .Address }}:{{ .Port }}/products{{ end }}
        {{ range nomadService "redis" }}REDIS_URL=redis://:{{ with nomadVar "nomad/jobs/shop" }}{{ .redis_password }}{{ end }}@{{ .Address }}:{{ .Port }}{{ end }}
        {{ range nomadService 1 (env "NOMAD_ALLOC_ID") "user-service" }}USER_SERVICE_URL=http://{{ .Address }}:{{ .Port }}{{ end }}
        {{ with nomadVar "nomad/jobs/shop" }}SERVICE_TOKEN={{ .service_token }}{{ end }}
        {{ range nomadService "jaeger-otlp" }}OTEL_EXPORTER_OTLP_ENDPOINT=http://{{ .Address }}:{{ .Port }}{{ end }}
        TRUSTED_PROXIES={{ range nomadService "gateway" }}{{ .Address }},{{ end }}
      EOT
    }
    "order-service" = {
      group       = "order"
      port        = 8003
      count       = 2
      cpu         = 200
      memory      = 128
      environment = <<-EOT
        SHUTDOWN_DRAIN_MS=8000
        DB_CREATE_DATABASE=false
        {{ range nomadService "orders-db" }}DATABASE_URL=postgres://orders_app:{{ with nomadVar "nomad/jobs/shop" }}{{ .orders_db_app_password }}{{ end }}@{{ .Address }}:{{ .Port }}/orders{{ end }}
        {{ range nomadService "orders-db" }}DATABASE_MIGRATION_URL=postgres://orders_owner:{{ with nomadVar "nomad/jobs/shop" }}{{ .orders_db_owner_password }}{{ end }}@{{ .Address }}:{{ .Port }}/orders{{ end }}
        {{ range nomadService 1 (env "NOMAD_ALLOC_ID") "user-service" }}USER_SERVICE_URL=http://{{ .Address }}:{{ .Port }}{{ end }}
        {{ range nomadService 1 (env "NOMAD_ALLOC_ID") "product-service" }}PRODUCT_SERVICE_URL=http://{{ .Address }}:{{ .Port }}{{ end }}
        {{ range nomadService "rabbitmq" }}AMQP_URL=amqp://shop-order:{{ with nomadVar "nomad/jobs/shop" }}{{ .rabbitmq_order_password }}{{ end }}@{{ .Address }}:{{ .Port }}/%2f{{ end }}
        {{ with nomadVar "nomad/jobs/shop" }}SERVICE_TOKEN={{ .service_token }}{{ end }}
        {{ range nomadService "jaeger-otlp" }}OTEL_EXPORTER_OTLP_ENDPOINT=http://{{ .Address }}:{{ .Port }}{{ end }}
        TRUSTED_PROXIES={{ range nomadService "gateway" }}{{ .Address }},{{ end }}
      EOT
    }
    # Competing consumers on one queue: at least two workers, sharing their dedup record.
    "notification-service" = {
      group       = "notification"
      port        = 8004
      count       = 2
      cpu         = 100
      memory      = 96
      environment = <<-EOT
        NOTIFY_CHANNELS=log
        NOTIFY_ROUTING_KEYS=order.created,order.status_changed
        NOTIFY_DEDUP_STORE=redis
        {{ range nomadService "redis" }}REDIS_URL=redis://:{{ with nomadVar "nomad/jobs/shop" }}{{ .redis_password }}{{ end }}@{{ .Address }}:{{ .Port }}{{ end }}
        {{ range nomadService "rabbitmq" }}AMQP_URL=amqp://shop-notification:{{ with nomadVar "nomad/jobs/shop" }}{{ .rabbitmq_notification_password }}{{ end }}@{{ .Address }}:{{ .Port }}/%2f{{ end }}
        {{ range nomadService "jaeger-otlp" }}OTEL_EXPORTER_OTLP_ENDPOINT=http://{{ .Address }}:{{ .Port }}{{ end }}
      EOT
    }
    # The bridge queue has a single active consumer: the second replica stands by.
    "event-bridge" = {
      group       = "bridge"
      port        = 8005
      count       = 2
      cpu         = 100
      memory      = 96
      environment = <<-EOT
        {{ range nomadService "rabbitmq" }}AMQP_URL=amqp://shop-bridge:{{ with nomadVar "nomad/jobs/shop" }}{{ .rabbitmq_bridge_password }}{{ end }}@{{ .Address }}:{{ .Port }}/%2f{{ end }}
        {{ range nomadService "nats" }}NATS_URL=nats://bridge:{{ with nomadVar "nomad/jobs/shop" }}{{ .nats_bridge_password }}{{ end }}@{{ .Address }}:{{ .Port }}{{ end }}
        {{ range nomadService "jaeger-otlp" }}OTEL_EXPORTER_OTLP_ENDPOINT=http://{{ .Address }}:{{ .Port }}{{ end }}
      EOT
    }
    # Each replica follows the order events with a durable consumer of its own, named after
    # its allocation: stable across task restarts; a replaced allocation starts a new one and
    # the old expires after a day unused. Open live streams end at once on SIGTERM.
    "storefront" = {
      group       = "storefront"
      port        = 8006
      count       = 2
      cpu         = 100
      memory      = 64
      environment = <<-EOT
        SHUTDOWN_DRAIN_MS=8000
        STOREFRONT_CONSUMER=storefront-{{ env "NOMAD_ALLOC_ID" }}
        {{ range nomadService 1 (env "NOMAD_ALLOC_ID") "user-service" }}USER_SERVICE_URL=http://{{ .Address }}:{{ .Port }}{{ end }}
        {{ range nomadService 1 (env "NOMAD_ALLOC_ID") "product-service" }}PRODUCT_SERVICE_URL=http://{{ .Address }}:{{ .Port }}{{ end }}
        {{ range nomadService 1 (env "NOMAD_ALLOC_ID") "order-service" }}ORDER_SERVICE_URL=http://{{ .Address }}:{{ .Port }}{{ end }}
        {{ range nomadService "nats" }}NATS_URL=nats://storefront:{{ with nomadVar "nomad/jobs/shop" }}{{ .nats_storefront_password }}{{ end }}@{{ .Address }}:{{ .Port }}{{ end }}
        {{ with nomadVar "nomad/jobs/shop" }}STOREFRONT_CSRF_SECRET={{ .storefront_csrf_secret }}
        SERVICE_TOKEN={{ .service_token }}{{ end }}
        {{ range nomadService "redis" }}REDIS_URL=redis://:{{ with nomadVar "nomad/jobs/shop" }}{{ .redis_password }}{{ end }}@{{ .Address }}:{{ .Port }}{{ end }}
        {{ range nomadService "jaeger-otlp" }}OTEL_EXPORTER_OTLP_ENDPOINT=http://{{ .Address }}:{{ .Port }}{{ end }}
        TRUSTED_PROXIES={{ range nomadService "gateway" }}{{ .Address }},{{ end }}
      EOT
    }
  }
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

  dynamic "group" {
    for_each = var.services
    labels   = [group.value.group]

    content {
      count = group.value.count

      # The service port (API, /internal, /metrics, /docs) on the nodes' private network only:
      # the gateway, the other services and Prometheus reach it there; clients only through
      # the gateway (docs/deploy.md: the client's host_network "private").
      network {
        port "http" {
          to           = group.value.port
          host_network = "private"
        }
      }

      service {
        provider = "nomad"
        name     = group.key
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

      # The task is named after the binary; a block label cannot be an expression, hence the
      # one-element dynamic block.
      dynamic "task" {
        for_each = [group.key]
        labels   = [task.value]

        content {
          driver = "docker"

          config {
            image = "shop/${group.key}:${var.version}"
            ports = ["http"]
            # Hardened: a read-only root file system, no capabilities, no privilege gain.
            readonly_rootfs = true
            cap_drop        = ["ALL"]
            security_opt    = ["no-new-privileges"]
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
            LOG_FORMAT = "json"
            LOG_LEVEL  = "info"
          }

          template {
            destination = "secrets/service.env"
            env         = true
            change_mode = "restart"
            data        = group.value.environment
          }

          # Drain window: SIGTERM, then SHUTDOWN_DRAIN_MS (8 s behind the gateway, whose check
          # runs every second with a 2 s timeout) while readiness answers 503, then
          # SHUTDOWN_TIMEOUT_SECS (10 s) for requests and deliveries in hand.
          kill_timeout = "20s"

          resources {
            cpu    = group.value.cpu
            memory = group.value.memory
          }
        }
      }
    }
  }
}
