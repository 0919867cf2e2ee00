//! [`Invalid`]: the error of every validator in this crate.

/// A value that breaks a rule: what is wrong (naming the value) and, when there is one, what
/// to do instead. Callers wrap it in their own error type (local mode answers 400 with it,
/// the CLI prints the hint).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    pub message: String,
    pub hint: Option<String>,
}

impl Invalid {
    pub fn new(message: impl Into<String>, hint: Option<String>) -> Self {
        Invalid {
            message: message.into(),
            hint,
        }
    }
}
