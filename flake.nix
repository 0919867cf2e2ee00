# prisn as a flake: the CLI and the operator (nix/package.nix), `nix run`, a dev shell with
# the tools tests/run.sh installs from Debian, and a NixOS module for `prisn server`
# (nix/module.nix).
#
# NOT exercised in CI: nixpkgs cannot be fetched from the CI machines, so no flake.lock is
# committed (`nix flake lock` writes one on first use) and tests/run.sh only parses the Nix
# files and evaluates what needs no nixpkgs (README, "Nix").
{
  description = "prisn: script to pinned lock to reproducible image to digest-pinned workload";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.05";

  outputs =
    { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAll = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
      gitRevision = self.rev or null;
    in
    {
      packages = forAll (pkgs: rec {
        prisn = pkgs.callPackage ./nix/package.nix { inherit gitRevision; };
        prisn-operator = pkgs.callPackage ./nix/package.nix {
          inherit gitRevision;
          binaries = [ "prisn-operator" ];
        };
        default = prisn;
      });

      apps = forAll (pkgs: {
        default = {
          type = "app";
          program = "${self.packages.${pkgs.stdenv.hostPlatform.system}.prisn}/bin/prisn";
        };
      });

      # What tests/run.sh installs with apt (plus the Rust toolchain and uv it expects).
      devShells = forAll (pkgs: {
        default = pkgs.mkShell {
          packages = with pkgs; [
            cargo
            rustc
            clippy
            rustfmt
            pkg-config
            xz
            uv
            python3
            docker-distribution # the registry the tests push to (Debian: docker-registry)
            skopeo
            umoci
            runc
            openssl
            curl
            gnupg # gpgv checks the Debian archive for `prisn base`
            debian-archive-keyring
            iproute2
            util-linux
            containerd # the test bed's real node
            cni-plugins
            iptables
            gcc
            go # the test bed builds kube-apiserver, etcd and kwok from Go modules
            nix # tests/run.sh parses these files
          ];
        };
      });

      nixosModules.default = import ./nix/module.nix;
      nixosModules.prisn-server = self.nixosModules.default;

      overlays.default = final: _prev: {
        prisn = final.callPackage ./nix/package.nix { inherit gitRevision; };
      };
    };
}
