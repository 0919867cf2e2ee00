//! What to do next: the `hint:` line after an error. Every error type of every crate carries
//! its own advice through [`prisn_api::Hint`]; [`find`] asks the chain for the first one.
//!
//! `anyhow` erases types, so this is the one place that names the error types a command can
//! end with; each is then asked through the trait. The printer only calls [`find`].

use prisn_api::Hint;

/// The hint of the first error in `err`'s chain that carries one.
pub fn find(err: &anyhow::Error) -> Option<String> {
    err.chain().find_map(|e| as_hint(e).and_then(Hint::hint))
}

/// The error as a [`Hint`], when its type is one of ours.
fn as_hint<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a dyn Hint> {
    if let Some(e) = e.downcast_ref::<prisn_builder::Error>() {
        return Some(e);
    }
    if let Some(e) = e.downcast_ref::<prisn_local::Error>() {
        return Some(e);
    }
    if let Some(e) = e.downcast_ref::<prisn_api::Invalid>() {
        return Some(e);
    }
    if let Some(e) = e.downcast_ref::<crate::deploy::client::KubeError>() {
        return Some(e);
    }
    e.downcast_ref::<crate::deploy::client::NoKubeContext>()
        .map(|e| e as &dyn Hint)
}
