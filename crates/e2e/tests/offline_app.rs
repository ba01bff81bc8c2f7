//! The app kept on the device by its service worker (`public/sw.js`): a link to another file of
//! the app does not take the page's place in the cache, so the app still opens with the server
//! down, in the language it speaks, and when an error comes back in its place; a new release
//! caches itself under a name of its own and deletes the old cache, but one whose page or any
//! other file answers an error leaves the release before as it was, and no cache of its own;
//! a file that keeps its name across releases comes new with the first load after one; and
//! what a new release's page and files come as before its service worker does (a deploy
//! caught half-way) is not kept in the release before's cache, which still starts offline,
//! one release whole.
//!
//! Run with `--test-threads=1` (as the suite is): each test drives a browser.

use std::path::Path;
use std::time::Duration;

use merpati_e2e::{
    Browser, Chromedriver, HarnessError, INDONESIAN, PASSPHRASE, ServerProcess, serve,
    serve_release_build, workspace_root,
};
use merpati_testkit::http;
use serde_json::Value;

/// A copy of the release build served from a directory of its own (a test releases anew into
/// it), and a browser: the browser's driver stays open while the test holds it.
struct Release {
    web: tempfile::TempDir,
    server: ServerProcess,
    _driver: Chromedriver,
    ani: Browser,
}

async fn a_copy_of_the_release() -> Result<Release, HarnessError> {
    let web = tempfile::tempdir()?;
    copy_release_build(web.path())?;
    let server = serve(web.path().to_path_buf()).await?;
    let driver = Chromedriver::start().await?;
    let ani = driver.browser().await?;
    Ok(Release {
        web,
        server,
        _driver: driver,
        ani,
    })
}

/// [`a_copy_of_the_release`], where ani has signed up and the service worker keeps the app.
async fn a_copy_of_the_release_signed_in() -> Result<Release, HarnessError> {
    let release = a_copy_of_the_release().await?;
    let url = release.server.http_url();
    release.ani.sign_up(&url, "ani", PASSPHRASE).await?;
    release.ani.service_worker_ready().await?;
    Ok(release)
}

/// With `server` down, the app opens from the device: signed in, its chats there.
async fn opens_offline_signed_in(
    ani: &Browser,
    server: &mut ServerProcess,
) -> Result<(), HarnessError> {
    server.kill();
    ani.reload().await?;
    ani.wait_connection("offline").await?;
    ani.find("new-chat").await?;
    Ok(())
}

/// Opens the app served by `server`, waits for its service worker to take it over, and
/// answers the names of the origin's caches then.
async fn opened_offline_ready(
    browser: &Browser,
    server: &ServerProcess,
) -> Result<Vec<String>, HarnessError> {
    browser.open(&server.http_url()).await?;
    browser.find("auth-username").await?;
    browser.service_worker_ready().await?;
    cache_names(browser).await
}

/// The names of the origin's caches.
async fn cache_names(browser: &Browser) -> Result<Vec<String>, HarnessError> {
    let names = browser
        .client()
        .execute_async(
            "const done = arguments[0]; caches.keys().then(done);",
            vec![],
        )
        .await?;
    Ok(serde_json::from_value(names)?)
}

