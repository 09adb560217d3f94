# The Cargo workspace built once with crane: dependencies are compiled in their own derivation
# (vendored from Cargo.lock), then one package per service binary reuses them.
{ pkgs, craneLib }:
let
  lib = pkgs.lib;
  manifest = builtins.fromTOML (builtins.readFile ../Cargo.toml);
  version = manifest.workspace.package.version;

  # Rust sources plus the SQL migrations the binaries embed at compile time.
  src = lib.cleanSourceWith {
    src = ../.;
    filter = path: type:
      (craneLib.filterCargoSources path type)
      || (builtins.match ".*/sql(/.*)?" path != null)
      || (builtins.match ".*/docs/events\\.md$" path != null);
  };

  # The test suite also reads the deployment files it checks (compose, Nomad, Prometheus,
  # Grafana, the Nix files themselves) and the generated event documents; kept out of `src` so
  # editing them rebuilds nothing.
  testSrc = lib.cleanSourceWith {
    src = ../.;
    filter = path: type:
      (src.filter path type)
      || (builtins.match ".*/(grafana|nomad|nix)(/.*)?" path != null)
      || (builtins.match ".*/(compose\\.yaml|\\.env\\.example|flake\\.nix)$" path != null)
      # The event contract's generated documents, compared with the types by a test.
      || (builtins.match ".*/docs/(events\\.schema|asyncapi)\\.json$" path != null);
  };

  commonArgs = {
    inherit src version;
    pname = "shop";
    strictDeps = true;
    cargoExtraArgs = "--locked";
  };

  cargoArtifacts = craneLib.buildDepsOnly commonArgs;

  # Service binaries: name = the crate that builds it.
  crates = {
    user-service = "user-service";
    product-service = "product-service";
    order-service = "order-service";
    notification-service = "notification-service";
    event-bridge = "event-bridge";
    storefront = "storefront";
  };

  # The port each binary listens on by default (images expose it).
  ports = {
    user-service = 8001;
    product-service = 8002;
    order-service = 8003;
    notification-service = 8004;
    event-bridge = 8005;
    storefront = 8006;
  };

  binary = name: crate: craneLib.buildPackage (commonArgs // {
    inherit cargoArtifacts;
    pname = name;
    cargoExtraArgs = "--locked --package ${crate} --bin ${name}";
    # The test suite needs live PostgreSQL, Redis, RabbitMQ and NATS: it runs in checks.tests.
    doCheck = false;
    meta.mainProgram = name;
  });

  binaries = lib.mapAttrs binary crates;
in
{
  inherit version ports binaries cargoArtifacts;

  all = pkgs.symlinkJoin {
    name = "shop-${version}";
    paths = lib.attrValues binaries;
  };

  checks = { infra }: {
    fmt = craneLib.cargoFmt { inherit src; };
    clippy = craneLib.cargoClippy (commonArgs // {
      inherit cargoArtifacts;
      cargoClippyExtraArgs = "--all-targets -- -D warnings";
    });
    # The whole suite against infrastructure started inside the build sandbox.
    tests = craneLib.cargoTest (commonArgs // {
      inherit cargoArtifacts;
      src = testSrc;
      # Private brokers of fault tests, the offline checkers and the live observability test's
      # Prometheus, Redis exporter and RabbitMQ node.
      nativeCheckInputs = [
        infra
        pkgs.redis
        pkgs.nats-server
        pkgs.rabbitmq-server
        pkgs.nix
        pkgs.docker-compose
        pkgs.prometheus
        pkgs.prometheus-redis-exporter
      ];
      preCheck = ''
        export HOME=$TMPDIR
        shop-infra --background "$TMPDIR/infra"
      '';
      postCheck = ''
        shop-infra --stop "$TMPDIR/infra"
      '';
    });
  };
}
