//! The HTTP side of OAuth: requests read into typed inputs, answers written from typed
//! outcomes.

pub mod client_auth;
pub mod token;
pub mod token_answer;
