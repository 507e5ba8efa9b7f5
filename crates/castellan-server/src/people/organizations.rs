//! Changing who belongs to an organization: setting a member's role and removing a
//! member. Storage disables the member's API keys of the organization in the same transaction
//! (removal, or a lowered role); this replica then forgets the cached membership and keys at
//! once, other replicas within `gateway.membership_cache_seconds` and `api_keys.cache_seconds`.

use crate::audit::{self, Caller, Kind};
use crate::platform::state::AppState;
use castellan_core::user::{Membership, Role};
use castellan_store::StoreError;

/// Why a membership change did not happen.
#[derive(Debug, thiserror::Error)]
pub enum MemberError {
    /// The organization does not exist.
    #[error("no such organization")]
    NoOrganization,
    /// The person does not exist.
    #[error("no such user")]
    NoUser,
    /// The person is not a member of the organization.
    #[error("the user is not a member of the organization")]
    NotMember,
    /// The person is disabled (`castellan users disable`).
    #[error("the user is disabled: enable them before giving them a role")]
    Disabled,
    /// The change would leave the organization without an OWNER.
    #[error("the last OWNER of an organization can be neither removed nor demoted: make another member OWNER first")]
    LastOwner,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Adds the user to the organization with `role`, or changes their role.
pub async fn set_role(
    state: &AppState,
    organization: &str,
    user: &str,
    role: Role,
    by: &Caller,
) -> Result<(), MemberError> {
    if state.store.get_organization(organization).await?.is_none() {
        return Err(MemberError::NoOrganization);
    }
    match state.store.get_user(user).await? {
        None => return Err(MemberError::NoUser),
        Some(u) if u.disabled_at.is_some() => return Err(MemberError::Disabled),
        Some(_) => {}
    }
    state
        .store
        .upsert_membership(&Membership {
            organization_id: organization.to_owned(),
            user_id: user.to_owned(),
            role,
        })
        .await
        .map_err(last_owner)?;
    forget(state, organization, user).await;
    tracing::info!(organization_id = %organization, user_id = %user, role = %role, "member role set");
    audit::record(
        state,
        by.did(Kind::MemberRoleChanged)
            .organization(Some(organization))
            .target(user)
            .detail(format!("role {role}")),
    )
    .await;
    Ok(())
}

/// Removes the member (and disables their keys of the organization).
pub async fn remove_member(
    state: &AppState,
    organization: &str,
    user: &str,
    by: &Caller,
) -> Result<(), MemberError> {
    if !state
        .store
        .remove_membership(organization, user)
        .await
        .map_err(last_owner)?
    {
        return Err(MemberError::NotMember);
    }
    forget(state, organization, user).await;
    tracing::info!(organization_id = %organization, user_id = %user, "member removed");
    audit::record(
        state,
        by.did(Kind::MemberRemoved)
            .organization(Some(organization))
            .target(user),
    )
    .await;
    Ok(())
}

/// Storage's refusal to take away the last OWNER, as [`MemberError::LastOwner`].
fn last_owner(e: StoreError) -> MemberError {
    match e {
        StoreError::Conflict(m) if m == castellan_store::people::LAST_OWNER => {
            MemberError::LastOwner
        }
        e => MemberError::Store(e),
    }
}

async fn forget(state: &AppState, organization: &str, user: &str) {
    state.memberships.forget(organization, user).await;
    state.api_keys.forget_all();
}
