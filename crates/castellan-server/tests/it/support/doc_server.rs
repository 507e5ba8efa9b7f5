//! A document server on `127.0.0.1:0` for the fetcher's tests, `jwks_uri` key sets and client
//! ID metadata documents: each path answers what the test set (status, headers, body, an
//! optional stall), and every request is counted.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap, with its location"
)]

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What one path answers.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Wait this long before answering.
    pub stall: Option<Duration>,
}

impl Answer {
    /// `200`, `application/json`, `body`.
    pub fn json(body: impl Into<Vec<u8>>) -> Self {
        Answer {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into(),
            stall: None,
        }
    }

    /// The same with one more header.
    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

#[derive(Default)]
struct Inner {
    answers: Mutex<HashMap<String, Answer>>,
    hits: AtomicUsize,
}

/// A running document server.
#[derive(Clone)]
pub struct DocServer {
    inner: Arc<Inner>,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
}

impl DocServer {
    /// Starts a server with no documents (every path is 404).
    pub async fn start() -> DocServer {
        let inner = Arc::new(Inner::default());
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        DocServer { inner, base }
    }

    /// The URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sets what `path` answers.
    pub fn set(&self, path: &str, answer: Answer) {
        self.inner
            .answers
            .lock()
            .unwrap()
            .insert(path.to_owned(), answer);
    }

    /// Requests received so far, on every path.
    pub fn hits(&self) -> usize {
        self.inner.hits.load(Ordering::SeqCst)
    }
}

async fn answer(State(inner): State<Arc<Inner>>, req: Request) -> Response {
    inner.hits.fetch_add(1, Ordering::SeqCst);
    let found = inner.answers.lock().unwrap().get(req.uri().path()).cloned();
    let Some(a) = found else {
        return Response::builder().status(404).body(Body::empty()).unwrap();
    };
    if let Some(d) = a.stall {
        tokio::time::sleep(d).await;
    }
    let mut res = Response::new(Body::from(a.body));
    *res.status_mut() = StatusCode::from_u16(a.status).unwrap();
    for (n, v) in a.headers {
        res.headers_mut().append(
            HeaderName::try_from(n).unwrap(),
            HeaderValue::try_from(v).unwrap(),
        );
    }
    res
}
