//! The crate's error type and the "problem with the user's object" type.

/// Errors of a reconcile that should be retried with backoff (the API server was unreachable,
/// a write conflicted, …). Problems with the user's object are not errors: they are
/// [`Problem`]s, written to `.status` as `Degraded`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the Kubernetes API failed.
    #[error("Kubernetes API call failed while {action}: {source}")]
    Kube {
        action: String,
        #[source]
        source: kube::Error,
    },
    /// An object from the API server lacks a field every stored object has.
    #[error("object is missing {0} (every object stored by the API server has it)")]
    MissingObjectKey(&'static str),
    /// Serialising a child object failed (a bug: our own types always serialise).
    #[error("could not serialise {what}: {source}")]
    Serialize {
        what: String,
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    /// A short CamelCase name for metrics labels and status reasons.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube { .. } => "KubeError",
            Error::MissingObjectKey(_) => "MissingObjectKey",
            Error::Serialize { .. } => "SerializeError",
        }
    }

    /// Wraps a kube error with what we were doing.
    pub fn kube(action: impl Into<String>, source: kube::Error) -> Self {
        Error::Kube {
            action: action.into(),
            source,
        }
    }
}

/// Where a [`Problem`] sits, which decides the conditions it turns false.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemKind {
    /// The code source cannot be used (missing ConfigMap, unpinned image, bad key…):
    /// `SourceReady=False`, `Degraded=True`.
    Source,
    /// Another spec field is invalid (quantity, duration, schedule…): `Degraded=True`.
    Spec,
    /// The API server refused a child we built from the spec (HTTP 400/409/422): `Degraded=True`.
    Rejected,
}

/// Something wrong with the user's object. It is reported in `.status` (phase `Degraded`, a
/// `Degraded` condition with `reason`, and `message`); it never crashes the operator and affects
/// only that object.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Problem {
    pub kind: ProblemKind,
    /// CamelCase reason, e.g. `ConfigMapNotFound`, `ImageNotPinned`, `InvalidQuantity`.
    pub reason: &'static str,
    /// What is wrong, naming the field, and what to do.
    pub message: String,
}

impl Problem {
    pub fn source(reason: &'static str, message: impl Into<String>) -> Self {
        Problem {
            kind: ProblemKind::Source,
            reason,
            message: message.into(),
        }
    }
    pub fn spec(reason: &'static str, message: impl Into<String>) -> Self {
        Problem {
            kind: ProblemKind::Spec,
            reason,
            message: message.into(),
        }
    }
    pub fn rejected(message: impl Into<String>) -> Self {
        Problem {
            kind: ProblemKind::Rejected,
            reason: "ChildRejected",
            message: message.into(),
        }
    }
}
