# What the Nix files need to know about the source tree, from builtins only (no nixpkgs), so
# tests/run.sh can evaluate it on a machine without nixpkgs: the version from Cargo.toml and
# the committed Cargo.lock.
let
  root = ../.;
  cargoToml = builtins.fromTOML (builtins.readFile (root + "/Cargo.toml"));
  cargoLock = builtins.fromTOML (builtins.readFile (root + "/Cargo.lock"));
in
{
  pname = "prisn";
  version = cargoToml.workspace.package.version;
  # The binaries `cargo build -p prisn -p prisn-operator` installs.
  binaries = [ "prisn" "prisn-operator" ];
  lockFile = root + "/Cargo.lock";
  # How many crates the lock pins (a cheap check that it parses).
  lockedPackages = builtins.length cargoLock.package;
  license = cargoToml.workspace.package.license;
}
