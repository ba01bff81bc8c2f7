#!/usr/bin/env bash
# Installs what Merpati's build and tests need, skipping whatever is already present at the
# right version. Sourced by ./scripts/run and ./scripts/test; safe to run again and again.
#
#   scripts/tools.sh            build tools (wasm target, trunk, wasm-bindgen, wasm-opt, terser)
#   scripts/tools.sh --browser  also Chromium, chromedriver and axe-core, for the browser tests
#   scripts/tools.sh --bench    also what the benchmark scripts read the machine with
#                               (twiggy, perf, ss, python3)
#   scripts/tools.sh --fuzz     also cargo-fuzz (run on the stable toolchain, see scripts/fuzz)
#   scripts/tools.sh --deny     also cargo-deny (supply-chain checks, see scripts/deny)
#   scripts/tools.sh --services also PostgreSQL's programs and nats-server, for the tests
#                               that start servers of their own (merpati_testkit's
#                               PostgresProcess and NatsProcess; never the machine's services)
# Flags combine: `scripts/tools.sh --browser --bench`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

TRUNK_VERSION=0.21.14
TWIGGY_VERSION=0.8.0
CARGO_FUZZ_VERSION=0.13.2
CARGO_DENY_VERSION=0.20.2
WASM_OPT_VERSION=132
AXE_CORE_VERSION=4.14.1
TERSER_VERSION=5.51.4
# wasm-bindgen-cli must match the wasm-bindgen crate in Cargo.lock exactly.
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/[^0-9.]/, ""); print; exit}' Cargo.lock)

say() { printf '\033[1m[tools]\033[0m %s\n' "$*"; }
export PATH="$HOME/.cargo/bin:$PATH"

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# The app's release build rebuilds the standard library for size (scripts/trunk/size-flags.sh).
# Without it (a machine that cannot fetch it), the app builds with the library as shipped.
if ! rustup component list --installed | grep -q '^rust-src'; then
  say "adding the rust-src component"
  rustup component add rust-src || say "no rust-src: the app's wasm will be about 38 KB larger"
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

# terser: minifies the page's JavaScript glue in the release build (scripts/trunk/post-build.sh;
# trunk's own minifier cannot read it). From npm, into .tools/build/ (not committed): a prefix
# of its own, as npm would prune the other tools of a shared one.
if [[ "$(node -p "require('./.tools/build/node_modules/terser/package.json').version" 2>/dev/null)" != "$TERSER_VERSION" ]]; then
  say "installing terser $TERSER_VERSION (npm, into .tools/build/)"
  npm install --prefix .tools/build --no-save --no-fund --no-audit --no-package-lock "terser@$TERSER_VERSION"
fi

want_browser=false want_bench=false want_fuzz=false want_deny=false want_services=false
for flag in "$@"; do
  case "$flag" in
    --browser) want_browser=true ;;
    --bench) want_bench=true ;;
    --fuzz) want_fuzz=true ;;
    --deny) want_deny=true ;;
    --services) want_services=true ;;
    *) echo "tools.sh: unknown flag $flag" >&2; exit 2 ;;
  esac
done

# Debian packages, installed in one apt run: `apt_want <command> <package>` per tool.
missing_packages=()
apt_want() { command -v "$1" >/dev/null || missing_packages+=("$2"); }
if $want_browser; then
  apt_want chromium chromium
  apt_want chromedriver chromium-driver
  # A colour emoji font, as people's systems have: without one Chromium draws emoji (the
  # picker's, the reactions, the README's screenshots) as empty boxes.
  [[ -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ]] || missing_packages+=(fonts-noto-color-emoji)
fi
if $want_bench; then
  apt_want perf linux-perf
  apt_want ss iproute2
  apt_want python3 python3
fi
# PostgreSQL 15 and NATS (the programs: tests start servers of their own, never the services).
if $want_services; then
  compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || missing_packages+=(postgresql-15)
  [[ -x /usr/sbin/nats-server || -x /usr/bin/nats-server ]] || missing_packages+=(nats-server)
fi
if ((${#missing_packages[@]})); then
  say "installing ${missing_packages[*]} (Debian packages)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing_packages[@]}" >/dev/null
fi

if $want_bench && ! twiggy --version 2>/dev/null | grep -qx "twiggy-opt $TWIGGY_VERSION"; then
  say "installing twiggy $TWIGGY_VERSION (a minute, once)"
  cargo install --locked twiggy --version "$TWIGGY_VERSION"
fi

# axe-core: the accessibility rules the end-to-end suite runs in Chromium
# (crates/e2e/tests/accessibility.rs). From npm, into .tools/ (not committed).
if $want_browser && [[ "$(node -p "require('./.tools/node_modules/axe-core/package.json').version" 2>/dev/null)" != "$AXE_CORE_VERSION" ]]; then
  say "installing axe-core $AXE_CORE_VERSION (npm, into .tools/)"
  npm install --prefix .tools --no-save --no-fund --no-audit --no-package-lock "axe-core@$AXE_CORE_VERSION"
fi

if $want_fuzz && ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
  say "installing cargo-fuzz $CARGO_FUZZ_VERSION (a few minutes, once)"
  cargo install --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi

if $want_deny && [[ "$(cargo deny --version 2>/dev/null)" != "cargo-deny $CARGO_DENY_VERSION" ]]; then
  say "installing cargo-deny $CARGO_DENY_VERSION (a few minutes, once)"
  cargo install --locked cargo-deny --version "$CARGO_DENY_VERSION"
fi

# trunk builds offline (Trunk.toml); make sure every crate for both targets is on disk, and
# those of the standard library's own workspace, which the release build compiles (its
# manifest asks for a cargo feature that RUSTC_BOOTSTRAP=1 lets this stable cargo read).
cargo fetch --quiet
STD_LIBRARY="$(rustc --print sysroot)/lib/rustlib/src/rust/library"
if [[ -d "$STD_LIBRARY" ]]; then
  RUSTC_BOOTSTRAP=1 cargo fetch --quiet --manifest-path "$STD_LIBRARY/Cargo.toml"
fi
