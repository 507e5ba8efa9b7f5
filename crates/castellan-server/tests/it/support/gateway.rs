//! Gateway routes for the forward-auth tests.

use castellan_server::gateway::config::GatewayRoute;

/// A protected route for `method` and `path` with no scope, role or organization rule.
pub fn route(method: &str, path: &str) -> GatewayRoute {
    GatewayRoute {
        method: method.into(),
        path: path.into(),
        public: false,
        scope: None,
        min_role: None,
        organization_header: None,
        organization_param: None,
        tenant: false,
    }
}
