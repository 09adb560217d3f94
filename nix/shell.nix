# `nix develop`: the pinned Rust toolchain, the test runner, clients for every dependency, the
# load generator and the offline checkers the deployment tests use.
{ pkgs, toolchain, infra }:
pkgs.mkShell {
  packages = [
    toolchain
    pkgs.cargo-nextest
    pkgs.cargo-deny
    pkgs.postgresql_15
    pkgs.redis
    pkgs.rabbitmq-server
    pkgs.nats-server
    pkgs.natscli
    pkgs.prometheus
    pkgs.docker-compose
    pkgs.wrk
    pkgs.jq
    pkgs.curl
    infra
  ];
  shellHook = ''
    echo "shop: 'nix run .#infra' (or shop-infra) starts PostgreSQL, Redis, RabbitMQ and NATS; then 'cargo xtask up'"
  '';
}
