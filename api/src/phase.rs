//! The phases of `.status.phase`, one enum per kind. The CRDs keep `phase` a string (older
//! objects and other writers may hold anything); these are the values prisn writes and reads.

macro_rules! phases {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $v:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($(#[$vdoc])* $v),+ }

        impl $name {
            /// The value in `.status.phase`.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$v => stringify!($v)),+ }
            }

            /// The phase a `.status.phase` string names, if it is one of ours.
            pub fn parse(text: &str) -> Option<Self> {
                match text { $(stringify!($v) => Some($name::$v),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

phases! {
    /// Phases of a PrisnApp.
    AppPhase {
        /// Nothing runs yet (or the status is not computed).
        Pending,
        /// A rollout is under way.
        Progressing,
        /// Every desired pod of the current version is ready.
        Running,
        /// `replicas: 0`.
        ScaledToZero,
        /// `suspend: true`.
        Suspended,
        /// Something is wrong; the message says what.
        Degraded,
    }
}

phases! {
    /// Phases of a PrisnJob.
    JobPhase {
        Pending,
        Running,
        Succeeded,
        Failed,
        /// The PrisnJob itself is invalid.
        Degraded,
    }
}

phases! {
    /// Phases of a PrisnCronJob.
    CronJobPhase {
        Pending,
        Scheduled,
        Suspended,
        Degraded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_round_trip() {
        assert_eq!(
            AppPhase::parse("ScaledToZero"),
            Some(AppPhase::ScaledToZero)
        );
        assert_eq!(JobPhase::Succeeded.as_str(), "Succeeded");
        assert_eq!(CronJobPhase::parse("Running"), None);
    }
}
