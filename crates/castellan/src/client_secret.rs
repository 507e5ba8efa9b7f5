//! `castellan clients rotate-secret ID [--overlap-seconds N] [--json]`: the client's new
//! secret, printed once, and until when the previous one is still accepted. The same rotation
//! as the management API's ([`castellan_server::management::client_secret`]).
#![expect(clippy::print_stdout, reason = "a command answers on standard output")]

use crate::cli::RotateSecret;
use anyhow::{anyhow, Context};
use castellan_crypto::{Clock, SystemClock};
use castellan_server::audit::{record, Caller, Kind};
use castellan_server::management::client_secret::{rotate_client_secret, RotateError};
use castellan_server::management::http::clients::ClientRepresentation;
use castellan_server::platform::config::Config;
use std::sync::Arc;

/// Rotates the secret of the client `args.id`.
pub async fn rotate(config: Config, args: RotateSecret) -> anyhow::Result<()> {
    let store = crate::commands::open_existing_store(&config).await?;
    let state = castellan_server::start(config, store, Arc::new(SystemClock))
        .await
        .context("preparing the client service")?;
    let rotated = rotate_client_secret(&state, &args.id, args.overlap_seconds, SystemClock.now())
        .await
        .map_err(|e| match e {
            RotateError::NotFound => anyhow!(
                "no client with id `{}`",
                castellan_core::query::truncate_for_message(&args.id)
            ),
            RotateError::Store(e) => anyhow!("storage failed: {e}"),
            e => anyhow!("{e}"),
        })?;
    tracing::info!(client_id = %rotated.client.id, by = "cli", "client secret rotated");
    let event = Caller::operator()
        .did(Kind::ClientSecretRotated)
        .target(&rotated.client.id);
    record(&state, event).await;
    let rep = ClientRepresentation::new(
        &rotated.client,
        Some(rotated.secret.into_exposed()),
        SystemClock.now(),
    );
    if args.json {
        println!("{}", serde_json::to_string(&rep)?);
    } else {
        println!("client_id:     {}", rep.id);
        if let Some(s) = &rep.secret {
            println!("client_secret: {s}   (shown only this once)");
        }
        match &rep.previous_secret_expires_at {
            Some(t) => println!("previous secret accepted until {t}"),
            None => println!("previous secret no longer accepted"),
        }
    }
    Ok(())
}
