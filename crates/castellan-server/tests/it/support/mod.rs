//! Helpers only this crate's tests need: a cookie-keeping page client over reqwest (`pages`)
//! and a headless Chromium through chromedriver (`browser`). Fixtures other crates' tests use
//! too live in `castellan-testkit`.

pub mod browser;
pub mod pages;
