//! Whether a workload's port answers: the probe, and the memo that keeps status calls from
//! each opening a connection to the app.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a port that answered still counts as answering for the same process without a
/// new probe. A probe per view meant a connection to the app per status request: 2,500
/// status calls a second filled a Flask dev server's accept queue, the probes then waited out
/// their timeout (p99 112 ms), and a running app looked Starting. A port that did not answer
/// is probed again each time, so a deploy's wait sees the new process answer at once.
const ANSWERED_FOR: Duration = Duration::from_secs(1);

/// When each (port, process) last answered a probe.
#[derive(Debug, Default)]
pub(crate) struct PortMemo(Mutex<BTreeMap<(u16, Option<i32>), Instant>>);

impl PortMemo {
    /// Does `port` answer for the workload's current process `pid`? `probe` asks for real,
    /// unless the same (port, pid) answered less than [`ANSWERED_FOR`] ago.
    pub(crate) fn answers(
        &self,
        port: u16,
        pid: Option<i32>,
        probe: impl FnOnce(u16) -> bool,
    ) -> bool {
        let key = (port, pid);
        let lock = || self.0.lock().unwrap_or_else(|p| p.into_inner());
        if lock().get(&key).is_some_and(|t| t.elapsed() < ANSWERED_FOR) {
            return true;
        }
        let ok = probe(port);
        let mut memo = lock();
        memo.retain(|_, t| t.elapsed() < ANSWERED_FOR);
        if ok {
            memo.insert(key, Instant::now());
        }
        ok
    }
}

/// Does something accept connections on 127.0.0.1:port?
pub(crate) fn answers(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(100),
    )
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// A port that answered is not probed again for the same process; one that did not
    /// answer, or a new process on the same port, is.
    #[test]
    fn an_answering_port_is_probed_once_per_process_a_silent_one_every_time() {
        let memo = PortMemo::default();
        let probes = Cell::new(0);
        let probe = |ok: bool| {
            let probes = &probes;
            move |_| {
                probes.set(probes.get() + 1);
                ok
            }
        };
        assert!(!memo.answers(8000, Some(1), probe(false)));
        assert!(!memo.answers(8000, Some(1), probe(false)));
        assert_eq!(probes.get(), 2, "a port that did not answer is asked again");
        assert!(memo.answers(8000, Some(1), probe(true)));
        assert!(memo.answers(8000, Some(1), probe(false)));
        assert_eq!(
            probes.get(),
            3,
            "an answer is remembered for the same process"
        );
        assert!(!memo.answers(8000, Some(2), probe(false)));
        assert_eq!(probes.get(), 4, "a new process is probed");
    }
}
