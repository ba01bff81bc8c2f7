#!/bin/sh
# trunk post_build hook (Trunk.toml): finishes the staged build (TRUNK_STAGING_DIR) before
# trunk moves it into dist/. Needs POSIX sh, perl (Debian's essential set),
# coreutils, and Node (which scripts/tools.sh needs for npm already).
#
# 1. The script trunk writes inline into index.html — the few lines that load the page's
#    wasm — moves into a file of its own, named by its content's hash like trunk's other
#    files: the server's Content-Security-Policy allows no inline script (docs/security.md).
# 2. The service worker (sw.js) is stamped with a hash of the whole build, so that each
#    release caches the app under a name of its own and prunes the others (public/sw.js).
# 3. Every file that compresses gets its brotli and gzip copies beside it, made once here
#    (scripts/trunk/precompress.mjs, with Node); the server sends those (docs/operations.md).
#
# Before them, both wasm modules lose thirteen exports nothing calls, and are optimized again
# for size: `leptos` 0.8 always brings `server_fn`'s browser feature, whose `wasm-streams`
# dependency exports `IntoUnderlyingSource`, `IntoUnderlyingByteSource` and
# `IntoUnderlyingSink` for JavaScript streams; Merpati has no server functions, and no linker or
# wasm-opt may drop an export. Without them, `-Oz` takes away what only they reached (about
# 1.6 KB of the initial download, bench/NOTES.md). Their JavaScript classes stay in the glue,
# unused: they call into the module only when made. The flags are trunk's
# (`data-wasm-opt-params` in index.html), read from there.
#
# Then the page's JavaScript glue (wasm-bindgen's ES module, which trunk's minifier
# cannot read) is minified with terser (scripts/tools.sh puts it in .tools/build/): about 2 KB
# of the initial download (bench/NOTES.md). So are the two small classic scripts index.html
# runs before it (theme.js, session-hint.js: their comments are most of their bytes), which
# trunk copies as they are. The engine worker's glue is a classic script, which trunk minifies
# itself.
set -eu
stage="$TRUNK_STAGING_DIR"
html="$stage/index.html"
root="$(cd "$(dirname "$0")/../.." && pwd)"
terser="$root/.tools/build/node_modules/terser/bin/terser"
if [ ! -f "$terser" ]; then
    echo "post-build: no terser in .tools/build (scripts/tools.sh installs it)" >&2
    exit 1
fi
glue=$(find "$stage" -maxdepth 1 -name 'merpati-app-*.js')
if [ -z "$glue" ] || [ "$(printf '%s\n' "$glue" | wc -l)" -ne 1 ]; then
    echo "post-build: expected one merpati-app-*.js in $stage, found: $glue" >&2
    exit 1
fi
# index.html names the glue with its hash for the browser to check (`integrity`, sha384, on its
# modulepreload): the minified file gets its own.
sri() {
    node -e 'const f = require("fs"), c = require("crypto");
        process.stdout.write("sha384-" + c.createHash("sha384").update(f.readFileSync(process.argv[1])).digest("base64"))' "$1"
}
wasm_features=$(perl -ne 'if (/data-wasm-opt-params="([^"]*)"/) { print $1; exit }' "$root/index.html")
if [ -z "$wasm_features" ]; then
    echo "post-build: no data-wasm-opt-params in index.html" >&2
    exit 1
fi
page_wasm=$(find "$stage" -maxdepth 1 -name 'merpati-app-*_bg.wasm')
worker_wasm="$stage/merpati-worker_bg.wasm"
for module in "$page_wasm" "$worker_wasm"; do
    if [ ! -s "$module" ]; then
        echo "post-build: no wasm module at '$module'" >&2
        exit 1
    fi
done
page_before=$(sri "$page_wasm")
for module in "$page_wasm" "$worker_wasm"; do
    # shellcheck disable=SC2086 # the flags are words
    wasm-opt "$module" $wasm_features --remove-exports \
        --pass-arg='remove-exports@*intounderlying*' -Oz -o "$module.opt"
    mv "$module.opt" "$module"
    node -e 'const m = new WebAssembly.Module(require("fs").readFileSync(process.argv[1]));
        if (WebAssembly.Module.exports(m).some((e) => /intounderlying/.test(e.name))) process.exit(1)' \
        "$module" || { echo "post-build: $module still exports the stream classes" >&2; exit 1; }
done
page_after=$(sri "$page_wasm")
BEFORE="$page_before" AFTER="$page_after" perl -pi -e 's/\Q$ENV{BEFORE}\E/$ENV{AFTER}/g' "$html"
if ! grep -qF "$page_after" "$html"; then
    echo "post-build: could not give index.html the page module's new hash" >&2
    exit 1
fi

before=$(sri "$glue")
if ! grep -qF "$before" "$html"; then
    echo "post-build: index.html does not name $glue by its hash" >&2
    exit 1
fi
node "$terser" "$glue" --module --compress --mangle --output "$glue.min"
mv "$glue.min" "$glue"
after=$(sri "$glue")
BEFORE="$before" AFTER="$after" perl -pi -e 's/\Q$ENV{BEFORE}\E/$ENV{AFTER}/g' "$html"
if ! grep -qF "$after" "$html"; then
    echo "post-build: could not give index.html the minified glue's hash" >&2
    exit 1
fi

for script in theme.js session-hint.js; do
    node "$terser" "$stage/$script" --compress --mangle --output "$stage/$script.min"
    mv "$stage/$script.min" "$stage/$script"
done

# 1. The start script. Its tag is quoted or not: trunk minifies release builds.
start="$stage/start.js"
perl -0777 -ne 'print $1 if m{<script type=["\x27]?module["\x27]?>(.*?)</script>}s' "$html" >"$start"
if [ ! -s "$start" ]; then
    echo "post-build: no inline module script in $html" >&2
    exit 1
fi
name="start-$(sha256sum "$start" | cut -c1-16).js"
mv "$start" "$stage/$name"
NAME="$name" perl -0777 -pi -e \
    's{<script type=["\x27]?module["\x27]?>.*?</script>}{<script type=module src=/$ENV{NAME}></script>}s' \
    "$html"
if grep -q '<script[^>]*>[^<]' "$html"; then
    echo "post-build: $html still has an inline script" >&2
    exit 1
fi

# 2. The service worker's version: every file of the build but sw.js itself, in a fixed order.
version=$(cd "$stage" && find . -type f ! -name sw.js | LC_ALL=C sort | xargs cat | sha256sum | cut -c1-16)
sed -i "s/^const VERSION = \"development\";$/const VERSION = \"$version\";/" "$stage/sw.js"
if ! grep -q "^const VERSION = \"$version\";$" "$stage/sw.js"; then
    echo "post-build: could not stamp the version into sw.js" >&2
    exit 1
fi

# 3. Precompressed copies, after the version: they are not part of what it names.
node "$(dirname "$0")/precompress.mjs" "$stage"
if [ ! -s "$stage/index.html.br" ] || [ ! -s "$stage/index.html.gz" ]; then
    echo "post-build: no precompressed copies were written" >&2
    exit 1
fi
