//! The token endpoint's services, being moved to [`crate::oauth`]; the other names re-export
//! their new homes until every caller uses those.

pub mod client_cache;
pub mod limits;
pub mod tokens;

pub use crate::gateway::{api_keys, forward_auth, memberships, tenant};
pub use crate::management::{clients, key_reach};
pub use crate::oauth::{authorize, consent, id_token, registration, token_cache, userinfo};
pub use crate::people::{
    connected_apps, csrf, known_device, login, login_throttle, organizations, passwords, sessions,
};
pub use crate::platform::upkeep as maintenance;
pub use crate::platform::{keys, usage};
