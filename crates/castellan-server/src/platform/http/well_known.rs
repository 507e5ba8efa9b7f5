//! The operator's `/.well-known/` documents over HTTP: `GET` and `HEAD`, with `ETag`,
//! `Cache-Control: public, max-age=…` and `304 Not Modified` for a matching `If-None-Match`.

use crate::platform::state::AppState;
use crate::platform::well_known::Document;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

/// One route per configured document.
pub fn router(documents: &Arc<[Document]>) -> Router<AppState> {
    (0..documents.len()).fold(Router::new(), |router, i| {
        let documents = Arc::clone(documents);
        let path = documents[i].path.clone();
        router.route(
            &path,
            get(move |headers: HeaderMap| async move { answer(&documents[i], &headers) }),
        )
    })
}

fn answer(doc: &Document, headers: &HeaderMap) -> Response {
    let mut h = HeaderMap::with_capacity(4);
    if let Ok(v) = HeaderValue::from_str(&doc.etag) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={}", doc.cache_seconds)) {
        h.insert(header::CACHE_CONTROL, v);
    }
    let matches = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == doc.etag
        });
    if matches {
        return (StatusCode::NOT_MODIFIED, h).into_response();
    }
    if let Ok(v) = HeaderValue::from_str(&doc.content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    (StatusCode::OK, h, doc.body.clone()).into_response()
}
