//! HTTP handlers, one file per resource; each is extract → authorize → one service call →
//! answer.

pub mod clients;
pub mod discovery;
pub mod health;
pub mod introspect;
pub mod register;
pub mod revoke;
pub mod token;
