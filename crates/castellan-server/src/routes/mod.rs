//! Former paths of the handlers, re-exporting their homes in the capability modules.

pub use crate::gateway::http::forward_auth;
pub use crate::management::http::{api_keys, clients};
pub use crate::oauth::http::{
    authorize, consent, discovery, introspect, register, revocations, revoke, userinfo,
};
pub use crate::people::http::{
    account, account_api_keys, connected_apps, login, organizations, pages,
};
pub use crate::platform::http::health;
