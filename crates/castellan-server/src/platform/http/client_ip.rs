//! The caller's address as a handler reads it: the connection's peer, or the address trusted
//! proxies forwarded ([`ClientIpSource`](crate::platform::http::proxies::ClientIpSource)).

use crate::platform::state::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

/// The client address a request is counted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    /// The rate-limit key of the address ([`crate::platform::limits::ip_key`]).
    pub fn limit_key(&self) -> String {
        crate::platform::limits::ip_key(self.0)
    }
}

/// The caller of a request from `peer` (the connection's address; `None` in process) with
/// `headers`, under the configured trusted proxies.
pub fn client_ip(state: &AppState, peer: Option<IpAddr>, headers: &HeaderMap) -> ClientIp {
    ClientIp(state.client_ip.resolve(peer, headers))
}

/// The caller of the request whose head is `parts`.
pub fn of_parts(state: &AppState, parts: &Parts) -> ClientIp {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    client_ip(state, peer, &parts.headers)
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(of_parts(state, parts))
    }
}
