#!/usr/bin/env bash
# Installs what Merpati's build and tests need, skipping whatever is already present at the
# right version. Sourced by ./scripts/run and ./scripts/test; safe to run again and again.
#
#   scripts/tools.sh            build tools (wasm target, trunk, wasm-bindgen, wasm-opt)
#   scripts/tools.sh --browser  also Chromium and chromedriver, for the browser tests
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

TRUNK_VERSION=0.21.14
WASM_OPT_VERSION=132
# wasm-bindgen-cli must match the wasm-bindgen crate in Cargo.lock exactly.
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/[^0-9.]/, ""); print; exit}' Cargo.lock)

say() { printf '\033[1m[tools]\033[0m %s\n' "$*"; }
export PATH="$HOME/.cargo/bin:$PATH"

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if [[ "$(trunk --version 2>/dev/null)" != "trunk $TRUNK_VERSION" ]]; then
  say "installing trunk $TRUNK_VERSION (a few minutes, once)"
  cargo install --locked trunk --version "$TRUNK_VERSION"
fi

if [[ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]]; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes, once)"
  # Not --locked: its lockfile pins a crate version the registry here does not serve.
  cargo install --force wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi

# Debian's binaryen (108) produces WASM that fails in the browser; npm's build is current.
if ! wasm-opt --version 2>/dev/null | grep -q "version $WASM_OPT_VERSION"; then
  say "installing wasm-opt $WASM_OPT_VERSION (npm binaryen)"
  npm install --global --no-fund --no-audit "binaryen@$WASM_OPT_VERSION.0.0"
fi

if [[ "${1:-}" == "--browser" ]]; then
  if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    say "installing chromium and chromedriver (Debian packages)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  fi
fi

# trunk builds offline (Trunk.toml); make sure every crate for both targets is on disk.
cargo fetch --quiet
