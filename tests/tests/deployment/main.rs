//! Deployment files checked offline, and the observability configuration checked against the
//! real services:
//!
//! - [`configuration`]: docs/configuration.md is what the services' settings sections render.
//! - [`flake_lock`]: flake.lock pins every input of flake.nix at a rev with its narHash.
//! - [`nix`]: every `.nix` file parses; every binary has a package, an image and a port.
//! - [`cache_redis`]: the cache Redis persists nothing and has bounded memory.
//! - [`compose`]: `compose.yaml` validates and is structurally sound (health, start order,
//!   scaling, networks, volumes).
//! - [`drain`]: replicas behind the gateway drain for longer than its health check takes to
//!   see them, and compose and Nomad wait for that before killing them.
//! - [`edge`]: compose and Nomad run the pinned HAProxy with the shared routes file, over TLS,
//!   reloading on SIGUSR2 under Nomad; the routes name only the public services.
//! - [`gateway_routes`]: the real HAProxy with the routes file in front of stub backends: the
//!   routing, the hidden paths, the stripped internal headers, HSTS and nosniff, the redirect
//!   to HTTPS, the credential rate limit; every platform's backends file loads with it.
//! - [`hardening`]: no Docker socket, hardened containers, UIs on loopback, credentials of
//!   each service's own for the broker, the databases, Redis and NATS.
//! - [`nats_users`]: a real nats-server with the deployed users: the storefront reads the
//!   events, cannot publish them or touch the stream; the bridge publishes.
//! - [`nomad`]: the Nomad job files parse as HCL2 and hold what a deployable job needs, once
//!   their `dynamic` blocks are expanded ([`hcl_dynamic`]).
//! - [`published`]: only the gateway is published on a public address, under Nomad and compose.
//! - [`settings`]: every environment variable compose and Nomad give a service is a setting that
//!   service reads, as listed from its configuration types.
//! - [`accepted`]: the environment compose and Nomad give each service passes its production
//!   configuration loader (with generated secrets).
//! - [`secrets`]: every secret `.env.example` publishes is refused in production, naming the key.
//! - [`grafana`]: dashboards, data sources, Loki and Promtail against real log lines.
//! - [`prometheus`]: `promtool` checks the scrape configurations, the rules and their unit tests.
//! - [`workflow`]: actionlint accepts the GitHub workflow; its test job brings what the tests
//!   start themselves.
//! - [`live`]: a real Prometheus scrapes the services under traffic; every dashboard panel's and
//!   every rule's query returns data.

mod accepted;
mod cache_redis;
mod compose;
mod configuration;
mod drain;
mod edge;
mod flake_lock;
mod gateway_routes;
mod grafana;
mod haproxy;
mod hardening;
mod hcl_dynamic;
mod live;
mod nats_users;
mod nix;
mod nomad;
mod prometheus;
mod promql;
mod published;
mod secrets;
mod settings;
mod support;
mod workflow;
