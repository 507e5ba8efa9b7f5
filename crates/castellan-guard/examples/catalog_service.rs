//! A tiny catalog API behind castellan-guard.
//!
//! ```sh
//! CASTELLAN_ISSUER=http://localhost:8000 cargo run -p castellan-guard --example catalog_service
//! curl -i localhost:3000/catalog/search                      # 200, anonymous
//! curl -i -H 'X-API-Key: csb_nope_00000000' localhost:3000/catalog/search   # 401 malformed key
//! curl -i -H "Authorization: Bearer $TOKEN" localhost:3000/products          # needs products:read
//! ```
//! `CATALOG_LISTEN` sets the address (default `127.0.0.1:3000`).

use castellan_guard::example::{catalog_router, config_from_env};
use castellan_guard::Guard;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = config_from_env(|k| std::env::var(k).ok())?;
    let guard = Guard::new(config)?;
    let listen = std::env::var("CATALOG_LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    tracing::info!(%listen, "catalog service listening");
    axum::serve(listener, catalog_router(guard)).await?;
    Ok(())
}