/// What each cache holds for `/`: its content type, or null.
async fn cached_page_types(browser: &Browser) -> Result<Value, HarnessError> {
    Ok(browser
        .client()
        .execute_async(
            r#"const done = arguments[0];
            caches.keys()
              .then((names) => Promise.all(names.map((name) =>
                caches.open(name)
                  .then((cache) => cache.match("/"))
                  .then((page) => page && page.headers.get("content-type")))))
              .then(done);"#,
            vec![],
        )
        .await?)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_link_to_another_file_of_the_app_leaves_the_app_opening_offline()
-> Result<(), HarnessError> {
    let mut server = serve_release_build().await?;
    let driver = Chromedriver::start().await?;
    let url = server.http_url();
    let ani = driver.browser().await?;
    ani.sign_up(&url, "ani", PASSPHRASE).await?;
    ani.service_worker_ready().await?;

    // Links anyone could post or bookmark: the engine worker's script, the icon, the worker.
    for file in ["/merpati-worker.js", "/favicon.svg", "/sw.js"] {
        ani.open(&format!("{url}{file}")).await?;
    }
    let types = cached_page_types(&ani).await?;
    let types = types.as_array().ok_or("caches.keys() gave no list")?;
    assert_eq!(types.len(), 1, "one cache, for this release: {types:?}");
    assert!(
        types[0]
            .as_str()
            .is_some_and(|t| t.starts_with("text/html")),
        "the cached page is no longer the app: {types:?}"
    );

    // With the server down, the app opens from the device: still signed in, history there.
    server.kill();
    ani.open(&format!("{url}/")).await?;
    ani.wait_connection("offline").await?;
    ani.find("new-chat").await?;
    ani.close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_app_opens_offline_in_the_language_it_speaks() -> Result<(), HarnessError> {
    let mut server = serve_release_build().await?;
    let driver = Chromedriver::start().await?;
    let url = server.http_url();
    let budi = driver.browser_with(INDONESIAN).await?;
    budi.sign_up(&url, "budi", PASSPHRASE).await?;
    budi.service_worker_ready().await?;

    // The catalogue is one of the files kept: with the server down, still Indonesian.
    server.kill();
    budi.open(&format!("{url}/")).await?;
    budi.wait_connection("offline").await?;
    assert_eq!(budi.find("new-chat").await?.text().await?, "Obrolan baru");
    let lang = budi
        .client()
        .execute("return document.documentElement.lang", vec![])
        .await?;
    assert_eq!(lang, Value::from("id"));
    budi.close().await?;
    Ok(())
}

/// Copies the release build into `to`, a web root whose files the test may change.
fn copy_release_build(to: &Path) -> Result<(), HarnessError> {
    copy_dir(&workspace_root().join("dist"), to)
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), HarnessError> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            std::fs::create_dir_all(&target)?;
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// Gives the web root `web` a new `contents` for `file`, as a release would: its precompressed
/// copies go (the server would send them, not the file; a release makes them anew from its
/// files), and it is dated a second past the file it replaces, so that a browser revalidating
/// its copy (`If-Modified-Since`, to the second) is told it changed.
fn release_file(web: &Path, file: &str, contents: &str) -> Result<(), HarnessError> {
    let path = web.join(file);
    let before = std::fs::metadata(&path)?.modified()?;
    std::fs::write(&path, contents)?;
    std::fs::File::options()
        .write(true)
        .open(&path)?
        .set_modified(before + Duration::from_secs(1))?;
    remove_copies(web, file)
}

/// Removes `file`'s precompressed copies from the web root `web`, those it has.
fn remove_copies(web: &Path, file: &str) -> Result<(), HarnessError> {
    for copy in [format!("{file}.br"), format!("{file}.gz")] {
        match std::fs::remove_file(web.join(copy)) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error.into()),
            _ => {}
        }
    }
    Ok(())
}

/// A new release of the service worker in the web root `web`, whose release is cached as
/// `cache`: the build gives sw.js a new version. The new release's cache name.
fn release_worker(web: &Path, cache: &str) -> Result<String, HarnessError> {
    let script = std::fs::read_to_string(web.join("sw.js"))?;
    let version = cache.trim_start_matches("merpati-app-");
    let next = format!("{version}next");
    release_file(web, "sw.js", &script.replace(version, &next))?;
    Ok(format!("merpati-app-{next}"))
}

/// Mid-deploy: a new release of the service worker in the web root `web` (the release before
/// cached as `cache`), whose `file` is not there yet.
fn release_without(web: &Path, cache: &str, file: &str) -> Result<(), HarnessError> {
    release_worker(web, cache)?;
    std::fs::remove_file(web.join(file))?;
    remove_copies(web, file)
}

/// Has the browser look for the new release's service worker, whose install must fail, and
/// checks the caches are as `before`: the release before keeps its own, and the failed install
/// leaves none.
async fn the_install_fails_leaving(
    browser: &Browser,
    before: &[String],
) -> Result<(), HarnessError> {
    assert_eq!(
        update_worker(browser).await?,
        "redundant",
        "the new release's install fails"
    );
    assert_eq!(cache_names(browser).await?, before);
    Ok(())
}

