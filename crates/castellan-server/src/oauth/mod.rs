//! OAuth 2.0 and OpenID Connect: the token pipeline, client authentication, and their HTTP
//! side (`http/`, the only place here where axum and `http` types appear).

pub mod client_auth;
pub mod http;
pub mod token;
