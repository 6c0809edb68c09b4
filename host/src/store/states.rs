//! The states the store keeps as text, as types: a binding's state
//! (`bindings.state`) and a run's outcome (`runs.outcome`). Each is stored,
//! shown and serialised as the same word it always was.

use std::fmt;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use crate::store::db::{FromValue, ToValue, Value};

/// Where a binding of a service to a splitter port stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BindingState {
    /// Bound locally, not confirmed yet.
    Pending,
    /// Confirmed: its push is queued in the outbox.
    Confirmed,
    /// The platform holds it.
    Pushed,
    /// The platform refused the push (the binding keeps the reason).
    Failed,
    /// Identified by a sync: the platform's client with this service's
    /// code sits on the port.
    FromPlatform,
}

impl BindingState {
    pub const ALL: [BindingState; 5] = [
        BindingState::Pending,
        BindingState::Confirmed,
        BindingState::Pushed,
        BindingState::Failed,
        BindingState::FromPlatform,
    ];

    /// As stored in `bindings.state` (and in the JSON).
    pub fn as_str(self) -> &'static str {
        match self {
            BindingState::Pending => "pending",
            BindingState::Confirmed => "confirmed",
            BindingState::Pushed => "pushed",
            BindingState::Failed => "failed",
            BindingState::FromPlatform => "from-platform",
        }
    }

    /// Whether the platform places the service on its port: identified
    /// there, or pushed.
    pub fn placed(self) -> bool {
        matches!(self, BindingState::FromPlatform | BindingState::Pushed)
    }
}

/// How a sync's run stands or ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunOutcome {
    Running,
    Succeeded,
    Failed,
    /// Cut short: its host stopped before the run ended.
    Interrupted,
}

impl RunOutcome {
    pub const ALL: [RunOutcome; 4] = [
        RunOutcome::Running,
        RunOutcome::Succeeded,
        RunOutcome::Failed,
        RunOutcome::Interrupted,
    ];

    /// As stored in `runs.outcome` (and in the JSON).
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Running => "running",
            RunOutcome::Succeeded => "succeeded",
            RunOutcome::Failed => "failed",
            RunOutcome::Interrupted => "interrupted",
        }
    }
}

/// `Display`, `ToValue` and `FromValue` of a state by its word.
macro_rules! stored_as_text {
    ($t:ident, $what:literal) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // `pad`, so widths and alignment apply (`{:<11}`).
                f.pad(self.as_str())
            }
        }

        impl ToValue for $t {
            fn to_value(&self) -> Value {
                Value::Text(self.as_str().to_string())
            }
        }

        impl FromValue for $t {
            fn from_value(v: &Value) -> Result<Self> {
                let text = String::from_value(v)?;
                match $t::ALL.into_iter().find(|s| s.as_str() == text) {
                    Some(state) => Ok(state),
                    None => bail!(
                        "unknown {} {text:?}; known: {}",
                        $what,
                        $t::ALL.map($t::as_str).join(", ")
                    ),
                }
            }
        }
    };
}

stored_as_text!(BindingState, "binding state");
stored_as_text!(RunOutcome, "run outcome");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binding_states_keep_their_words() {
        for state in BindingState::ALL {
            let word = state.as_str();
            assert_eq!(state.to_value(), Value::Text(word.into()));
            assert_eq!(BindingState::from_value(&state.to_value()).unwrap(), state);
            assert_eq!(serde_json::to_value(state).unwrap(), word);
            assert_eq!(state.to_string(), word);
        }
        assert_eq!(
            BindingState::ALL.map(BindingState::as_str),
            ["pending", "confirmed", "pushed", "failed", "from-platform"]
        );
    }

    #[test]
    fn run_outcomes_keep_their_words() {
        for outcome in RunOutcome::ALL {
            let word = outcome.as_str();
            assert_eq!(outcome.to_value(), Value::Text(word.into()));
            assert_eq!(
                RunOutcome::from_value(&outcome.to_value()).unwrap(),
                outcome
            );
            assert_eq!(serde_json::to_value(outcome).unwrap(), word);
            let back: RunOutcome = serde_json::from_value(word.into()).unwrap();
            assert_eq!(back, outcome);
        }
        assert_eq!(
            RunOutcome::ALL.map(RunOutcome::as_str),
            ["running", "succeeded", "failed", "interrupted"]
        );
        assert_eq!(format!("[{:<11}]", RunOutcome::Failed), "[failed     ]");
    }

    #[test]
    fn an_unknown_word_is_an_error_naming_it() {
        let e = BindingState::from_value(&Value::Text("unbinding".into())).unwrap_err();
        assert!(format!("{e:#}").contains("\"unbinding\""), "{e:#}");
        let e = RunOutcome::from_value(&Value::Text("paused".into())).unwrap_err();
        assert!(format!("{e:#}").contains("\"paused\""), "{e:#}");
        assert!(RunOutcome::from_value(&Value::Int(1)).is_err());
    }
}