/// Has the browser look for a new service worker now, and waits for what became of the one it
/// found: "activated" once it took over (its activation done), "redundant" if its install
/// failed.
async fn update_worker(browser: &Browser) -> Result<String, HarnessError> {
    let state = browser
        .client()
        .execute_async(
            r#"const done = arguments[0];
            navigator.serviceWorker.getRegistration().then((registration) => {
              let found = false;
              registration.addEventListener("updatefound", () => {
                found = true;
                const worker = registration.installing;
                const settle = () => {
                  if (worker.state === "activated" || worker.state === "redundant") {
                    done(worker.state);
                  }
                };
                worker.addEventListener("statechange", settle);
                settle();
              });
              registration.update().catch((error) => found || done(`no update: ${error}`));
            });"#,
            vec![],
        )
        .await?;
    Ok(state.as_str().unwrap_or_default().to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_release_caches_itself_apart_and_deletes_the_old_cache() -> Result<(), HarnessError> {
    let Release {
        web,
        server,
        _driver,
        ani,
    } = a_copy_of_the_release().await?;
    let first = opened_offline_ready(&ani, &server).await?;
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(first[0].starts_with("merpati-app-"), "{first:?}");
    assert_ne!(
        first[0], "merpati-app-development",
        "the build stamps a version into sw.js"
    );

    let next = release_worker(web.path(), &first[0])?;
    assert_eq!(update_worker(&ani).await?, "activated");
    assert_eq!(
        cache_names(&ani).await?,
        vec![next],
        "the new release's cache alone"
    );
    let types = cached_page_types(&ani).await?;
    assert!(
        types[0]
            .as_str()
            .is_some_and(|t| t.starts_with("text/html")),
        "the new cache holds the app's page: {types}"
    );
    ani.close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_release_whose_page_answers_an_error_leaves_the_release_before_and_its_cache()
-> Result<(), HarnessError> {
    let Release {
        web,
        mut server,
        _driver,
        ani,
    } = a_copy_of_the_release_signed_in().await?;
    let before = cache_names(&ani).await?;

    // Mid-deploy: the new release's sw.js is in place, its page not yet, and "/" answers an
    // error while the new worker installs.
    release_without(web.path(), &before[0], "index.html")?;
    assert_eq!(http::get(server.addr(), "/", &[]).await?.status, 404);
    the_install_fails_leaving(&ani, &before).await?;

    // So the app still opens from the device: signed in, its chats there.
    opens_offline_signed_in(&ani, &mut server).await?;
    ani.close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_release_missing_a_file_fails_its_install_and_keeps_nothing_of_it()
-> Result<(), HarnessError> {
    let Release {
        web,
        server,
        _driver,
        ani,
    } = a_copy_of_the_release().await?;
    let before = opened_offline_ready(&ani, &server).await?;

    // Mid-deploy: the new release's sw.js and page are in place, the engine worker's module
    // not yet. The page answers, so the install gets as far as keeping files.
    release_without(web.path(), &before[0], "merpati-worker_bg.wasm")?;
    assert_eq!(
        http::get(server.addr(), "/merpati-worker_bg.wasm", &[])
            .await?
            .status,
        404
    );
    the_install_fails_leaving(&ani, &before).await?;
    ani.close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_answered_with_an_error_opens_the_kept_app() -> Result<(), HarnessError> {
    let Release {
        web,
        server,
        _driver,
        ani,
    } = a_copy_of_the_release_signed_in().await?;
    let url = server.http_url();

    // Every file answers an error, the page first, as through a proxy while the server behind
    // it restarts; here a deploy emptied the web root, and the server itself runs on.
    for entry in std::fs::read_dir(web.path())? {
        let path = entry?.path();
        if path.is_dir() {
            std::fs::remove_dir_all(path)?;
        } else {
            std::fs::remove_file(path)?;
        }
    }
    assert_eq!(http::get(server.addr(), "/", &[]).await?.status, 404);
    ani.open(&url).await?;
    ani.wait_connection("online").await?;
    ani.find("new-chat").await?;
    ani.close().await?;
    Ok(())
}

/// What the theme.js the page ran last marked on `<html>` (`data-release`), or null.
async fn release_marked(browser: &Browser) -> Result<Value, HarnessError> {
    Ok(browser
        .client()
        .execute(
            "return document.documentElement.dataset.release ?? null",
            vec![],
        )
        .await?)
}

/// The start script of the next release's page.
const NEXT_START: &str = "start-0123456789abcdef.js";

/// Mid-deploy: gives the web root `web` the next release's page, the same but for its start
/// script, `next_start`. The start script the page had.
fn release_page_starting(web: &Path, next_start: &str) -> Result<String, HarnessError> {
    let page = std::fs::read_to_string(web.join("index.html"))?;
    let start = std::fs::read_dir(web)?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .find(|name| name.starts_with("start-") && name.ends_with(".js"))
        .ok_or("no start-*.js in the release")?;
    let next_page = page.replace(&start, next_start);
    assert_ne!(next_page, page, "the page links its script by name");
    release_file(web, "index.html", &next_page)?;
    Ok(start)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_of_a_release_deployed_half_way_does_not_take_the_kept_apps_place()
-> Result<(), HarnessError> {
    let Release {
        web,
        mut server,
        _driver,
        ani,
    } = a_copy_of_the_release_signed_in().await?;

    // Mid-deploy: the new release's page is in place, its start script not yet (nor its sw.js,
    // so the release before's worker serves the load). Online, that page cannot start: the
    // script answers 404.
    release_page_starting(web.path(), NEXT_START)?;
    ani.reload().await?;

    // The server goes down: the kept app starts, signed in, its chats there.
    opens_offline_signed_in(&ani, &mut server).await?;
    ani.close().await?;
    Ok(())
}

/// The start script the page running now loaded (`/start-<hash>.js`).
async fn start_script(browser: &Browser) -> Result<Value, HarnessError> {
    Ok(browser
        .client()
        .execute(
            "return document.querySelector('script[type=module]').getAttribute('src')",
            vec![],
        )
        .await?)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_of_the_next_release_loaded_before_its_service_worker_is_never_kept_in_its_place()
-> Result<(), HarnessError> {
    let Release {
        web,
        mut server,
        _driver,
        ani,
    } = a_copy_of_the_release_signed_in().await?;
    let ours = start_script(&ani).await?;

    // Mid-deploy: the next release's page and hashed files are in place (its start script, a
    // copy under a name of its own), and its theme.js, named alike in every release; its
    // sw.js not yet. Loaded twice, the second time with every hashed file it links fetched
    // and kept already.
    let start = release_page_starting(web.path(), NEXT_START)?;
    std::fs::copy(web.path().join(start), web.path().join(NEXT_START))?;
    let theme = std::fs::read_to_string(web.path().join("theme.js"))?;
    let next_theme = format!("{theme};document.documentElement.dataset.release=\"next\";");
    release_file(web.path(), "theme.js", &next_theme)?;
    for _ in 0..2 {
        ani.reload().await?;
        ani.find("new-chat").await?;
        assert_eq!(
            start_script(&ani).await?,
            Value::from(format!("/{NEXT_START}"))
        );
    }

    // Offline, the release kept runs whole: its page, with its own theme.js.
    opens_offline_signed_in(&ani, &mut server).await?;
    assert_eq!(start_script(&ani).await?, ours);
    assert_eq!(release_marked(&ani).await?, Value::Null);
    ani.close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_named_alike_in_every_release_comes_new_after_a_release_and_offline_the_kept_release_runs_whole()
-> Result<(), HarnessError> {
    let Release {
        web,
        mut server,
        _driver,
        ani,
    } = a_copy_of_the_release().await?;
    let url = server.http_url();
    ani.open(&url).await?;
    ani.find("auth-username").await?;
    ani.service_worker_ready().await?;

    // A release that changed theme.js, which index.html links under the same name. The first
    // load after a release is served by the release before's worker (the new one installs
    // meanwhile): here sw.js stays as it was, so that worker serves every load.
    let theme = std::fs::read_to_string(web.path().join("theme.js"))?;
    let next = format!("{theme};document.documentElement.dataset.release=\"next\";");
    release_file(web.path(), "theme.js", &next)?;
    ani.reload().await?;
    ani.find("auth-username").await?;
    assert_eq!(
        release_marked(&ani).await?,
        Value::from("next"),
        "the first load after the release runs the release's theme.js"
    );

    // The release before's cache keeps its own copy, which goes with its own page: offline,
    // that release runs, whole.
    server.kill();
    ani.reload().await?;
    ani.find("auth-username").await?;
    assert_eq!(
        release_marked(&ani).await?,
        Value::Null,
        "offline, the kept release's own theme.js"
    );
    ani.close().await?;
    Ok(())
}
