//! The privileges of an isolated run, on top of its namespaces and mounts ([`crate::isolate`]):
//!
//! - **its own uid.** A daemon running as root starts each workload as an unprivileged uid of
//!   its own (and the same gid, no supplementary groups): `RUN_ID_BASE` plus a hash of the
//!   home and the workload's name, stepping past uids that name a user of this machine. It is
//!   stable across restarts, so the workload's storage stays its own. Like systemd's
//!   `DynamicUser=`, no account is created. A daemon running as another user maps its own uid
//!   into a user namespace instead (nothing else is mappable without privileges), and relies
//!   on the mounts to hide `$PRISN_HOME`.
//! - **no capabilities**: the bounding set is emptied and the uid change clears the rest;
//!   **`no_new_privs`**, so no setuid binary or file capability gives any back.
//! - **a seccomp filter** that answers `EPERM` to the calls a service never needs and that
//!   open the kernel to it: module loading, mounts, `ptrace` and reading other processes'
//!   memory, kexec, reboot, keyrings, bpf, perf events, new namespaces, clock and swap
//!   changes. `clone3` gets `ENOSYS`, so the C library falls back to `clone`, whose
//!   namespace flags the filter can see (Docker's default profile does the same).
//!
//! Everything here runs in the run's first process after `fork`, single-threaded.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use sha2::{Digest, Sha256};

/// The first uid (and gid) given to workloads when the daemon runs as root; 2^24 follow.
/// Far above the uids of people (1000…) and of systemd's dynamic users (61184–65519), below
/// 2^31 so that no tool reading it as a signed number goes wrong.
pub const RUN_ID_BASE: u32 = 0x5000_0000;
const RUN_ID_SPAN: u32 = 1 << 24;

/// The uid (= gid) the workload `name` of the home `home_id` runs as under a root daemon.
pub fn run_id(home_id: &str, name: &str) -> u32 {
    let digest = Sha256::digest(format!("{home_id}/{name}").as_bytes());
    let n = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % RUN_ID_SPAN;
    let mut id = RUN_ID_BASE + n;
    // A uid that names an account of this machine is that account's: step past it.
    while account_exists(id) {
        id = RUN_ID_BASE + (id - RUN_ID_BASE + 1) % RUN_ID_SPAN;
    }
    id
}

fn account_exists(id: u32) -> bool {
    // SAFETY: getpwuid/getgrgid return a pointer to static storage or null; we only test it.
    unsafe { !libc::getpwuid(id).is_null() || !libc::getgrgid(id).is_null() }
}

/// Empty the capability bounding set; then, given an `id` (a root daemon), drop every group
/// and become `id`, which clears the permitted, effective and ambient sets. In a user
/// namespace (no `id`) the script's uid is not 0 there, so execve clears them.
///
/// # Errors
/// The step that failed.
pub(crate) fn become_unprivileged(id: Option<u32>) -> Result<(), String> {
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<libc::c_ulong>().ok())
        .unwrap_or(40);
    for cap in 0..=last {
        // SAFETY: prctl with plain integers; EINVAL for caps this kernel lacks is harmless.
        unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) };
    }
    let Some(id) = id else {
        return Ok(());
    };
    // SAFETY: plain credential syscalls on the calling (single-threaded) process.
    unsafe {
        if libc::setgroups(0, std::ptr::null()) != 0 {
            return Err(format!("setgroups: {}", errno()));
        }
        if libc::setresgid(id, id, id) != 0 {
            return Err(format!("setresgid({id}): {}", errno()));
        }
        if libc::setresuid(id, id, id) != 0 {
            return Err(format!("setresuid({id}): {}", errno()));
        }
    }
    Ok(())
}

/// Set `no_new_privs`: execve never grants privileges again (setuid bits, file caps).
///
/// # Errors
/// When the kernel refuses (it has allowed this since 3.5).
pub(crate) fn no_new_privs() -> Result<(), String> {
    // SAFETY: prctl with plain integers.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(format!("prctl(PR_SET_NO_NEW_PRIVS): {}", errno()));
    }
    Ok(())
}

