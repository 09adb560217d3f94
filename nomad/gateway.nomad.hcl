# The API gateway on Nomad: HAProxy with the routes written once for every platform
# (gateway/haproxy/routes.cfg) and backends rendered from Nomad's native service discovery.
# Run from the repository root, after nomad/shop.nomad.hcl:
#
#   nomad var put nomad/jobs/shop-gateway tls_cert=@fullchain.pem tls_key=@privkey.pem
#   nomad job run nomad/gateway.nomad.hcl
#
# Clients reach the public API over HTTPS on port 8443 of the gateway's node (the certificate
# and key from the Nomad variable above); plain HTTP on 8080 only redirects to HTTPS. Internal
# routes, /metrics, /health details and the notification and bridge services are not routed.
# Only `web` and `web-redirect` are on the node's public address. The task uses host
# networking; the backends are on the nodes' `private` host network (nomad/shop.nomad.hcl), so
# the gateway's connections to them come from its node's private address. The `gateway`
# service is registered at that address (its admin port, `ping`, on the private network),
# which is what the services' TRUSTED_PROXIES is rendered from (nomadService "gateway").
#
# A replica registered, moved or gone re-renders the backends, and a renewed certificate the
# PEM file; either way Nomad sends SIGUSR2 and HAProxy's master process reloads the
# configuration into new workers while the old ones finish their requests.

variable "haproxy_version" {
  type        = string
  default     = "2.6.12"
  description = "The HAProxy release of the image (`haproxy:<version>-alpine`); the same compose pins and the tests run."
}

variable "datacenters" {
  type    = list(string)
  default = ["dc1"]
}

job "shop-gateway" {
  datacenters = var.datacenters
  type        = "service"

  update {
    max_parallel     = 1
    auto_revert      = true
    min_healthy_time = "10s"
    healthy_deadline = "2m"
  }

  group "gateway" {
    count = 1

    network {
      mode = "host"
      port "web" {
        static = 8443
      }
      port "web-redirect" {
        static = 8080
      }
      # HAProxy's admin entry point (/ping, /stats), bound to this address only
      # (GATEWAY_ADMIN_BIND).
      port "ping" {
        static       = 8081
        host_network = "private"
      }
    }

    service {
      provider = "nomad"
      name     = "gateway"
      port     = "ping"

      check {
        name     = "ping"
        type     = "http"
        port     = "ping"
        path     = "/ping"
        interval = "10s"
        timeout  = "2s"

        check_restart {
          limit = 3
          grace = "30s"
        }
      }
    }

    task "haproxy" {
      driver = "docker"

      config {
        image        = "haproxy:${var.haproxy_version}-alpine"
        network_mode = "host"
        # Hardened: a read-only root file system, no capabilities, no privilege gain. HAProxy
        # writes no file, and the image runs it as its own unprivileged user (uid 99).
        readonly_rootfs = true
        cap_drop        = ["ALL"]
        security_opt    = ["no-new-privileges"]
        # Master-worker in the foreground (-W -db): the master reloads on SIGUSR2, which the
        # templates below send. The image's entrypoint adds the same two flags; they are
        # written here so that the reload does not hang on what an entrypoint does.
        args = [
          "-W",
          "-db",
          "-f",
          "${NOMAD_TASK_DIR}/routes.cfg",
          "-f",
          "${NOMAD_TASK_DIR}/backends.cfg",
        ]
      }

      # What routes.cfg reads from the environment.
      env {
        GATEWAY_WEB_BIND      = ":8443"
        GATEWAY_REDIRECT_BIND = ":8080"
        GATEWAY_HTTPS_PORT    = "8443"
        # /ping and /stats: on the private address only.
        GATEWAY_ADMIN_BIND = "${NOMAD_ADDR_ping}"
        GATEWAY_CERT       = "${NOMAD_SECRETS_DIR}/gateway.pem"
      }

      # The routes as written once. Nomad's own template actions use [[ ]] here, so that
      # nothing in the file is ever taken for one.
      template {
        destination     = "local/routes.cfg"
        data            = file("gateway/haproxy/routes.cfg")
        left_delimiter  = "[["
        right_delimiter = "]]"
        change_mode     = "noop"
      }

      # The certificate and its key in one PEM file, as HAProxy loads them, from the job's
      # Nomad variable; readable by HAProxy's user in the image only. A renewed certificate is
      # loaded by a reload.
      template {
        destination   = "secrets/gateway.pem"
        perms         = "400"
        uid           = 99
        gid           = 99
        change_mode   = "signal"
        change_signal = "SIGUSR2"
        data          = <<-EOT
          {{ with nomadVar "nomad/jobs/shop-gateway" -}}
          {{ .tls_cert | trimSpace }}
          {{ .tls_key | trimSpace }}
          {{ end -}}
        EOT
      }

      # Discovery: a server per registered replica, probed by HAProxy on /health/ready (the
      # `defaults replicas` section of routes.cfg). A scaled, moved or stopped replica
      # re-renders the file, and SIGUSR2 reloads HAProxy without dropping a connection.
      template {
        destination   = "local/backends.cfg"
        change_mode   = "signal"
        change_signal = "SIGUSR2"
        data          = <<-EOT
          backend user
          {{- range nomadService "user-service" }}
              server {{ .Address }}:{{ .Port }} {{ .Address }}:{{ .Port }}
          {{- end }}

          backend product
          {{- range nomadService "product-service" }}
              server {{ .Address }}:{{ .Port }} {{ .Address }}:{{ .Port }}
          {{- end }}

          backend order
          {{- range nomadService "order-service" }}
              server {{ .Address }}:{{ .Port }} {{ .Address }}:{{ .Port }}
          {{- end }}

          backend storefront
          {{- range nomadService "storefront" }}
              server {{ .Address }}:{{ .Port }} {{ .Address }}:{{ .Port }}
          {{- end }}
        EOT
      }

      # Stopping is a soft stop (SIGUSR1, as the image's STOPSIGNAL): no new connection, the
      # requests in flight finish, for up to kill_timeout.
      kill_signal  = "SIGUSR1"
      kill_timeout = "15s"

      resources {
        cpu    = 300
        memory = 128
      }
    }
  }
}
