//! Memory and CPU limits: cgroup v1 controllers where they are writable, else an rlimit — and
//! always a note saying which, because a limit is never silently dropped. CPU has no rlimit
//! equivalent (RLIMIT_CPU caps total CPU seconds, not a rate), so `--cpu` without a writable
//! cpu cgroup is refused.
//!
//! Each run gets its own leaf, nested under the daemon's own cgroup so a container's limits
//! still hold: `<controller mount>/<daemon's cgroup>/prisn/<home id>-<name>-<run id>`.
//! cgroup v2 (unified) hierarchies are not handled yet: there, memory falls back to
//! RLIMIT_AS and `--cpu` is refused.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::quantity::format_bytes;
use crate::{Error, Result};

/// CFS period (the kernel's default).
const CFS_PERIOD_US: u64 = 100_000;

/// What the user asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Requested {
    pub memory: Option<u64>,
    pub cpu_millis: Option<u64>,
}

/// How the limits of one run are applied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// A memory cgroup leaf with `memory.limit_in_bytes` set.
    pub memory_cgroup: Option<PathBuf>,
    /// A cpu cgroup leaf with a CFS quota.
    pub cpu_cgroup: Option<PathBuf>,
    /// RLIMIT_AS for the process, when no memory cgroup could be used.
    pub rlimit_as: Option<u64>,
    memory: Option<u64>,
    cpu_millis: Option<u64>,
    /// One line per limit: what and how.
    pub notes: Vec<String>,
}

/// Decide how to apply `req` for the leaf `leaf` (no side effects).
///
/// # Errors
/// [`Error::Invalid`] for `--cpu` when no cpu cgroup is writable.
pub fn plan(req: Requested, leaf: &str) -> Result<Plan> {
    let mut p = Plan {
        memory: req.memory,
        cpu_millis: req.cpu_millis,
        ..Plan::default()
    };
    if let Some(bytes) = req.memory {
        match base("memory") {
            Ok(base) => {
                let dir = base.join(leaf);
                p.notes.push(format!(
                    "memory {}: cgroup v1 memory.limit_in_bytes ({})",
                    format_bytes(bytes),
                    dir.display()
                ));
                p.memory_cgroup = Some(dir);
            }
            Err(why) => {
                p.notes.push(format!(
                    "memory {}: RLIMIT_AS, which caps virtual memory, not resident memory (no memory cgroup: {why})",
                    format_bytes(bytes)
                ));
                p.rlimit_as = Some(bytes);
            }
        }
    }
    if let Some(millis) = req.cpu_millis {
        match base("cpu") {
            Ok(base) => {
                let dir = base.join(leaf);
                p.notes.push(format!(
                    "cpu {millis}m: cgroup v1 cpu.cfs_quota_us {} per {CFS_PERIOD_US}µs ({})",
                    millis * CFS_PERIOD_US / 1000,
                    dir.display()
                ));
                p.cpu_cgroup = Some(dir);
            }
            Err(why) => {
                return Err(Error::invalid(
                    format!("--cpu {millis}m cannot be enforced on this machine: {why}"),
                    Some("local mode limits CPU through a cgroup v1 cpu controller (an rlimit can only cap total CPU seconds); deploy without --cpu, or run prisn where /sys/fs/cgroup/cpu is writable".into()),
                ));
            }
        }
    }
    Ok(p)
}

impl Plan {
    /// Create the cgroup leaves and write the limits.
    ///
    /// # Errors
    /// When a cgroup file cannot be written (named).
    pub fn create(&self) -> Result<()> {
        if let (Some(dir), Some(bytes)) = (&self.memory_cgroup, self.memory) {
            fs::create_dir_all(dir).map_err(Error::io("create cgroup", dir))?;
            write(&dir.join("memory.limit_in_bytes"), &bytes.to_string())?;
            // Without swap accounting this file is absent; with it, swap must not bypass the limit.
            let memsw = dir.join("memory.memsw.limit_in_bytes");
            if memsw.exists() {
                write(&memsw, &bytes.to_string())?;
            }
        }
        if let (Some(dir), Some(millis)) = (&self.cpu_cgroup, self.cpu_millis) {
            fs::create_dir_all(dir).map_err(Error::io("create cgroup", dir))?;
            write(&dir.join("cpu.cfs_period_us"), &CFS_PERIOD_US.to_string())?;
            write(
                &dir.join("cpu.cfs_quota_us"),
                &(millis * CFS_PERIOD_US / 1000).to_string(),
            )?;
        }
        Ok(())
    }

