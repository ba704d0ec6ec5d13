//! The browser pages (`/app/`, `/console-ui/`): served from the binary with a strict
//! Content-Security-Policy, routed in the browser, revalidated by ETag, nothing outside their
//! folder reachable, and absent when turned off.

use crate::support::{BusKind, Herald, http_client};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn get(herald: &Herald, path: &str, etag: Option<&str>) -> reqwest::Response {
    let mut request = http_client().get(format!("http://{}{path}", herald.addr));
    if let Some(etag) = etag {
        request = request.header("if-none-match", etag);
    }
    request.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_are_served_with_a_strict_policy() {
    let herald = Herald::start(BusKind::Embedded).await;
    for page in ["/app/", "/console-ui/"] {
        let response = get(&herald, page, None).await;
        assert_eq!(response.status(), 200, "{page}");
        let headers = response.headers().clone();
        assert!(
            headers["content-type"].to_str().unwrap().starts_with("text/html"),
            "{page}"
        );
        let csp = headers["content-security-policy"].to_str().unwrap();
        for directive in ["default-src 'none'", "script-src 'self'", "frame-ancestors 'none'"] {
            assert!(csp.contains(directive), "{page}: {csp}");
        }
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        let body = response.text().await.unwrap();
        assert!(body.contains("<html"), "{page}: {body}");

        // A path with no file extension is the page's own route: its index.
        let routed = get(&herald, &format!("{page}some/view"), None).await;
        assert_eq!(routed.status(), 200);
        assert_eq!(routed.text().await.unwrap(), body);

        // An unchanged page costs a 304.
        let etag = headers["etag"].to_str().unwrap().to_owned();
        assert_eq!(get(&herald, page, Some(&etag)).await.status(), 304);
    }
    let missing = get(&herald, "/app/no-such-file.js", None).await;
    assert_eq!(missing.status(), 404);
    let redirect = http_client()
        .get(format!("http://{}/app", herald.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.url().path(), "/app/", "/app leads to /app/");
    herald.stop().await;
}

/// A raw request line, so no client normalises the path first.
async fn raw_status(herald: &Herald, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(herald.addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pages_directory_serves_nothing_outside_it() {
    let root = tempfile::tempdir().unwrap();
    let pages = root.path().join("dist");
    std::fs::create_dir_all(pages.join("app")).unwrap();
    std::fs::write(pages.join("app/index.html"), "<html>from the directory</html>").unwrap();
    std::fs::write(root.path().join("secret.txt"), "not a page").unwrap();
    let dir = pages.display().to_string();
    let herald = Herald::start_with(BusKind::Embedded, &["--web-dir", &dir]).await;

    let page = get(&herald, "/app/", None).await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.text().await.unwrap(), "<html>from the directory</html>");
    for path in [
        "/app/..%2f..%2fsecret.txt",
        "/app/%2e%2e/%2e%2e/secret.txt",
        "/app/..%5c..%5csecret.txt",
        "/app/%2fetc%2fpasswd",
    ] {
        let status = raw_status(&herald, path).await;
        assert!(status.contains(" 404 ") || status.contains(" 400 "), "{path}: {status}");
    }
    herald.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turned_off_the_pages_are_not_there() {
    let herald = Herald::start_with(BusKind::Embedded, &["--web-ui", "false"]).await;
    for page in ["/app/", "/console-ui/", "/app/index.html"] {
        assert_eq!(get(&herald, page, None).await.status(), 404, "{page}");
    }
    herald.stop().await;
}
