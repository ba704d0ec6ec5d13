//! The browser pages `herald up` serves: the chat web app at `/app/` and the console at
//! `/console-ui/`, built from `clients/web` (see its README) and embedded in the binary, so a
//! machine without Node serves them. Both are plain clients of the public routes: they hold no
//! secret, and every page carries a strict Content-Security-Policy.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use rust_embed::RustEmbed;
use std::borrow::Cow;
use std::path::{Component, PathBuf};
use std::sync::Arc;

/// Where the pages come from.
#[derive(Clone, Debug, Default)]
pub enum WebUi {
    /// The copy built into the binary (the default).
    #[default]
    Embedded,
    /// A directory laid out like `clients/web/dist`, read on every request: for working on the
    /// pages without rebuilding the server.
    Dir(PathBuf),
    /// No pages: `/app/` and `/console-ui/` answer 404 like any unknown route.
    Off,
}

#[derive(RustEmbed)]
#[folder = "../../clients/web/dist/"]
struct Assets;

/// Only scripts, styles and images of this origin; no inline script or style, no frames, no
/// plugins. `connect-src 'self'` covers the `/ws` socket of the same host (CSP 3).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// The two pages' routes, or none when the pages are off.
pub fn routes<S: Clone + Send + Sync + 'static>(web: &WebUi) -> Router<S> {
    if matches!(web, WebUi::Off) {
        return Router::new();
    }
    let source = Arc::new(web.clone());
    let mut router = Router::new();
    for (mount, dir) in [("/app", "app"), ("/console-ui", "console")] {
        let index = {
            let source = source.clone();
            move |headers: HeaderMap| {
                let source = source.clone();
                async move { page(&source, dir, "", headers).await }
            }
        };
        let file = {
            let source = source.clone();
            move |Path(rest): Path<String>, headers: HeaderMap| {
                let source = source.clone();
                async move { page(&source, dir, &rest, headers).await }
            }
        };
        router = router
            .route(
                mount,
                get(move || async move { Redirect::permanent(&format!("{mount}/")) }),
            )
            .route(&format!("{mount}/"), get(index))
            .route(&format!("{mount}/{{*rest}}"), get(file));
    }
    router.with_state::<S>(())
}

/// One file of a page, or the page's `index.html` for a path with no file extension (the pages
/// route in the browser), or 404.
async fn page(source: &WebUi, dir: &str, rest: &str, headers: HeaderMap) -> Response {
    let Some(rest) = clean(rest) else {
        return not_found();
    };
    let wanted = if rest.is_empty() { "index.html".to_owned() } else { rest };
    let found = match load(source, &format!("{dir}/{wanted}")).await {
        Some(found) => Some((found, wanted)),
        None if !wanted.rsplit('/').next().unwrap_or("").contains('.') => load(source, &format!("{dir}/index.html"))
            .await
            .map(|f| (f, "index.html".to_owned())),
        None => None,
    };
    let Some(((body, etag), name)) = found else {
        return not_found();
    };
    let etag = format!("\"{etag}\"");
    let mut response = if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mime = mime_guess::from_path(&name).first_or_octet_stream();
        (
            [(header::CONTENT_TYPE, mime.essence_str().to_owned())],
            body.into_owned(),
        )
            .into_response()
    };
    let h = response.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Revalidate every time: a new server version's pages are picked up at once, and an
    // unchanged file costs a 304.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, value);
    }
    response
}

/// The path's plain components joined with `/`, or `None` when it has any other (`..`, a root,
/// a drive prefix): nothing outside the pages' folder can be named.
fn clean(rest: &str) -> Option<String> {
    let mut parts = Vec::new();
    for component in std::path::Path::new(rest).components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str()?.to_owned()),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(parts.join("/"))
}

/// A file's bytes and a validator for `ETag`.
async fn load(source: &WebUi, path: &str) -> Option<(Cow<'static, [u8]>, String)> {
    match source {
        WebUi::Embedded => Assets::get(path).map(|file| {
            let hash = file.metadata.sha256_hash();
            (file.data, hex(&hash[..16]))
        }),
        WebUi::Dir(root) => {
            let bytes = tokio::fs::read(root.join(path)).await.ok()?;
            let hash = <sha2::Sha256 as sha2::Digest>::digest(&bytes);
            Some((Cow::Owned(bytes), hex(&hash[..16])))
        }
        WebUi::Off => None,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn not_found() -> Response {
    crate::error::ApiError::new(herald_protocol::ErrorCode::NotFound, "no such page").into_response()
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn clean_refuses_every_way_out_of_the_folder() {
        assert_eq!(clean("").as_deref(), Some(""));
        assert_eq!(clean("a/b.js").as_deref(), Some("a/b.js"));
        assert_eq!(clean("./a.js").as_deref(), Some("a.js"));
        assert_eq!(clean("../secret"), None);
        assert_eq!(clean("a/../../b"), None);
        assert_eq!(clean("/etc/passwd"), None);
    }
}
