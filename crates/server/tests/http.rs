//! The HTTP side: health check and the web app's files.

use merpati_testkit::http::get;

use crate::support::TestServer;

#[tokio::test]
async fn healthz_answers_ok() {
    let server = TestServer::start().await;
    let response = get(server.addr, "/healthz", &[]).await.unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.body, b"ok");
    server.stop().await;
}

#[tokio::test]
async fn the_web_root_is_served_with_index_html_for_the_apps_routes_and_404_for_missing_files() {
    let web = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let index = format!(
        "<!doctype html><title>Merpati</title>{}",
        "<p>pigeon</p>".repeat(50)
    );
    std::fs::write(web.path().join("index.html"), &index).unwrap();
    std::fs::write(web.path().join("app.js"), "console.log('merpati');").unwrap();
    let server = TestServer::start_with(merpati_server::Config::new(data.path(), web.path())).await;

    let page = get(server.addr, "/", &[]).await.unwrap();
    assert_eq!(page.status, 200);
    assert_eq!(page.body, index.as_bytes());
    assert!(
        page.header("content-type")
            .is_some_and(|t| t.starts_with("text/html"))
    );

    let script = get(server.addr, "/app.js", &[]).await.unwrap();
    assert_eq!(script.status, 200);
    assert_eq!(script.body, b"console.log('merpati');");
    // Files that keep their name across releases (the engine worker's) must be revalidated.
    assert_eq!(script.header("cache-control"), Some("no-cache"));

    // A route of the app itself: the page is served, the app routes.
    let route = get(server.addr, "/chats/42", &[]).await.unwrap();
    assert_eq!(route.status, 200);
    assert_eq!(route.body, index.as_bytes());

    // A file that is not there (mid-deploy, say) is missing, not the page: the browser and the
    // service worker would take the page for the file.
    for missing in [
        "/merpati-worker_bg.wasm",
        "/locales/jv.txt",
        "/chats/42/photo.jpg",
    ] {
        let file = get(server.addr, missing, &[]).await.unwrap();
        assert_eq!(file.status, 404, "{missing}");
        assert_ne!(file.body, index.as_bytes(), "{missing}");
    }

    let gzipped = get(server.addr, "/", &[("Accept-Encoding", "gzip")])
        .await
        .unwrap();
    assert_eq!(gzipped.status, 200);
    assert_eq!(gzipped.header("content-encoding"), Some("gzip"));
    server.stop().await;
}

#[tokio::test]
async fn a_files_precompressed_copy_is_sent_as_it_is_to_a_browser_that_accepts_it() {
    let web = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    std::fs::write(web.path().join("index.html"), "<!doctype html>").unwrap();
    // Stand-ins for the build's copies: distinct bytes show which one was sent.
    std::fs::write(web.path().join("app.wasm"), b"the module itself").unwrap();
    std::fs::write(web.path().join("app.wasm.br"), b"brotli copy").unwrap();
    std::fs::write(web.path().join("app.wasm.gz"), b"gzip copy").unwrap();
    let server = TestServer::start_with(merpati_server::Config::new(data.path(), web.path())).await;

    let br = get(
        server.addr,
        "/app.wasm",
        &[("Accept-Encoding", "gzip, deflate, br")],
    )
    .await
    .unwrap();
    assert_eq!(br.status, 200);
    assert_eq!(br.header("content-encoding"), Some("br"));
    assert_eq!(br.body, b"brotli copy");
    assert_eq!(br.header("content-type"), Some("application/wasm"));
    assert!(
        br.header("vary")
            .is_some_and(|vary| vary.contains("accept-encoding"))
    );

    let gz = get(server.addr, "/app.wasm", &[("Accept-Encoding", "gzip")])
        .await
        .unwrap();
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert_eq!(gz.body, b"gzip copy");

    let plain = get(server.addr, "/app.wasm", &[]).await.unwrap();
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(plain.body, b"the module itself");
    server.stop().await;
}

