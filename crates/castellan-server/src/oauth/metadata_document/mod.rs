//! Documents clients name by URL: client ID metadata documents
//! (draft-ietf-oauth-client-id-metadata-document) and the `[client_metadata]` settings of
//! their fetching.

pub mod config;
