//! The revocation feed (`GET /oauth/revocations`): which revocations gateways still need to
//! know about.

use crate::platform::state::AppState;

/// How long after its revocation an entry still matters: the longest an access token can
/// live (the clients' upper bound, the default lifetime, a tenant token's) plus the leeway.
pub fn horizon(state: &AppState) -> chrono::Duration {
    let c = &state.config;
    let longest = c
        .longest_access_seconds()
        .max(c.gateway.tenant_token_seconds);
    chrono::Duration::seconds(i64::from(longest) + i64::from(c.token.leeway_seconds))
}
