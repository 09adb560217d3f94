# One OCI image per service binary: layered, non-root, CA certificates, no shell, tagged with the
# workspace version. Loaded with `docker load < result` and named shop/<binary>:<version>.
{ pkgs, binaries, version, ports }:
let
  image = name: bin: pkgs.dockerTools.buildLayeredImage {
    name = "shop/${name}";
    tag = version;
    # The binary is also linked at /bin/<name>, for the container healthcheck
    # (`/bin/<name> healthcheck`, which needs no shell).
    contents = [ pkgs.cacert bin ];
    # A writable /tmp owned by nobody in particular; nothing else exists besides the closure.
    extraCommands = ''
      mkdir -p tmp
      chmod 1777 tmp
    '';
    config = {
      Entrypoint = [ "${bin}/bin/${name}" ];
      # An unprivileged user that exists in no image: the binary needs no passwd entry.
      User = "65532:65532";
      ExposedPorts = { "${toString ports.${name}}/tcp" = { }; };
      Env = [
        "SSL_CERT_FILE=${pkgs.cacert}/etc/ssl/certs/ca-bundle.crt"
        "LOG_FORMAT=json"
        "PORT=${toString ports.${name}}"
      ];
      Labels = {
        "org.opencontainers.image.title" = name;
        "org.opencontainers.image.version" = version;
        "org.opencontainers.image.source" = "https://github.com/shop/shop-backend";
      };
    };
  };
in
builtins.mapAttrs image binaries