#[tokio::test]
async fn the_server_refuses_to_start_with_its_data_inside_the_web_root() {
    let web = tempfile::tempdir().unwrap();
    std::fs::write(web.path().join("index.html"), "<!doctype html>").unwrap();
    let outside = tempfile::tempdir().unwrap();
    // The web root itself, a directory under it, and one spelled through `..` from outside.
    let detour = outside.path().join("..").join(
        web.path()
            .file_name()
            .expect("a temporary directory has a name"),
    );
    for data in [
        web.path().to_path_buf(),
        web.path().join("data"),
        detour.join("nested").join("data"),
    ] {
        let listener = merpati_server::listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let config = merpati_server::Config::new(&data, web.path());
        // Asked to stop at once: started wrongly it would return Ok, having created its database.
        let refused = merpati_server::run(listener, config, std::future::ready(())).await;
        let error = refused.expect_err("a data directory inside the web root is refused");
        assert!(error.to_string().contains("inside the web root"), "{error}");
        // Refused before anything was written: no database appears where it would be served.
        assert!(!data.join("merpati.db").exists(), "{}", data.display());
    }
    assert!(!web.path().join("data").exists());

    // A sibling whose name merely begins like the web root's is outside it.
    let sibling = std::path::PathBuf::from(format!("{}-data", web.path().display()));
    let server = TestServer::start_with(merpati_server::Config::new(&sibling, web.path())).await;
    assert_eq!(get(server.addr, "/healthz", &[]).await.unwrap().body, b"ok");
    server.stop().await;
    std::fs::remove_dir_all(&sibling).unwrap();
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let web = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    std::fs::write(web.path().join("index.html"), "<!doctype html>").unwrap();
    std::fs::write(web.path().join("app.js"), "export {};").unwrap();
    let server = TestServer::start_with(merpati_server::Config::new(data.path(), web.path())).await;

    let foreign_origin = [("Origin", "http://evil.example")];
    let answers = [
        ("/", &[][..]),
        ("/app.js", &[][..]),
        ("/missing.png", &[][..]),
        ("/healthz", &[][..]),
        // A handshake refused for its origin, and a plain GET of the WebSocket's path.
        ("/ws", &foreign_origin[..]),
        ("/ws", &[][..]),
    ];
    for (path, headers) in answers {
        let response = get(server.addr, path, headers).await.unwrap();
        let policy = response
            .header("content-security-policy")
            .unwrap_or_else(|| {
                panic!(
                    "{path} ({}) has no Content-Security-Policy",
                    response.status
                )
            });
        assert!(
            policy.contains("script-src 'self' 'wasm-unsafe-eval'"),
            "{path}: {policy}"
        );
        assert!(
            policy.contains("frame-ancestors 'none'"),
            "{path}: {policy}"
        );
        assert!(!policy.contains("unsafe-inline"), "{path}: {policy}");
        assert_eq!(
            response.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(
            response.header("referrer-policy"),
            Some("no-referrer"),
            "{path}"
        );
        // Plain HTTP: HSTS would be ignored by browsers and wrong for a local server.
        assert_eq!(response.header("strict-transport-security"), None, "{path}");
    }

    // Behind a proxy that ended TLS, HSTS pins HTTPS.
    let over_tls = get(server.addr, "/", &[("X-Forwarded-Proto", "https")])
        .await
        .unwrap();
    assert!(
        over_tls
            .header("strict-transport-security")
            .is_some_and(|hsts| hsts.starts_with("max-age=")),
        "{:?}",
        over_tls.header("strict-transport-security")
    );
    server.stop().await;
}

#[tokio::test]
async fn the_metrics_are_served_on_their_own_address_not_to_the_public() {
    let server = TestServer::start().await;
    // The app's address knows no /metrics: the counters are the operator's.
    let public = get(server.addr, "/metrics", &[]).await.unwrap();
    assert_ne!(public.status, 200, "the public can read /metrics");
    assert!(
        !String::from_utf8_lossy(&public.body).contains("merpati_"),
        "the app's port shows counters"
    );
    let metrics = server.metrics().await;
    assert!(
        metrics.contains_key("merpati_connections_open"),
        "{metrics:?}"
    );
    // Probes may check the operator's address too.
    assert_eq!(
        get(server.metrics_addr, "/healthz", &[])
            .await
            .unwrap()
            .body,
        b"ok"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_metrics_address_in_use_is_refused_with_words() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let data = tempfile::tempdir().unwrap();
    let web = tempfile::tempdir().unwrap();
    let mut config = merpati_server::Config::new(data.path(), web.path());
    config.metrics_addr = taken.local_addr().unwrap();
    let listener = merpati_server::listen("127.0.0.1:0".parse().unwrap()).unwrap();
    let refused = merpati_server::run(listener, config, std::future::ready(())).await;
    let error = refused.expect_err("the metrics address is taken");
    assert!(error.to_string().contains("metrics"), "{error}");
}
