# The API gateway on Nomad: Traefik with the routes written once for every platform
# (gateway/traefik/routes.yml) and backends rendered from Nomad's native service discovery.
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
# service is registered at that address (its ping port, on the private network), which is
# what the services' TRUSTED_PROXIES is rendered from (nomadService "gateway").

variable "traefik_version" {
  type        = string
  default     = "v3.7.15"
  description = "The Traefik image tag; the same release the local tools and compose pin."
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
      # Traefik's ping entry point, bound to this address only (see args).
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

    task "traefik" {
      driver = "docker"

      config {
        image        = "traefik:${var.traefik_version}"
        network_mode = "host"
        # Hardened: a read-only root file system, no capabilities, no privilege gain.
        readonly_rootfs = true
        cap_drop        = ["ALL"]
        security_opt    = ["no-new-privileges"]
        args = [
          "--entrypoints.web.address=:8443",
          "--entrypoints.web.http.tls=true",
          "--entrypoints.web-redirect.address=:8080",
          "--entrypoints.web-redirect.http.redirections.entrypoint.to=web",
          "--entrypoints.web-redirect.http.redirections.entrypoint.scheme=https",
          "--entrypoints.traefik.address=${NOMAD_ADDR_ping}",
          "--ping=true",
          "--providers.file.directory=/local/dynamic",
          "--providers.file.watch=true",
          "--global.checknewversion=false",
          "--global.sendanonymoususage=false",
        ]
      }

      # The routes as written once. Nomad's own template actions use [[ ]] here so that any
      # {{ }} in the file (Traefik's own templating) reaches Traefik untouched.
      template {
        destination     = "local/dynamic/routes.yml"
        data            = file("gateway/traefik/routes.yml")
        left_delimiter  = "[["
        right_delimiter = "]]"
        change_mode     = "noop"
      }

      # The certificate: from the job's Nomad variable, served to every client.
      template {
        destination = "secrets/gateway-tls-cert"
        change_mode = "restart"
        data        = "{{ with nomadVar \"nomad/jobs/shop-gateway\" }}{{ .tls_cert }}{{ end }}"
      }
      template {
        destination = "secrets/gateway-tls-key"
        change_mode = "restart"
        perms       = "600"
        data        = "{{ with nomadVar \"nomad/jobs/shop-gateway\" }}{{ .tls_key }}{{ end }}"
      }
      template {
        destination = "local/dynamic/tls.yml"
        change_mode = "noop"
        data        = replace(file("gateway/traefik/tls.yml"), "/run/secrets/gateway-tls-", "/secrets/gateway-tls-")
      }

      # Discovery: every registered replica, probed by the gateway on /health/ready as well.
      # Traefik watches the directory, so a scaled or moved replica needs no restart.
      template {
        destination = "local/dynamic/backends.yml"
        change_mode = "noop"
        data        = <<-EOT
          http:
            services:
              user:
                loadBalancer:
                  healthCheck: { path: /health/ready, interval: 5s, timeout: 2s }
                  servers:
          {{- range nomadService "user-service" }}
                    - url: "http://{{ .Address }}:{{ .Port }}"
          {{- end }}
              product:
                loadBalancer:
                  healthCheck: { path: /health/ready, interval: 5s, timeout: 2s }
                  servers:
          {{- range nomadService "product-service" }}
                    - url: "http://{{ .Address }}:{{ .Port }}"
          {{- end }}
              order:
                loadBalancer:
                  healthCheck: { path: /health/ready, interval: 5s, timeout: 2s }
                  servers:
          {{- range nomadService "order-service" }}
                    - url: "http://{{ .Address }}:{{ .Port }}"
          {{- end }}
              storefront:
                loadBalancer:
                  healthCheck: { path: /health/ready, interval: 5s, timeout: 2s }
                  servers:
          {{- range nomadService "storefront" }}
                    - url: "http://{{ .Address }}:{{ .Port }}"
          {{- end }}
        EOT
      }

      kill_timeout = "15s"

      resources {
        cpu    = 300
        memory = 128
      }
    }
  }
}
