//! The HTTP side: health check and the web app's files.

use crate::support::{TestServer, header, http_get};

#[tokio::test]
async fn healthz_answers_ok() {
    let server = TestServer::start().await;
    let (status, _, body) = http_get(server.addr, "/healthz", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(body, b"ok");
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

    let (status, headers, body) = http_get(server.addr, "/", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(body, index.as_bytes());
    assert!(header(&headers, "content-type").is_some_and(|t| t.starts_with("text/html")));

    let (status, headers, body) = http_get(server.addr, "/app.js", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(body, b"console.log('merpati');");
    // Files that keep their name across releases (the engine worker's) must be revalidated.
    assert_eq!(header(&headers, "cache-control"), Some("no-cache"));

    // A route of the app itself: the page is served, the app routes.
    let (status, _, body) = http_get(server.addr, "/chats/42", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(body, index.as_bytes());

    let (status, headers, _) = http_get(server.addr, "/", &[("Accept-Encoding", "gzip")]).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-encoding"), Some("gzip"));
    server.stop().await;
}
