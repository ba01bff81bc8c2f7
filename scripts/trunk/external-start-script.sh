#!/bin/sh
# trunk post_build hook (Trunk.toml): moves the script trunk writes inline into index.html —
# the few lines that load the page's wasm — into a file of its own, named by its content's
# hash like trunk's other files. The server's Content-Security-Policy allows no inline script
# (docs/security.md), so the app would not start with it inline.
#
# Runs on the staged build (TRUNK_STAGING_DIR), before trunk moves it into dist/. Needs only
# POSIX sh, perl (Debian's essential set) and coreutils.
set -eu
html="$TRUNK_STAGING_DIR/index.html"
start="$TRUNK_STAGING_DIR/start.js"

# The body of the one inline module script; quoted or not, since trunk minifies release builds.
perl -0777 -ne 'print $1 if m{<script type=["\x27]?module["\x27]?>(.*?)</script>}s' "$html" >"$start"
if [ ! -s "$start" ]; then
    echo "external-start-script: no inline module script in $html" >&2
    exit 1
fi
hash=$(sha256sum "$start" | cut -c1-16)
name="start-$hash.js"
mv "$start" "$TRUNK_STAGING_DIR/$name"
NAME="$name" perl -0777 -pi -e \
    's{<script type=["\x27]?module["\x27]?>.*?</script>}{<script type=module src=/$ENV{NAME}></script>}s' \
    "$html"
if grep -q '<script[^>]*>[^<]' "$html"; then
    echo "external-start-script: $html still has an inline script" >&2
    exit 1
fi
