//! People: signing in (passwords, sign-in delays, known devices), browser sessions and their
//! CSRF tokens, the account pages, connected apps, and organizations with their members. A new
//! page or account feature lives here: its rules in a module of its own, its handler in
//! [`http`].

pub mod connected_apps;
pub mod csrf;
pub mod email_links;
pub mod http;
pub mod known_device;
pub mod login;
pub mod login_throttle;
pub mod oauth_apps;
pub mod organizations;
pub mod passkeys;
pub mod passwords;
pub mod second_factor;
pub mod sessions;
