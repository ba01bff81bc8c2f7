// Writes FILE.br (brotli, quality 11) and FILE.gz (gzip -9) beside every file of a build
// that compresses, once at build time: the server sends the copy the browser accepts as it
// is (crates/server/src/http.rs), rather than compressing each response on the fly, and
// brotli at its best is far too slow for that. Called by post-build.sh with the staging
// directory. Node's own zlib: nothing to install beyond the Node that npm needs.
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { extname, join } from "node:path";
import zlib from "node:zlib";

const COMPRESSIBLE = new Set([".wasm", ".js", ".mjs", ".css", ".html", ".svg", ".json", ".webmanifest", ".txt"]);

function compress(path) {
  const bytes = readFileSync(path);
  const br = zlib.brotliCompressSync(bytes, {
    params: {
      [zlib.constants.BROTLI_PARAM_QUALITY]: zlib.constants.BROTLI_MAX_QUALITY,
      [zlib.constants.BROTLI_PARAM_LGWIN]: zlib.constants.BROTLI_MAX_WINDOW_BITS,
      [zlib.constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
    },
  });
  const gz = zlib.gzipSync(bytes, { level: 9 });
  // A copy no smaller than the file is no use; the server then sends the file.
  if (br.length < bytes.length) writeFileSync(`${path}.br`, br);
  if (gz.length < bytes.length) writeFileSync(`${path}.gz`, gz);
}

function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (COMPRESSIBLE.has(extname(name))) compress(path);
  }
}

const dir = process.argv[2];
if (!dir) {
  console.error("usage: node precompress.mjs DIR");
  process.exit(2);
}
walk(dir);
