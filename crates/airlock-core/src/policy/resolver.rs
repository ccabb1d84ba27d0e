//! Which policy applies to a call: a [`PolicyResolver`] maps the caller to a compiled
//! [`Policy`], or to none, which refuses the call. [`ConfigPolicies`] is the configuration's
//! resolver (the caller's tenant's `[tenants.NAME]` policy, else the base one); a closure is
//! one too, for libraries that keep policies elsewhere.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::Policy;
use crate::call::CallerContext;

/// Decides which policy applies to a caller. `None` refuses the call.
pub trait PolicyResolver: Send + Sync {
    /// The policy for this caller, or `None` (the call is refused).
    fn resolve(&self, caller: &CallerContext) -> Option<Arc<Policy>>;
}

impl<F> PolicyResolver for F
where
    F: Fn(&CallerContext) -> Option<Arc<Policy>> + Send + Sync,
{
    fn resolve(&self, caller: &CallerContext) -> Option<Arc<Policy>> {
        self(caller)
    }
}

/// The configuration's resolver: a caller without a tenant gets the base policy; a caller whose
/// tenant has a `[tenants.NAME]` section gets that policy. Once any tenant is configured, a
/// caller naming a tenant that is not configured gets none — the call is refused.
#[derive(Clone, Debug)]
pub struct ConfigPolicies {
    /// The base policy.
    pub base: Arc<Policy>,
    /// Per-tenant policies.
    pub tenants: BTreeMap<String, Arc<Policy>>,
}

impl PolicyResolver for ConfigPolicies {
    fn resolve(&self, caller: &CallerContext) -> Option<Arc<Policy>> {
        match caller.tenant.as_deref() {
            None => Some(self.base.clone()),
            Some(t) => match self.tenants.get(t) {
                Some(p) => Some(p.clone()),
                None if self.tenants.is_empty() => Some(self.base.clone()),
                None => None,
            },
        }
    }
}
