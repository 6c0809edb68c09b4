//! Refusals: what mapsync's rules refuse, by kind, for people to act on.
//! The API answers each kind with its status and the CLI with its exit
//! code; anything that is not a refusal (the store, a file, the network)
//! is a failure. A refusal may name the next step as a [`Hint`], which
//! only the CLI turns into a command line.

use std::fmt;

/// What kind of refusal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// What the request names does not exist.
    NotFound,
    /// It clashes with the current state (taken, already bound, running).
    Conflict,
    /// The input is wrong; `field` names it when one field is.
    Invalid { field: Option<String> },
    /// mapsync cannot take it now (stopping).
    Unavailable,
}

/// The next step a person can take, said in the CLI's words by the CLI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hint {
    ImportServices,
    Bind,
    BindMove { service: String },
    Unbind { service: String },
    Bindings,
    AddIntegration,
    CreateProject,
    Link { integration: String },
    RemoveIntegration { project: String },
}

impl Hint {
    /// The command that takes the step.
    pub fn command(&self) -> String {
        match self {
            Hint::ImportServices => "mapsync services import FILE".into(),
            Hint::Bind => "mapsync bind".into(),
            Hint::BindMove { service } => format!(
                "mapsync bind --service {service} --move ..., or mapsync unbind --service {service}"
            ),
            Hint::Unbind { service } => format!("mapsync unbind --service {service}"),
            Hint::Bindings => "mapsync bindings".into(),
            Hint::AddIntegration => "mapsync integration add".into(),
            Hint::CreateProject => "mapsync project create NAME".into(),
            Hint::Link { integration } => format!(
                "mapsync integration link --integration {integration} --new PROJECT (or --existing PROJECT)"
            ),
            Hint::RemoveIntegration { project } => {
                format!("mapsync project remove-integration {project:?}")
            }
        }
    }
}

#[derive(Debug)]
pub struct Refusal {
    pub kind: Kind,
    pub message: String,
    pub hint: Option<Hint>,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refusal {}

impl Refusal {
    pub fn new(kind: Kind, message: impl Into<String>) -> Refusal {
        Refusal {
            kind,
            message: message.into(),
            hint: None,
        }
    }

    pub fn hint(mut self, hint: Hint) -> Refusal {
        self.hint = Some(hint);
        self
    }

    /// The refusal in an error's chain, if it is one.
    pub fn of(e: &anyhow::Error) -> Option<&Refusal> {
        e.chain().find_map(|cause| cause.downcast_ref::<Refusal>())
    }
}

pub fn not_found(message: impl Into<String>) -> Refusal {
    Refusal::new(Kind::NotFound, message)
}

pub fn conflict(message: impl Into<String>) -> Refusal {
    Refusal::new(Kind::Conflict, message)
}

/// Invalid input; `field` is named as the API names it (a CLI flag's
/// leading dashes are dropped and its dashes read as underscores).
pub fn invalid(field: &str, message: impl Into<String>) -> Refusal {
    let field = field.trim_start_matches('-').replace('-', "_");
    Refusal::new(Kind::Invalid { field: Some(field) }, message)
}

pub fn unavailable(message: impl Into<String>) -> Refusal {
    Refusal::new(Kind::Unavailable, message)
}

/// Return a refusal: `refuse!(conflict("port {port} is taken"))` or with
/// a hint, `refuse!(not_found("..."), Hint::ImportServices)`.
#[macro_export]
macro_rules! refuse {
    ($refusal:expr) => {
        return Err(anyhow::Error::new($refusal))
    };
    ($refusal:expr, $hint:expr) => {
        return Err(anyhow::Error::new($refusal.hint($hint)))
    };
}

/// The exit code of a failed command: 2 invalid input (as for a usage
/// error), 3 not found, 4 conflict, 5 unavailable, 1 any other failure.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    match Refusal::of(e).map(|r| &r.kind) {
        Some(Kind::Invalid { .. }) => 2,
        Some(Kind::NotFound) => 3,
        Some(Kind::Conflict) => 4,
        Some(Kind::Unavailable) => 5,
        None => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_keep_their_kind_through_context() {
        let e = anyhow::Error::new(conflict("port 3 is taken")).context("binding SVC-1");
        assert_eq!(
            Refusal::of(&e).map(|r| r.kind.clone()),
            Some(Kind::Conflict)
        );
        assert_eq!(exit_code(&e), 4);
        assert_eq!(exit_code(&anyhow::anyhow!("disk on fire")), 1);
    }
}
