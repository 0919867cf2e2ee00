//! Kubernetes mode: what `prisn deploy` sends to a cluster and how.
//!
//! ```text
//! script ─build+push→ repo@sha256 ─objects→ PrisnApp | PrisnJob | PrisnCronJob (+ <name>-code ConfigMap)
//!        ─apply (server-side, field manager "prisn")→ cluster ─wait→ Ready / Complete
//! ```

pub mod apply;
pub mod client;
pub mod crashloop;
pub mod objects;
pub mod output;
