# prisn (the CLI) and prisn-operator, built with rustPlatform.buildRustPackage from the
# committed Cargo.lock (every crate's sha256 is in it: no cargoHash to keep in step).
#
#   nix build .#default          # both binaries
#   nix build .#prisn-operator   # the operator alone
#
# NOT exercised in CI: nixpkgs cannot be fetched from the CI machines, so tests/run.sh only
# parses this file and evaluates nix/meta.nix (see README, "Nix").
{
  lib,
  rustPlatform,
  pkg-config,
  xz,
  # Which workspace binaries to build and install.
  binaries ? (import ./meta.nix).binaries,
  # The git revision `prisn version` prints (the flake passes self.rev when clean).
  gitRevision ? null,
  # A digest-pinned operator image `prisn version` reports and `prisn operator install`
  # installs by default (see build.rs).
  operatorImage ? null,
}:

let
  meta' = import ./meta.nix;
  # The source without build output, test-bed state or editor files.
  src = lib.cleanSourceWith {
    src = ../.;
    filter =
      path: type:
      let
        base = baseNameOf path;
      in
      lib.cleanSourceFilter path type && base != "target" && base != "result";
  };
in
rustPlatform.buildRustPackage {
  pname = if binaries == [ "prisn-operator" ] then "prisn-operator" else meta'.pname;
  inherit (meta') version;
  inherit src;
  cargoLock.lockFile = meta'.lockFile;

  # `-p NAME --bin NAME` for each: the workspace's default member is the CLI alone, so a bare
  # `--bin prisn-operator` finds nothing; and `-p prisn-operator` alone would install crdgen.
  cargoBuildFlags = lib.concatMap (b: [ "-p" b "--bin" b ]) binaries;
  # The test suite needs a registry, a Kubernetes test bed, uv, runc and the network:
  # tests/run.sh runs it, not the Nix build.
  doCheck = false;

  # xz2 links liblzma (found with pkg-config); rusqlite bundles SQLite, ring and the
  # rest are pure Rust or build their C with the stdenv compiler.
  nativeBuildInputs = [ pkg-config ];
  buildInputs = [ xz ];

  # Nix builds have no .git: build.rs takes the revision from here instead.
  PRISN_GIT_REVISION = if gitRevision == null then "unknown (Nix build of a dirty tree)" else gitRevision;
  PRISN_OPERATOR_IMAGE = if operatorImage == null then "" else operatorImage;

  meta = {
    description = "Script to pinned lock to reproducible image to digest-pinned Kubernetes object";
    license = lib.licenses.asl20;
    mainProgram = if binaries == [ "prisn-operator" ] then "prisn-operator" else "prisn";
    platforms = lib.platforms.linux;
  };
}
