{
  description = "Shop backend: Rust microservices, their OCI images, a development shell and local infrastructure";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.05";
    flake-utils.url = "github:numtide/flake-utils";
    crane.url = "github:ipetkov/crane";
    rust-overlay = {
      url = "github:oxalica/rust-overlay";
      inputs.nixpkgs.follows = "nixpkgs";
    };
  };

  outputs = { self, nixpkgs, flake-utils, crane, rust-overlay }:
    flake-utils.lib.eachSystem [ "x86_64-linux" "aarch64-linux" ] (system:
      let
        pkgs = import nixpkgs {
          inherit system;
          overlays = [ (import rust-overlay) ];
        };
        # The toolchain the workspace pins (rust-version in Cargo.toml).
        toolchain = pkgs.rust-bin.stable."1.95.0".default.override {
          extensions = [ "rust-src" "clippy" "rustfmt" ];
        };
        craneLib = (crane.mkLib pkgs).overrideToolchain toolchain;
        workspace = import ./nix/workspace.nix { inherit pkgs craneLib; };
        images = import ./nix/images.nix {
          inherit pkgs;
          inherit (workspace) binaries version ports;
        };
        infra = import ./nix/infra.nix { inherit pkgs; };
      in
      {
        packages = workspace.binaries
          // pkgs.lib.mapAttrs' (name: image: pkgs.lib.nameValuePair "image-${name}" image) images
          // {
            default = workspace.all;
            inherit infra;
          };

        apps = {
          # `nix run .#infra`: PostgreSQL, Redis, RabbitMQ and NATS for local development.
          infra = flake-utils.lib.mkApp { drv = infra; exePath = "/bin/shop-infra"; };
        } // pkgs.lib.mapAttrs (name: bin: flake-utils.lib.mkApp { drv = bin; exePath = "/bin/${name}"; }) workspace.binaries;

        devShells.default = import ./nix/shell.nix { inherit pkgs toolchain infra; };

        checks = workspace.checks { inherit infra; };

        formatter = pkgs.nixpkgs-fmt;
      });
}
