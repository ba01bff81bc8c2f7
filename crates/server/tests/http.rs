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
async fn the_web_root_is_served_with_index_html_for_unknown_paths() {
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

    let gzipped = get(server.addr, "/", &[("Accept-Encoding", "gzip")])
        .await
        .unwrap();
    assert_eq!(gzipped.status, 200);
    assert_eq!(gzipped.header("content-encoding"), Some("gzip"));
    server.stop().await;
}