/// Calls refused with EPERM, whatever their arguments.
fn refused() -> Vec<i64> {
    vec![
        // kernel modules
        libc::SYS_init_module,
        libc::SYS_finit_module,
        libc::SYS_delete_module,
        // mounts, old and new API, and the root
        libc::SYS_mount,
        libc::SYS_umount2,
        libc::SYS_pivot_root,
        libc::SYS_chroot,
        libc::SYS_move_mount,
        libc::SYS_open_tree,
        libc::SYS_fsopen,
        libc::SYS_fsconfig,
        libc::SYS_fsmount,
        libc::SYS_fspick,
        libc::SYS_mount_setattr,
        // other processes
        libc::SYS_ptrace,
        libc::SYS_process_vm_readv,
        libc::SYS_process_vm_writev,
        libc::SYS_kcmp,
        // the machine
        libc::SYS_kexec_load,
        libc::SYS_kexec_file_load,
        libc::SYS_reboot,
        libc::SYS_swapon,
        libc::SYS_swapoff,
        libc::SYS_acct,
        libc::SYS_quotactl,
        libc::SYS_syslog,
        libc::SYS_settimeofday,
        libc::SYS_clock_settime,
        libc::SYS_clock_adjtime,
        libc::SYS_sethostname,
        libc::SYS_setdomainname,
        // keyrings
        libc::SYS_add_key,
        libc::SYS_request_key,
        libc::SYS_keyctl,
        // kernel attack surface a service does not need
        libc::SYS_bpf,
        libc::SYS_perf_event_open,
        libc::SYS_userfaultfd,
        libc::SYS_open_by_handle_at,
        libc::SYS_lookup_dcookie,
        // namespaces: none new, none joined
        libc::SYS_unshare,
        libc::SYS_setns,
    ]
}

/// `clone` flags that make namespaces.
const NEW_NAMESPACES: &[libc::c_int] = &[
    libc::CLONE_NEWNS,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWNET,
    libc::CLONE_NEWCGROUP,
];

/// The run's seccomp filters, compiled (before `fork`: compiling allocates freely).
///
/// # Errors
/// An architecture seccompiler does not know (then the run goes without, and says so).
pub(crate) fn filters() -> Result<Vec<BpfProgram>, String> {
    let arch = TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|e| format!("no seccomp filter for this architecture: {e}"))?;
    let compile = |e: seccompiler::BackendError| format!("cannot build the seccomp filter: {e}");
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        refused().into_iter().map(|nr| (nr, Vec::new())).collect();
    let clone_rules = NEW_NAMESPACES
        .iter()
        .map(|&flag| {
            let flag = flag as u64;
            SeccompCondition::new(
                0,
                SeccompCmpArgLen::Qword,
                SeccompCmpOp::MaskedEq(flag),
                flag,
            )
            .and_then(|c| SeccompRule::new(vec![c]))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(compile)?;
    rules.insert(libc::SYS_clone, clone_rules);
    let deny = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .map_err(compile)?;
    // clone3 passes its flags in memory the filter cannot read: "not implemented" makes the
    // C library use clone.
    let no_clone3 = SeccompFilter::new(
        BTreeMap::from([(libc::SYS_clone3, Vec::new())]),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )
    .map_err(compile)?;
    let programs: Result<Vec<BpfProgram>, _> = [deny, no_clone3]
        .into_iter()
        .map(BpfProgram::try_from)
        .collect();
    programs.map_err(|e| format!("cannot build the seccomp filter: {e}"))
}

/// Install the filters on the calling thread (they pass to every child and through execve).
///
/// # Errors
/// When the kernel refuses (no seccomp support).
pub(crate) fn apply(filters: &[BpfProgram]) -> Result<(), String> {
    for f in filters {
        seccompiler::apply_filter(f).map_err(|e| format!("seccomp: {e}"))?;
    }
    Ok(())
}

/// Bring up `lo` in a new network namespace (it starts down).
///
/// # Errors
/// The ioctl that failed.
pub(crate) fn loopback_up() -> Result<(), String> {
    // SAFETY: a datagram socket for interface ioctls, closed below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(format!("socket: {}", errno()));
    }
    // SAFETY: a zeroed ifreq with a NUL-terminated name; the kernel fills/reads the flags.
    let result = unsafe {
        let mut req: libc::ifreq = std::mem::zeroed();
        for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
            *dst = *src as libc::c_char;
        }
        if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) != 0 {
            Err(format!("SIOCGIFFLAGS lo: {}", errno()))
        } else {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            if libc::ioctl(fd, libc::SIOCSIFFLAGS, &req) != 0 {
                Err(format!("SIOCSIFFLAGS lo: {}", errno()))
            } else {
                Ok(())
            }
        }
    };
    // SAFETY: closing our socket.
    unsafe { libc::close(fd) };
    result
}

fn errno() -> std::io::Error {
    std::io::Error::last_os_error()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_stable_per_workload_and_in_the_range() {
        let a = run_id("0123abcd", "api");
        assert_eq!(a, run_id("0123abcd", "api"));
        assert_ne!(a, run_id("0123abcd", "worker"));
        assert_ne!(a, run_id("ffff0000", "api"));
        assert!((RUN_ID_BASE..RUN_ID_BASE + RUN_ID_SPAN).contains(&a));
    }

    #[test]
    fn the_filters_compile_for_this_machine() {
        let f = filters().unwrap();
        assert_eq!(f.len(), 2);
        assert!(f.iter().all(|p| !p.is_empty()));
    }
}
