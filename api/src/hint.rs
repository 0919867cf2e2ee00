//! [`Hint`]: what to do next, carried by the error types of every crate (uv's model). The CLI
//! prints it as a `hint:` line after the error chain.

/// An error that can say what the user should do next.
pub trait Hint {
    /// The advice, when this error has one.
    fn hint(&self) -> Option<String>;
}

impl Hint for crate::Invalid {
    fn hint(&self) -> Option<String> {
        self.hint.clone()
    }
}
