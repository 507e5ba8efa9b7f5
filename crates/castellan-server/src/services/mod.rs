//! Former paths of the services, re-exporting their homes in the capability modules.

pub use crate::oauth::{client_cache, tokens};
pub use crate::platform::limits;

pub use crate::gateway::{api_keys, forward_auth, memberships, tenant};
pub use crate::management::{clients, key_reach};
pub use crate::oauth::{authorize, consent, id_token, registration, token_cache, userinfo};
pub use crate::people::{
    connected_apps, csrf, known_device, login, login_throttle, organizations, passwords, sessions,
};
pub use crate::platform::upkeep as maintenance;
pub use crate::platform::{keys, usage};
