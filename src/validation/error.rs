//! The validation error, shaped like notary's so the Go client can decode and show it.

use std::fmt;

/// Which of notary's validation errors this is (`tuf/validation/errors.go`); the Go client
/// decodes the name from the error detail and prints a matching message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// `ErrBadHierarchy`: a role needed to make sense of the update is missing.
    BadHierarchy,
    /// `ErrBadRoot`.
    BadRoot,
    /// `ErrBadSnapshot`.
    BadSnapshot,
    /// `ErrBadTargets`, also for delegations.
    BadTargets,
    /// `ErrValidation`: anything else.
    Validation,
}

impl ErrorKind {
    /// The Go type name sent as `detail.Name`.
    pub fn go_name(self) -> &'static str {
        match self {
            ErrorKind::BadHierarchy => "ErrBadHierarchy",
            ErrorKind::BadRoot => "ErrBadRoot",
            ErrorKind::BadSnapshot => "ErrBadSnapshot",
            ErrorKind::BadTargets => "ErrBadTargets",
            ErrorKind::Validation => "ErrValidation",
        }
    }
}

/// A refused update: which kind, and a message a person understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// The notary error it maps to.
    pub kind: ErrorKind,
    /// What was wrong.
    pub message: String,
    /// For [`ErrorKind::BadHierarchy`], the missing role.
    pub missing: Option<&'static str>,
}

impl ValidationError {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ValidationError {
        ValidationError {
            kind,
            message: message.into(),
            missing: None,
        }
    }

    /// The missing-snapshot error.
    pub fn hierarchy(message: impl Into<String>) -> ValidationError {
        ValidationError {
            kind: ErrorKind::BadHierarchy,
            message: message.into(),
            missing: Some("snapshot"),
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.go_name(), self.message)
    }
}

impl std::error::Error for ValidationError {}
