#!/usr/bin/env bash
# What tests/run.sh can check of the Nix files on a machine without nixpkgs (Debian's
# nix-bin 2.8, no channel, nixpkgs unreachable): every .nix file parses, and what needs no
# nixpkgs evaluates to what the source tree says. The Nix *build* (package.nix, the flake's
# outputs, module.nix in a NixOS system) needs nixpkgs and is NOT exercised here.
set -euo pipefail
cd "$(dirname "$0")/.."
# dummy:// : evaluation only, no /nix/store or daemon needed (also as a non-root user).
nixe() { nix-instantiate --store dummy:// "$@" 2> >(grep -v "build-users-group" >&2); }
fail() { echo "nix/check.sh: $*" >&2; exit 1; }

mapfile -t files < <(git ls-files -co --exclude-standard '*.nix' 2>/dev/null || find . -name '*.nix' -not -path './target/*')
[ "${#files[@]}" -ge 4 ] || fail "expected flake.nix and nix/*.nix, found: ${files[*]}"
for f in "${files[@]}"; do
  nixe --parse "$f" >/dev/null || fail "$f does not parse"
done

# nix/meta.nix reads Cargo.toml and Cargo.lock with builtins only: same version, same lock.
version=$(nixe --eval --raw -E '(import ./nix/meta.nix).version' 2>/dev/null || nixe --eval -E '(import ./nix/meta.nix).version' | tr -d '"')
want=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
[ "$version" = "$want" ] || fail "nix/meta.nix says version $version, Cargo.toml $want"
locked=$(nixe --eval -E '(import ./nix/meta.nix).lockedPackages')
[ "$locked" = "$(grep -c '^\[\[package\]\]' Cargo.lock)" ] || fail "nix/meta.nix counts $locked locked packages"

# The shapes the flake and the module system call them with.
check() { [ "$(nixe --eval --strict -E "$1")" = "$2" ] || fail "$1 is not $2"; }
check 'builtins.attrNames (import ./flake.nix)' '[ "description" "inputs" "outputs" ]'
check 'builtins.attrNames (builtins.functionArgs (import ./flake.nix).outputs)' '[ "nixpkgs" "self" ]'
check 'builtins.attrNames (builtins.functionArgs (import ./nix/module.nix))' '[ "config" "lib" "pkgs" ]'
check 'builtins.all (a: builtins.hasAttr a (builtins.functionArgs (import ./nix/package.nix))) [ "lib" "rustPlatform" ]' 'true'
echo "nix: ${#files[@]} files parse; meta.nix evaluates (version $version, $locked locked crates); the Nix build is not exercised here" >&2
