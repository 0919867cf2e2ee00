//! What to do next: the `hint:` line after an error. Each library error type carries its own
//! advice; [`find`] asks the error chain for the first one.

/// The hint of the first error in `err`'s chain that carries one.
pub fn find(err: &anyhow::Error) -> Option<String> {
    err.chain().find_map(of)
}

/// The hint of one error, when its type carries one.
fn of(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    if let Some(e) = e.downcast_ref::<prisn_builder::Error>() {
        return e.hint();
    }
    if let Some(e) = e.downcast_ref::<prisn_local::Error>() {
        return e.hint().map(str::to_string);
    }
    if let Some(e) = e.downcast_ref::<prisn_api::Invalid>() {
        return e.hint.clone();
    }
    e.downcast_ref::<crate::backend::NotYet>()
        .map(crate::backend::NotYet::hint)
}
