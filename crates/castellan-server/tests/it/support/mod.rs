//! Helpers only this crate's tests need: a cookie-keeping page client over reqwest (`pages`),
//! a headless Chromium through chromedriver (`browser`), gateway routes (`gateway`) and a mail
//! sink (`smtp`). Fixtures other crates' tests use
//! too live in `castellan-testkit`.

pub mod browser;
pub mod doc_server;
pub mod dpop;
pub mod gateway;
pub mod logout;
pub mod pages;
pub mod smtp;
pub mod webauthn;
