//! Extractors: raw requests into typed inputs, refusing malformed input before storage.

pub mod bearer;
pub mod body;
pub mod client_ip;
pub mod json;
pub mod params;
pub mod session;
pub mod text;
