# Sourced, not run: the flags that build the app's wasm for size (scripts/build-app, and
# scripts/bench-browser for the wasm it measures). The standard library as rustup ships it is
# built for speed, with every panic's message and source location. Rebuilt with the app's own
# profile (`wasm-release`, opt-level "z"), with a panic aborting at once (no message: the
# page's panic hook then has nothing to print) and no source locations, the page comes out
# 15 KB and the engine worker 23 KB smaller as served, at the same speed (bench/NOTES.md,
# "The standard library built for size"). These are unstable flags: this machine's one
# toolchain is stable, and RUSTC_BOOTSTRAP=1 lets it take them, as scripts/fuzz does for
# cargo-fuzz; `scripts/tools.sh` adds the standard library's source (rust-src). Only wasm
# builds see them (the target's own RUSTFLAGS): the server, the native tests, the browser
# tests and `trunk serve` build as before. Without rust-src (a machine that cannot fetch it)
# the build is the plain one; should a toolchain refuse the flags, emptying this file is too.
if [[ -d "$(rustc --print sysroot)/lib/rustlib/src/rust/library" ]]; then
  export RUSTC_BOOTSTRAP=1
  export CARGO_UNSTABLE_BUILD_STD=std,panic_abort
  # Cargo adds these to the target's flags in .cargo/config.toml (`--cfg erase_components`).
  export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-Zlocation-detail=none -Zunstable-options -Cpanic=immediate-abort"
else
  echo "size-flags: no rust-src (scripts/tools.sh adds it): the standard library as shipped, about 38 KB more as served" >&2
fi
