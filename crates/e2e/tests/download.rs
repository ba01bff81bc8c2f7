//! The app's initial download, as the release build in `dist/` ships it: what `index.html`
//! makes the browser fetch before the first screen — the page's wasm, its JavaScript and the
//! stylesheet — stays within the product's budget (250 KB, gzip -9 each, summed), and the
//! engine worker's module is not among it (the page starts the worker; nothing preloads it).
//! A size, not a time: the same build always gives the same answer. And every file a browser
//! downloads has the build's brotli and gzip copies beside it, true to it, which the server
//! sends to a browser that accepts them; and each hash `index.html` gives a file for the
//! browser to check (`integrity`) is that file's, after every step of the build.

use std::io::Write;
use std::path::Path;

use std::io::Read;

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use merpati_e2e::{HarnessError, serve_release_build, workspace_root};
use merpati_testkit::http;

/// PRODUCT.md's budget for the app's initial download.
const BUDGET_BYTES: usize = 250 * 1000;

fn gzipped_len(path: &Path) -> Result<usize, HarnessError> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(&std::fs::read(path)?)?;
    Ok(encoder.finish()?.len())
}

/// The site-absolute paths `index.html` names (`href=` and `from '…'`/`'…'` in its script).
fn linked_files(index: &str) -> Vec<String> {
    index
        .split(['"', '\'', ' ', '>', '(', ')'])
        .map(|part| part.strip_prefix("href=").unwrap_or(part))
        .filter(|part| part.starts_with('/') && part.len() > 1 && !part.starts_with("//"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_first_screen_downloads_the_page_module_only_and_stays_within_budget()
-> Result<(), HarnessError> {
    let dist = workspace_root().join("dist");
    let index = std::fs::read_to_string(dist.join("index.html"))
        .map_err(|error| format!("dist/index.html: {error} (run `scripts/build-app`)"))?;
    let mut linked = linked_files(&index);
    linked.sort();
    linked.dedup();

    assert!(
        !linked.iter().any(|file| file.contains("merpati-worker")),
        "index.html must not load the engine worker: {linked:?}"
    );
    let initial: Vec<&String> = linked
        .iter()
        .filter(|file| {
            [".wasm", ".js", ".css"]
                .iter()
                .any(|ext| file.ends_with(ext))
        })
        .collect();
    for kind in [".wasm", ".js", ".css"] {
        assert!(
            initial.iter().any(|file| file.ends_with(kind)),
            "no {kind} file found in index.html: {linked:?}"
        );
    }
    let mut total = 0;
    for file in &initial {
        let size = gzipped_len(&dist.join(file.trim_start_matches('/')))?;
        eprintln!("{file}: {size} bytes gzipped");
        total += size;
    }
    eprintln!("initial download: {total} bytes gzipped (budget {BUDGET_BYTES})");
    assert!(
        total <= BUDGET_BYTES,
        "the initial download is {total} bytes gzipped, over the {BUDGET_BYTES}-byte budget"
    );

    // The worker's module is in the build (the page starts it by this name).
    for file in [
        "merpati-worker_loader.js",
        "merpati-worker.js",
        "merpati-worker_bg.wasm",
    ] {
        assert!(dist.join(file).exists(), "dist/{file} is missing");
    }
    Ok(())
}

/// The server's Content-Security-Policy runs no inline script, so the build must have none:
/// trunk writes its start script inline, and `scripts/trunk/post-build.sh` moves
/// it into a file of its own.
/// The build's steps after trunk change files trunk has already hashed into `index.html`
/// (`scripts/trunk/post-build.sh` minifies the page's JavaScript glue): a hash left behind
/// makes the browser refuse the file, and the app would not start from the service worker.
#[test]
fn every_hash_index_html_gives_is_its_files() -> Result<(), HarnessError> {
    use base64::Engine as _;
    use sha2::Digest as _;

    let dist = workspace_root().join("dist");
    let index = std::fs::read_to_string(dist.join("index.html"))
        .map_err(|error| format!("dist/index.html: {error} (run `scripts/build-app`)"))?;
    let mut checked = 0;
    for tag in index.split('<').filter(|tag| tag.contains("integrity=")) {
        let attribute = |name: &str| {
            tag.split([' ', '>'])
                .find_map(|part| part.strip_prefix(name))
                .map(|value| value.trim_matches(['"', '\'']))
        };
        let file = attribute("href=")
            .or_else(|| attribute("src="))
            .ok_or_else(|| format!("a hash for no file: <{tag}"))?;
        let hash = attribute("integrity=")
            .and_then(|value| value.strip_prefix("sha384-"))
            .ok_or_else(|| format!("not a sha384 hash: <{tag}"))?;
        let bytes = std::fs::read(dist.join(file.trim_start_matches('/')))?;
        let true_hash =
            base64::engine::general_purpose::STANDARD.encode(sha2::Sha384::digest(&bytes));
        assert_eq!(
            hash, true_hash,
            "index.html's hash of {file} is not the file's"
        );
        checked += 1;
    }
    assert!(checked >= 2, "index.html hashes {checked} files: {index}");
    Ok(())
}

#[test]
fn the_release_build_has_no_inline_script() -> Result<(), HarnessError> {
    let dist = workspace_root().join("dist");
    let index = std::fs::read_to_string(dist.join("index.html"))
        .map_err(|error| format!("dist/index.html: {error} (run `scripts/build-app`)"))?;
    let scripts: Vec<&str> = index.split("<script").skip(1).collect();
    assert!(!scripts.is_empty(), "index.html starts no script: {index}");
    for script in scripts {
        let (tag, rest) = script
            .split_once('>')
            .ok_or_else(|| format!("an unclosed <script tag in {index}"))?;
        assert!(
            tag.contains("src="),
            "an inline script in index.html: <script{script}"
        );
        assert!(
            rest.starts_with("</script>"),
            "a script with both a file and a body: <script{script}"
        );
        let source = tag
            .split(['=', ' ', '"', '\''])
            .find(|part| part.starts_with('/'))
            .ok_or_else(|| format!("a script whose file is not site-absolute: <script{tag}>"))?;
        assert!(
            dist.join(source.trim_start_matches('/')).is_file(),
            "index.html starts {source}, which is not in dist/"
        );
    }
    Ok(())
}

/// What the browser fetches to show a returning person's chats: the page's files and the
/// engine worker's.
fn downloaded_files(dist: &Path) -> Result<Vec<String>, HarnessError> {
    let index = std::fs::read_to_string(dist.join("index.html"))
        .map_err(|error| format!("dist/index.html: {error} (run `scripts/build-app`)"))?;
    let mut files: Vec<String> = linked_files(&index)
        .into_iter()
        .filter(|file| {
            [".wasm", ".js", ".css"]
                .iter()
                .any(|ext| file.ends_with(ext))
        })
        .map(|file| file.trim_start_matches('/').to_owned())
        .collect();
    files.extend(["merpati-worker.js", "merpati-worker_bg.wasm"].map(str::to_owned));
    files.sort();
    files.dedup();
    Ok(files)
}

#[tokio::test]
async fn every_downloaded_file_goes_out_as_the_builds_brotli_copy_true_to_the_file()
-> Result<(), HarnessError> {
    let dist = workspace_root().join("dist");
    let server = serve_release_build().await?;
    let (mut brotli_total, mut page_total) = (0, 0);
    for file in downloaded_files(&dist)? {
        let original = std::fs::read(dist.join(&file))?;
        let br = std::fs::read(dist.join(format!("{file}.br")))
            .map_err(|error| format!("dist/{file}.br: {error}"))?;
        let mut unpacked = Vec::new();
        brotli_decompressor::Decompressor::new(br.as_slice(), 4096).read_to_end(&mut unpacked)?;
        assert!(unpacked == original, "dist/{file}.br is not dist/{file}");
        let gz = std::fs::read(dist.join(format!("{file}.gz")))
            .map_err(|error| format!("dist/{file}.gz: {error}"))?;
        let mut unpacked = Vec::new();
        GzDecoder::new(gz.as_slice()).read_to_end(&mut unpacked)?;
        assert!(unpacked == original, "dist/{file}.gz is not dist/{file}");

        let served = http::get(
            server.addr(),
            &format!("/{file}"),
            &[("Accept-Encoding", "gzip, deflate, br, zstd")],
        )
        .await?;
        assert_eq!(served.status, 200, "/{file}");
        assert_eq!(served.header("content-encoding"), Some("br"), "/{file}");
        assert!(served.body == br, "/{file} goes out as dist/{file}.br");
        eprintln!("{file}: {} bytes as served (brotli)", br.len());
        brotli_total += br.len();
        if !file.starts_with("merpati-worker") {
            page_total += br.len();
        }
    }
    eprintln!("as served (brotli): page {page_total} bytes, page and worker {brotli_total} bytes");
    Ok(())
}
