//! The tower [`Layer`] that puts a [`Guard`] in front of a service: a request passes with its
//! [`Identity`] in its extensions (and its answer gets the `RateLimit-*` headers of the call's
//! count), or is answered with the failure (RFC 6750 §3) or the rate limit's 429/503.

use crate::failure::ResourceMetadata;
use crate::guard::Guard;
use crate::identity::Identity;
use axum::response::Response;
use futures::future::BoxFuture;
use http::Request;
use std::task::{Context, Poll};
use tower::{Layer, Service};

/// The tower layer that puts a [`Guard`] in front of a service.
#[derive(Debug, Clone)]
pub struct GuardLayer {
    guard: Guard,
}

impl GuardLayer {
    /// A layer checking every request with `guard`.
    pub fn new(guard: Guard) -> Self {
        GuardLayer { guard }
    }
}

impl<S> Layer<S> for GuardLayer {
    type Service = GuardService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        GuardService {
            inner,
            guard: self.guard.clone(),
        }
    }
}

/// A service behind the guard: requests reach it only once checked, with the [`Identity`] in
/// their extensions.
#[derive(Debug, Clone)]
pub struct GuardService<S> {
    inner: S,
    guard: Guard,
}

impl<S, B> Service<Request<B>> for GuardService<S>
where
    S: Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let guard = self.guard.clone();
        // The clone is not driven to readiness: swap so the ready one serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let checked = guard
                .admit(req.method(), req.uri().path(), req.headers())
                .await;
            match checked {
                Ok(admitted) => {
                    let ext = req.extensions_mut();
                    ext.insert::<ResourceMetadata>(guard.resource_metadata().clone());
                    if let Some(id) = admitted.identity {
                        ext.insert::<Identity>(Identity::clone(&id));
                    }
                    let mut res = inner.call(req).await?;
                    if let Some(decision) = &admitted.limit {
                        crate::limits::render(res.headers_mut(), decision, guard.header_style());
                    }
                    Ok(res)
                }
                Err(refusal) => Ok(guard.render_refusal(&refusal)),
            }
        })
    }
}