    /// The `cgroup.procs` files a process writes itself into.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        [&self.memory_cgroup, &self.cpu_cgroup]
            .into_iter()
            .flatten()
            .map(|d| d.join("cgroup.procs"))
            .collect()
    }

    /// How often the kernel's OOM killer struck in the memory cgroup.
    pub fn oom_kills(&self) -> u64 {
        let Some(dir) = &self.memory_cgroup else {
            return 0;
        };
        fs::read_to_string(dir.join("memory.oom_control"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("oom_kill "))
                    .and_then(|v| v.trim().parse().ok())
            })
            .unwrap_or(0)
    }

    /// Remove the leaves (they must be empty: the run's processes are gone).
    pub fn remove(&self) {
        for dir in [&self.memory_cgroup, &self.cpu_cgroup]
            .into_iter()
            .flatten()
        {
            remove_leaf(dir);
        }
    }
}

/// Remove an empty cgroup directory, retrying briefly while the kernel lets go of exited tasks.
fn remove_leaf(dir: &Path) {
    for _ in 0..20 {
        match fs::remove_dir(dir) {
            Ok(()) => return,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
        }
    }
    tracing::warn!("cannot remove cgroup {}", dir.display());
}

/// Remove leftover leaves of this home whose runs are over (after a daemon crash).
pub fn sweep(home_id: &str, keep: &[PathBuf]) {
    for controller in ["memory", "cpu"] {
        let Ok(base) = base(controller) else { continue };
        let Ok(entries) = fs::read_dir(&base) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let ours = e
                .file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(&format!("{home_id}-")));
            if ours && !keep.contains(&path) {
                let _ = fs::remove_dir(&path);
            }
        }
    }
}

fn write(path: &Path, value: &str) -> Result<()> {
    fs::write(path, value).map_err(Error::io("write", path))
}

/// `<mount of controller>/<our cgroup>/prisn`, created and writable, or why not.
fn base(controller: &str) -> std::result::Result<PathBuf, String> {
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        return Err(
            "this machine uses cgroup v2 only, which local mode does not manage yet".into(),
        );
    }
    let mount = v1_mount(controller)
        .ok_or_else(|| format!("no cgroup v1 {controller} controller is mounted"))?;
    let own = own_cgroup(controller).unwrap_or_default();
    let base = mount.join(own.trim_start_matches('/')).join("prisn");
    fs::create_dir_all(&base).map_err(|e| format!("cannot create {}: {e}", base.display()))?;
    // SAFETY: access(2) with a valid NUL-terminated path.
    let writable = std::ffi::CString::new(base.as_os_str().as_encoded_bytes())
        .map(|c| unsafe { libc::access(c.as_ptr(), libc::W_OK) } == 0)
        .unwrap_or(false);
    if !writable {
        return Err(format!("{} is not writable", base.display()));
    }
    Ok(base)
}

/// Where the v1 hierarchy holding `controller` is mounted.
fn v1_mount(controller: &str) -> Option<PathBuf> {
    let info = fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let mut r = right.split_whitespace();
        let fstype = r.next()?;
        let _source = r.next()?;
        let options = r.next()?;
        let mount_point = left.split_whitespace().nth(4)?;
        (fstype == "cgroup" && options.split(',').any(|o| o == controller))
            .then(|| PathBuf::from(mount_point))
    })
}

/// Our own cgroup in the hierarchy holding `controller` (`/process_api/…`).
fn own_cgroup(controller: &str) -> Option<String> {
    let text = fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let _id = parts.next()?;
        let controllers = parts.next()?;
        let path = parts.next()?;
        controllers
            .split(',')
            .any(|c| c == controller)
            .then(|| path.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_limits_no_plan() {
        let p = plan(Requested::default(), "x").unwrap();
        assert!(p.notes.is_empty() && p.procs_files().is_empty() && p.rlimit_as.is_none());
    }

    #[test]
    fn every_limit_gets_a_note_saying_how_it_is_applied() {
        let req = Requested {
            memory: Some(64 << 20),
            cpu_millis: None,
        };
        let p = plan(req, "prisn-test-plan").unwrap();
        assert_eq!(p.notes.len(), 1);
        let note = &p.notes[0];
        assert!(note.starts_with("memory 64Mi: "), "{note}");
        // Exactly one mechanism.
        assert!(p.memory_cgroup.is_some() != p.rlimit_as.is_some());
    }
}
