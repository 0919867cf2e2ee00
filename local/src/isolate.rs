//! The mounts of an isolated run, set up by the run's first process (pid 1 of its pid
//! namespace) in a mount namespace of its own, before it starts the script — what systemd's
//! `ProtectSystem=strict`, `ProtectHome=tmpfs`, `PrivateTmp=` and `PrivateDevices=` do:
//!
//! - `/` and everything below it read-only;
//! - a fresh tmpfs on `/tmp` and on `/dev/shm`, private to the run;
//! - an empty read-only tmpfs over each hidden directory: `$PRISN_HOME` (the daemon's socket,
//!   state.db, auth.json, other runs' specs), `/root`, `/home`, `/run/user`;
//! - the directories the run needs that lived in a hidden or private place (its code
//!   snapshot, its environment, its interpreter) bound back, read-only, at their paths;
//! - a minimal `/dev` (null, zero, full, random, urandom, tty; fd links), read-only;
//! - `--storage` directories bound read-write at their mount paths;
//! - a `/proc` of the new pid namespace, so the script sees only its own processes.
//!
//! Runs in a forked child of a single-threaded process, so it may allocate.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// What to mount.
#[derive(Debug, Clone, Default)]
pub struct MountPlan {
    /// Directories that must stay visible (read-only) even when they are hidden or private.
    pub keep: Vec<PathBuf>,
    /// Directories replaced by an empty read-only tmpfs (only `keep` shows through).
    pub hide: Vec<PathBuf>,
    /// (host directory, mount path) pairs mounted read-write.
    pub storage: Vec<(PathBuf, PathBuf)>,
}

/// Filesystems replaced by a private, writable tmpfs.
const PRIVATE: &[&str] = &["/tmp"];

/// The device nodes of the minimal /dev, bound from the host's.
const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

/// Enter a new mount namespace and set it up; returns notes about anything not done as
/// planned (e.g. the host's /proc kept).
///
/// # Errors
/// A message naming the step that failed.
pub fn setup(plan: &MountPlan) -> Result<Vec<String>, String> {
    let mut notes = Vec::new();
    // SAFETY: unshare(2) with a flag constant.
    if unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0 {
        return Err(format!("unshare(CLONE_NEWNS): {}", errno()));
    }
    // Nothing we mount may propagate back to the host.
    mount(
        None,
        Path::new("/"),
        None,
        libc::MS_REC | libc::MS_PRIVATE,
        None,
    )
    .map_err(|e| format!("make / private: {e}"))?;

    // Covered places: the private tmpfs and the hidden directories (outermost only).
    let mut covered: Vec<(PathBuf, bool)> =
        PRIVATE.iter().map(|p| (PathBuf::from(p), true)).collect();
    for dir in &plan.hide {
        let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
        if dir.is_dir() && dir != Path::new("/") && !covered.iter().any(|(c, _)| dir.starts_with(c))
        {
            covered.retain(|(c, _)| !c.starts_with(&dir));
            covered.push((dir, false));
        }
    }
    let is_covered = |p: &Path| covered.iter().any(|(c, _)| p.starts_with(c));

    // Hold on to what the tmpfs will hide (bind sources are taken through /proc/self/fd).
    let mut keep: Vec<(PathBuf, OwnedFd)> = Vec::new();
    for dir in &plan.keep {
        let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
        if is_covered(&dir) && !keep.iter().any(|(d, _)| dir.starts_with(d)) {
            keep.retain(|(d, _)| !d.starts_with(&dir));
            keep.push((dir.clone(), open_path(&dir, libc::O_DIRECTORY)?));
        }
    }
    let mut storage = Vec::new();
    for (src, target) in &plan.storage {
        storage.push((target.clone(), open_path(src, libc::O_DIRECTORY)?));
    }
    let mut devices = Vec::new();
    for name in DEVICES {
        let path = Path::new("/dev").join(name);
        if let Ok(fd) = open_path(&path, 0) {
            devices.push((path, fd));
        }
    }

    read_only(Path::new("/")).map_err(|e| format!("make / read-only: {e}"))?;
    for (dir, writable) in &covered {
        let (flags, data) = if *writable {
            (libc::MS_NOSUID | libc::MS_NODEV, "mode=1777")
        } else {
            (
                libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                "mode=755",
            )
        };
        if dir.is_dir() {
            mount(Some("tmpfs"), dir, Some("tmpfs"), flags, Some(data))
                .map_err(|e| format!("mount a tmpfs on {}: {e}", dir.display()))?;
        }
    }
    for (dir, fd) in &keep {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("create {} in a tmpfs: {e}", dir.display()))?;
        bind(fd, dir).map_err(|e| format!("bind {} back: {e}", dir.display()))?;
        read_only(dir).map_err(|e| format!("make {} read-only: {e}", dir.display()))?;
    }
    for (target, _) in &storage {
        if !target.is_dir() {
            if is_covered(target) {
                std::fs::create_dir_all(target)
                    .map_err(|e| format!("create storage mount path {}: {e}", target.display()))?;
            } else {
                return Err(format!(
                    "storage mount path {} is not a directory on this machine (local mode mounts storage over an existing directory)",
                    target.display()
                ));
            }
        }
    }
    for (dir, writable) in &covered {
        if !writable {
            read_only(dir).map_err(|e| format!("make {} read-only: {e}", dir.display()))?;
        }
    }
    if let Err(e) = minimal_dev(&devices) {
        notes.push(format!("the host's /dev is visible (read-only): {e}"));
    }
    for (target, fd) in &storage {
        bind(fd, target).map_err(|e| format!("mount storage at {}: {e}", target.display()))?;
        remount(target, false)
            .map_err(|e| format!("make storage at {} writable: {e}", target.display()))?;
    }
    drop(keep);
    drop(storage);
    if let Err(e) = mount(
        Some("proc"),
        Path::new("/proc"),
        Some("proc"),
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        None,
    ) {
        notes.push(format!(
            "the host's /proc is visible (mounting the run's own failed: {e})"
        ));
    }
    Ok(notes)
}

