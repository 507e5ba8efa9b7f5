//! Helpers only this crate's tests need: a cookie-keeping page client over reqwest (`pages`),
//! a headless Chromium through chromedriver (`browser`) and gateway routes (`gateway`). Fixtures other crates' tests use
//! too live in `castellan-testkit`.

pub mod browser;
pub mod doc_server;
pub mod dpop;
pub mod gateway;
pub mod pages;
