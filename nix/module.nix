# NixOS module: `prisn server` (remote mode, issue 11) as a hardened systemd service.
#
#   imports = [ prisn.nixosModules.default ];
#   services.prisn-server = {
#     enable = true;
#     listen = "0.0.0.0:7331";
#     tls.certFile = "/run/secrets/prisn/server.crt";   # optional: without them the server
#     tls.keyFile = "/run/secrets/prisn/server.key";    # makes its own CA in dataDir
#     openFirewall = true;
#   };
#
# The data directory (SQLite state, the content-addressed store, tokens, its CA) is
# StateDirectory-managed, mode 0700, owned by the service's user. TLS files are handed over
# with systemd's LoadCredential, so they can stay 0600 root-owned where they are: the service
# reads its private copy under $CREDENTIALS_DIRECTORY, nobody else can.
#
# NOT exercised in CI (no nixpkgs there): tests/run.sh only parses this file. The flags
# follow issue 11 (`--listen`, `--data`, `--cert`/`--key`); check them against
# `prisn server --help` of the version you deploy, and use extraArgs for the rest.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  cfg = config.services.prisn-server;
  inherit (lib) mkEnableOption mkOption mkIf types optionals;
  port = lib.toInt (lib.last (lib.splitString ":" cfg.listen));
  tls = cfg.tls.certFile != null;
in
{
  options.services.prisn-server = {
    enable = mkEnableOption "the prisn API server (remote mode)";

    package = mkOption {
      type = types.package;
      default = pkgs.callPackage ./package.nix { };
      defaultText = lib.literalExpression "pkgs.callPackage ./nix/package.nix { }";
      description = "The prisn package whose `prisn server` runs.";
    };

    listen = mkOption {
      type = types.str;
      default = "127.0.0.1:7331";
      example = "0.0.0.0:7331";
      description = "Address and port to serve HTTPS on (`--listen`).";
    };

    dataDir = mkOption {
      type = types.str;
      default = "/var/lib/prisn";
      description = ''
        The server's data directory (`--data`): state, store, tokens and its CA. Under
        /var/lib it is the service's StateDirectory (created 0700 for its user).
      '';
    };

    tls = {
      certFile = mkOption {
        type = types.nullOr types.path;
        default = null;
        description = "PEM certificate chain (`--cert`); null: the server's own CA in dataDir.";
      };
      keyFile = mkOption {
        type = types.nullOr types.path;
        default = null;
        description = "PEM private key (`--key`), read through LoadCredential.";
      };
    };

    extraArgs = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "More arguments for `prisn server`.";
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Open the listen port in the firewall.";
    };
  };

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = (cfg.tls.certFile == null) == (cfg.tls.keyFile == null);
        message = "services.prisn-server: set both tls.certFile and tls.keyFile, or neither.";
      }
    ];

    users.users.prisn = {
      isSystemUser = true;
      group = "prisn";
      home = cfg.dataDir;
    };
    users.groups.prisn = { };

    networking.firewall.allowedTCPPorts = optionals cfg.openFirewall [ port ];

    systemd.services.prisn-server = {
      description = "prisn API server";
      wantedBy = [ "multi-user.target" ];
      after = [ "network-online.target" ];
      wants = [ "network-online.target" ];
      environment.PRISN_HOME = cfg.dataDir;
      serviceConfig = {
        ExecStart = lib.escapeShellArgs (
          [
            "${cfg.package}/bin/prisn"
            "server"
            "--listen"
            cfg.listen
            "--data"
            cfg.dataDir
          ]
          ++ optionals tls [
            "--cert"
            "%d/server.crt"
            "--key"
            "%d/server.key"
          ]
          ++ cfg.extraArgs
        );
        LoadCredential = optionals tls [
          "server.crt:${cfg.tls.certFile}"
          "server.key:${cfg.tls.keyFile}"
        ];
        User = "prisn";
        Group = "prisn";
        Restart = "on-failure";
        # The data directory: created for the user, nobody else may read it.
        StateDirectory = lib.mkIf (lib.hasPrefix "/var/lib/" cfg.dataDir) (lib.removePrefix "/var/lib/" cfg.dataDir);
        StateDirectoryMode = "0700";
        ReadWritePaths = [ cfg.dataDir ];
        UMask = "0077";
        # Hardening. The server runs users' scripts in the local mode's sandbox (its own
        # user, mount and pid namespaces, cgroup limits, seccomp), so namespaces and a
        # delegated cgroup subtree stay allowed; everything else is shut.
        Delegate = true;
        NoNewPrivileges = true;
        ProtectSystem = "strict";
        ProtectHome = true;
        PrivateTmp = true;
        PrivateDevices = true;
        ProtectKernelTunables = true;
        ProtectKernelModules = true;
        ProtectKernelLogs = true;
        ProtectControlGroups = false; # the sandbox writes its limits to the delegated cgroup
        ProtectClock = true;
        ProtectHostname = true;
        RestrictSUIDSGID = true;
        RestrictRealtime = true;
        LockPersonality = true;
        RestrictAddressFamilies = [ "AF_UNIX" "AF_INET" "AF_INET6" "AF_NETLINK" ];
        SystemCallArchitectures = "native";
        CapabilityBoundingSet = [ "" ];
        AmbientCapabilities = [ "" ];
      };
    };
  };
}
