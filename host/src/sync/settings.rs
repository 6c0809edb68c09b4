//! What the component is told of an integration for a call: its
//! connection, and the tuning a test or an operator may want.

use crate::component::bindings::sync as wit_sync;
use crate::store::integrations::Integration;

/// Request tuning a test or an operator may want (zero means the guest's
/// default), and this run's confirmation of held removals.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tuning {
    pub page_size: u32,
    pub max_attempts: u32,
    pub timeout_ms: u32,
    /// A listing's requests under way at once.
    pub pages_in_flight: u32,
    /// A person confirmed the removals an earlier run held.
    pub allow_removals: bool,
    /// Read every element, not only what changed since the last run.
    pub full: bool,
}

/// The component's settings for an integration.
pub fn settings(integration: &Integration, tuning: Tuning) -> wit_sync::Settings {
    wit_sync::Settings {
        api_url: integration.api_url.clone(),
        api_key: integration.api_key.clone(),
        user: integration.user.clone(),
        password: integration.password.clone(),
        project_name: integration.project_name.clone(),
        page_size: tuning.page_size,
        max_attempts: tuning.max_attempts,
        timeout_ms: tuning.timeout_ms,
        pages_in_flight: tuning.pages_in_flight,
        requests_per_second: 0,
        switched_off: Vec::new(),
        max_removal_percent: crate::store::scope::DEFAULT_MAX_REMOVAL_PERCENT,
        allow_removals: tuning.allow_removals,
        state: None,
        full: tuning.full,
        full_every_hours: 0,
    }
}