/// A tmpfs on /dev with the host's harmless device nodes bound in, links to /proc/self/fd,
/// a private /dev/shm; read-only but for /dev/shm.
fn minimal_dev(devices: &[(PathBuf, OwnedFd)]) -> Result<(), String> {
    let dev = Path::new("/dev");
    mount(
        Some("tmpfs"),
        dev,
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NOEXEC,
        Some("mode=755"),
    )
    .map_err(|e| format!("mount a tmpfs on /dev: {e}"))?;
    for (path, fd) in devices {
        std::fs::write(path, b"").map_err(|e| format!("create {}: {e}", path.display()))?;
        bind(fd, path).map_err(|e| format!("bind {}: {e}", path.display()))?;
    }
    for (link, to) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        std::os::unix::fs::symlink(to, dev.join(link))
            .map_err(|e| format!("link /dev/{link}: {e}"))?;
    }
    let shm = dev.join("shm");
    std::fs::create_dir(&shm).map_err(|e| format!("create /dev/shm: {e}"))?;
    read_only(dev).map_err(|e| format!("make /dev read-only: {e}"))?;
    mount(
        Some("tmpfs"),
        &shm,
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV,
        Some("mode=1777"),
    )
    .map_err(|e| format!("mount a private tmpfs on /dev/shm: {e}"))
}

fn errno() -> std::io::Error {
    std::io::Error::last_os_error()
}

fn cpath(p: &Path) -> Result<CString, String> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| format!("path {} contains a NUL byte", p.display()))
}

fn open_path(dir: &Path, flags: libc::c_int) -> Result<OwnedFd, String> {
    let c = cpath(dir)?;
    // SAFETY: open(2) with a valid path; the fd is owned below.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC | flags) };
    if fd < 0 {
        return Err(format!("open {}: {}", dir.display(), errno()));
    }
    // SAFETY: a fresh fd from open(2).
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}

fn mount(
    source: Option<&str>,
    target: &Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> Result<(), std::io::Error> {
    let source = source.map(|s| CString::new(s).expect("static mount source"));
    let fstype = fstype.map(|s| CString::new(s).expect("static fs type"));
    let data = data.map(|s| CString::new(s).expect("static mount data"));
    let target = CString::new(target.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: every pointer is a valid NUL-terminated string or null.
    let rc = unsafe {
        libc::mount(
            source.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
            target.as_ptr(),
            fstype.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
            flags,
            data.as_ref()
                .map_or(std::ptr::null(), |s| s.as_ptr().cast()),
        )
    };
    if rc == 0 { Ok(()) } else { Err(errno()) }
}

fn bind(fd: &OwnedFd, target: &Path) -> Result<(), std::io::Error> {
    let source = format!("/proc/self/fd/{}", fd.as_raw_fd());
    mount(
        Some(&source),
        target,
        None,
        libc::MS_BIND | libc::MS_REC,
        None,
    )
}

/// `struct mount_attr` of mount_setattr(2).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

const MOUNT_ATTR_RDONLY: u64 = 0x1;
const AT_RECURSIVE: libc::c_int = 0x8000;

/// Make the mount at `path` and every mount below it read-only: mount_setattr(2) (Linux
/// 5.12+), else a read-only remount of each mount point.
fn read_only(path: &Path) -> Result<(), std::io::Error> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: valid path and a properly sized mount_attr.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            c.as_ptr(),
            AT_RECURSIVE,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let err = errno();
    if err.raw_os_error() != Some(libc::ENOSYS) {
        return Err(err);
    }
    remount_read_only(path)
}

fn remount_read_only(path: &Path) -> Result<(), std::io::Error> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")?;
    for line in info.lines() {
        let Some(mp) = line.split_whitespace().nth(4) else {
            continue;
        };
        let mp = Path::new(mp);
        if mp.starts_with(path) {
            // Mounts we may not touch (e.g. locked in a user namespace) stay as they are.
            let _ = remount(mp, true);
        }
    }
    Ok(())
}

/// Remount the bind mount at `path` read-only or read-write, keeping the flags the kernel
/// locks (nosuid, nodev, noexec), or the remount is refused.
fn remount(path: &Path, read_only: bool) -> Result<(), std::io::Error> {
    let mut flags = libc::MS_BIND | libc::MS_REMOUNT;
    if read_only {
        flags |= libc::MS_RDONLY;
    }
    if let Ok(c) = CString::new(path.as_os_str().as_bytes()) {
        // SAFETY: statvfs into a zeroed struct with a valid path.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statvfs(c.as_ptr(), &mut st) } == 0 {
            for (st_flag, ms_flag) in [
                (libc::ST_NOSUID, libc::MS_NOSUID),
                (libc::ST_NODEV, libc::MS_NODEV),
                (libc::ST_NOEXEC, libc::MS_NOEXEC),
            ] {
                if st.f_flag & st_flag != 0 {
                    flags |= ms_flag;
                }
            }
        }
    }
    mount(None, path, None, flags, None)
}
