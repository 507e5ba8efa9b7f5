//! The token endpoint's extractors, being moved to [`crate::oauth`]; the other names
//! re-export their new homes until every caller uses those.

pub mod client_ip;
pub mod params;

pub use crate::oauth::{bearer, http::bearer as bearer_header};
pub use crate::people::http::session;
pub use crate::platform::http::{body, json, text};
