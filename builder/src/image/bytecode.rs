//! Bytecode by the base image's own Python: the dependency layer's `.pyc` files are compiled
//! by the interpreter the image will run, inside a throwaway sandbox over the unpacked base,
//! so they are exactly what that runtime would write and the layer's digest does not depend
//! on the build machine's Python.
//!
//! ```text
//! base layers (blob cache) ─rootfs→ cache/rootfs-v2/<base digest>/   (unpacked once, read-only use)
//! site-packages (temp dir) ─compile→ __pycache__/*.cpython-3X.pyc    (PEP 552 unchecked-hash)
//! ```
//!
//! The sandbox ([`compile`]) is a child process in new user, mount and network namespaces
//! (no setuid helper, no daemon): the unpacked base bind-mounted read-only as its root
//! (`pivot_root`, the old root detached), the site-packages bind-mounted read-write at
//! [`SITE_PACKAGES`] — the only writable path — and no network. Python runs isolated (`-I`:
//! no `PYTHON*` variables, no user site), with `PYTHONHASHSEED=0` (the order of frozenset
//! constants), compiling its share of the files in one process per core (each in a sandbox of
//! its own: compileall's worker pool would need `/dev/shm`). Unchecked-hash pycs hold the source's hash, not
//! its mtime, and the paths are the image's own, so the bytes depend only on the sources and
//! the base.
//!
//! The entrypoint script itself is never imported (Python runs it as `__main__` and compiles
//! it at start), and code-only rebuilds must stay fast, so the code layer gets no bytecode.

use std::ffi::CString;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};

use super::SITE_PACKAGES;
use super::base::{self, Base};
use super::blobs::BlobStore;
use crate::error::{Error, Result};

/// What the compiler never reads and so is not unpacked: architecture-independent data (docs,
/// man pages, locales, zoneinfo: half of a Debian base's files, a third of the unpacking time).
const LEFT_OUT: &str = "usr/share/";

/// The program the base's Python runs, as shard `argv[2]` of `argv[3]`: `compileall.compile_dir`'s
/// walk of site-packages (sorted, no `__pycache__`, no symlinked directories), its `.py` files
/// dealt round-robin to the shards, each compiled by `compile_file` as `compile_dir` would (an
/// unchecked-hash pyc whose bytes depend only on the source and its path, not on what else the
/// process compiled). Exit 1 when a file does not compile (e.g. Python-2-only test files in a
/// wheel): that file gets no pyc, as with pip.
const PROGRAM: &str = "\
import compileall, os, py_compile, sys
def walk(d):
    for name in sorted(os.listdir(d)):
        if name == '__pycache__':
            continue
        full = os.path.join(d, name)
        if not os.path.isdir(full):
            yield full
        elif not os.path.islink(full):
            yield from walk(full)
shard, shards = int(sys.argv[2]), int(sys.argv[3])
files = [f for f in walk(sys.argv[1]) if f.endswith('.py')]
ok = True
for f in files[shard::shards]:
    ok &= bool(compileall.compile_file(f, quiet=1,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH))
sys.exit(0 if ok else 1)
";

/// The base being unpacked (or found unpacked) on a thread of its own, started as soon as its
/// layers are in the cache, so unpacking overlaps the install.
#[derive(Debug)]
pub struct Unpacking(std::sync::mpsc::Receiver<Result<PathBuf>>);

/// Starts the [`Unpacking`] it was made with, once the base's layers are fetched; dropped
/// unstarted (the fetch failed), the compile waiting for it fails instead of waiting forever.
#[derive(Debug)]
pub struct UnpackStart(std::sync::mpsc::Sender<Result<PathBuf>>);

impl Unpacking {
    /// An unpacking that starts when its [`UnpackStart`] says so.
    pub fn later() -> (UnpackStart, Unpacking) {
        let (tx, rx) = std::sync::mpsc::channel();
        (UnpackStart(tx), Unpacking(rx))
    }

    fn wait(&self) -> Result<PathBuf> {
        self.0.recv().map_err(|_| Error::Task {
            what: "unpacking the base",
            message: "the unpacking thread ended without an answer".into(),
        })?
    }
}

impl UnpackStart {
    /// Start [`rootfs`] in the background (the base's layers must be in `blobs`).
    pub fn start(self, base: Base, blobs: BlobStore, cache_dir: PathBuf) {
        std::thread::spawn(move || {
            // Nobody waiting (the dependency layer was cached) is fine: the unpacked base stays.
            let unpacked = rootfs(&base, &blobs, &cache_dir);
            crate::timings::mark("base unpacked");
            let _ = self.0.send(unpacked);
        });
    }
}

/// What compiling needs: the base's root file system and its interpreter (`/usr/bin/python3`),
/// and how many processes share the work (the cores the build uses; the bytes do not depend
/// on it).
#[derive(Debug)]
pub struct BaseCompiler {
    pub rootfs: Unpacking,
    pub interpreter: String,
    pub shards: usize,
}

impl BaseCompiler {
    /// Byte-compile `site_packages` (a host directory that becomes [`SITE_PACKAGES`]) with the
    /// base's Python, once the base is unpacked. Call it once.
    ///
    /// # Errors
    /// See [`rootfs`] and [`compile`].
    pub fn compile(&self, site_packages: &Path) -> Result<()> {
        let rootfs = self.rootfs.wait()?;
        compile(&rootfs, &self.interpreter, site_packages, self.shards)?;
        crate::timings::mark(&format!(
            "dependencies compiled in {} shard(s)",
            self.shards.max(1)
        ));
        Ok(())
    }
}

/// The base unpacked at `cache_dir/rootfs-v2/<digest hex>` (layers applied in order,
/// whiteouts honoured, device nodes and [`LEFT_OUT`] left out), with the mount point for site-packages. A
/// digest's content never changes, so it is unpacked once; concurrent builds each unpack into
/// a temp dir and the first rename wins.
///
/// # Errors
/// A layer missing from the blob cache or unreadable; a path that cannot be written.
pub fn rootfs(base: &Base, blobs: &BlobStore, cache_dir: &Path) -> Result<PathBuf> {
    let dir = cache_dir.join(crate::cache::ROOTFS);
    let done = dir.join(base.digest.trim_start_matches("sha256:"));
    if done.is_dir() {
        crate::cache::touch(&done);
        return Ok(done);
    }
    std::fs::create_dir_all(&dir).map_err(Error::io("create", &dir))?;
    remove_stale(&dir);
    let tmp = tempfile::Builder::new()
        .prefix(".unpacking-")
        .tempdir_in(&dir)
        .map_err(Error::io("create a temp dir in", &dir))?;
    for layer in &base.manifest.layers {
        let reader = base::layer_reader(base, layer, blobs)?;
        apply_layer(reader, tmp.path()).map_err(|e| Error::BaseLayer {
            layer: layer.digest.clone(),
            base: base.name.to_string(),
            message: e.to_string(),
        })?;
    }
    mount_point(tmp.path(), SITE_PACKAGES)?;
    match std::fs::rename(tmp.path(), &done) {
        Ok(()) => {
            // Renamed away: nothing left for the guard to delete.
            let _ = tmp.keep();
        }
        Err(_) if done.is_dir() => {} // another build won; ours goes with the guard
        Err(e) => return Err(Error::io("rename into", &done)(e)),
    }
    Ok(done)
}

/// Unpackings of builds that were killed (an hour old) go; a running one is never that slow.
fn remove_stale(dir: &Path) {
    let hour = std::time::Duration::from_secs(3600);
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > hour));
        if old && e.file_name().to_string_lossy().starts_with(".unpacking-") {
            let _ = remove(&e.path());
        }
    }
}

/// One layer onto `root` (setuid and setgid bits dropped): `.wh.NAME` deletes NAME, `.wh..wh..opq` empties its directory of
/// what earlier layers put there; entries with `..` are skipped and nothing is written through
/// a symlink that leaves `root` (the tar crate's `unpack_in` checks).
fn apply_layer(reader: impl Read, root: &Path) -> std::io::Result<()> {
    let mut archive = tar::Archive::new(reader);
    archive.set_overwrite(true);
    archive.set_preserve_permissions(true);
    // No setuid/setgid programs in a cache directory (the compiler runs as root of its
    // namespace and needs none).
    archive.set_mask(0o6000);
    archive.set_preserve_mtime(false);
    let mut written = std::collections::HashSet::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let Some(rel) = clean(&entry.path()?) else {
            continue;
        };
        if rel.starts_with(LEFT_OUT) {
            continue;
        }
        let name = rel.file_name().map(|n| n.to_string_lossy().into_owned());
        let parent = rel.parent().unwrap_or(Path::new("")).to_path_buf();
        if name.as_deref() == Some(".wh..wh..opq") {
            if let Some(dir) = inside(root, &parent) {
                for child in std::fs::read_dir(&dir)?.flatten() {
                    if !written.contains(&parent.join(child.file_name())) {
                        remove(&child.path())?;
                    }
                }
            }
            continue;
        }
        if let Some(hidden) = name.as_deref().and_then(|n| n.strip_prefix(".wh.")) {
            if let Some(dir) = inside(root, &parent) {
                remove(&dir.join(hidden))?;
            }
            continue;
        }
        let kind = entry.header().entry_type();
        if kind.is_character_special() || kind.is_block_special() || kind.is_fifo() {
            continue; // needs privileges, and compiling needs none
        }
        // A directory where a file was (or the reverse): the old one goes first.
        if let Some(dir) = inside(root, &parent)
            && let Some(n) = &name
        {
            let old = dir.join(n);
            if let Ok(meta) = std::fs::symlink_metadata(&old)
                && meta.is_dir() != kind.is_dir()
            {
                remove(&old)?;
            }
        }
        entry.unpack_in(root)?;
        if kind.is_dir() {
            // Writable and searchable for us, so later layers and the cache's cleanup work.
            if let Some(dir) = inside(root, &rel) {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(&dir)?.permissions().mode();
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode | 0o700))?;
            }
        }
        written.insert(rel);
    }
    Ok(())
}

/// `./usr/bin/x` → `usr/bin/x`; `None` for a path with `..` or no name.
fn clean(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// `root/rel` with its symlinks resolved, if that stays inside `root`.
fn inside(root: &Path, rel: &Path) -> Option<PathBuf> {
    let canon = root.join(rel).canonicalize().ok()?;
    canon
        .starts_with(root.canonicalize().ok()?)
        .then_some(canon)
}

fn remove(path: &Path) -> std::io::Result<()> {
    let result = match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(_) => Ok(()),
    };
    match result {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Create `path` (absolute in the image) as plain directories under `root`, refusing to
/// follow a symlink of the base out of it.
fn mount_point(root: &Path, path: &str) -> Result<()> {
    let mut at = root.to_path_buf();
    for part in path.trim_start_matches('/').split('/') {
        at.push(part);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(Error::tool(
                    format!(
                        "the base has {} as a file or symlink, where prisn mounts the dependencies to byte-compile them",
                        at.strip_prefix(root).unwrap_or(&at).display()
                    ),
                    Some("use a base without it, or build with --no-bytecode".into()),
                ));
            }
            Err(_) => std::fs::create_dir(&at).map_err(Error::io("create", &at))?,
        }
    }
    Ok(())
}

/// Run the base's `interpreter` over `site_packages` inside the sandbox described in the
/// module docs, writing `__pycache__` directories into `site_packages` only: `shards`
/// sandboxed processes at once, each compiling its share of the files ([`PROGRAM`]).
///
/// # Errors
/// Namespaces refused by this machine (the error says how to allow them, or `--no-bytecode`);
/// the interpreter missing or failing.
pub fn compile(
    rootfs: &Path,
    interpreter: &str,
    site_packages: &Path,
    shards: usize,
) -> Result<()> {
    let sandbox = std::sync::Arc::new(Sandbox::new(rootfs, site_packages)?);
    let shards = shards.max(1);
    let outputs: Vec<std::io::Result<std::process::Output>> = std::thread::scope(|s| {
        let running: Vec<_> = (0..shards)
            .map(|shard| {
                let sandbox = sandbox.clone();
                s.spawn(move || {
                    let mut cmd = Command::new(interpreter);
                    cmd.env_clear()
                        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
                        .env("PYTHONHASHSEED", "0")
                        .env("LC_ALL", "C.UTF-8")
                        .args(["-I", "-B", "-c", PROGRAM, SITE_PACKAGES])
                        .args([shard.to_string(), shards.to_string()])
                        .stdin(Stdio::null());
                    // SAFETY: `enter` makes only async-signal-safe system calls on memory
                    // prepared before the fork (no allocation, no locks), as a pre_exec hook must.
                    unsafe { cmd.pre_exec(move || sandbox.enter()) };
                    cmd.output()
                })
            })
            .collect();
        running
            .into_iter()
            .map(|t| t.join().expect("a compile thread does not panic"))
            .collect()
    });
    for out in outputs {
        check(interpreter, out)?;
    }
    Ok(())
}

/// One compiling process's result as an error, or none (exit 0, or 1: a file that did not
/// compile).
fn check(interpreter: &str, out: std::io::Result<std::process::Output>) -> Result<()> {
    let out = out.map_err(|e| {
        Error::tool(
            format!("cannot start the base's {interpreter} to byte-compile the dependencies: {e}"),
            Some("build with --no-bytecode".into()),
        )
    })?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(SANDBOX_FAILED) {
        return Err(Error::tool(
            format!(
                "cannot byte-compile the dependencies with the base's own Python: {}",
                stderr.trim()
            ),
            Some(
                "prisn compiles them in a user + mount namespace, which this machine refuses: allow unprivileged user namespaces \
                 (sysctl user.max_user_namespaces=15000, kernel.unprivileged_userns_clone=1 or \
                 kernel.apparmor_restrict_unprivileged_userns=0; in a container, run it with a seccomp profile that allows unshare), \
                 or build without bytecode: --no-bytecode"
                    .into(),
            ),
        ));
    }
    if !out.status.success() && out.status.code() != Some(1) {
        return Err(Error::tool(
            format!(
                "byte-compiling the dependencies with the base's {interpreter} failed ({}): {}",
                out.status,
                stderr.trim()
            ),
            Some("build with --no-bytecode, and report the base".into()),
        ));
    }
    Ok(())
}

/// Exit code of the child when entering the sandbox failed (its stderr says where).
const SANDBOX_FAILED: i32 = 125;

/// Everything the child needs, prepared before the fork.
struct Sandbox {
    root: CString,
    site_mount: CString,
    site_source: CString,
    uid_map: CString,
    gid_map: CString,
    /// Flags the root's filesystem is mounted with that a read-only remount must keep
    /// (a user namespace may not drop nosuid/nodev/noexec of a mount it does not own).
    locked: libc::c_ulong,
}

impl Sandbox {
    fn new(rootfs: &Path, site_packages: &Path) -> Result<Sandbox> {
        let c = |p: &Path| {
            CString::new(p.as_os_str().as_bytes()).map_err(|_| {
                Error::tool(format!("{} has a NUL byte in its path", p.display()), None)
            })
        };
        // SAFETY: getuid/getgid cannot fail.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        let mut vfs: libc::statvfs = unsafe { std::mem::zeroed() };
        let root = c(rootfs)?;
        // SAFETY: a valid C string and a zeroed out-parameter.
        if unsafe { libc::statvfs(root.as_ptr(), &mut vfs) } != 0 {
            return Err(Error::io("stat the filesystem of", rootfs)(
                std::io::Error::last_os_error(),
            ));
        }
        let mut locked = 0;
        for (st, ms) in [
            (libc::ST_NOSUID, libc::MS_NOSUID),
            (libc::ST_NODEV, libc::MS_NODEV),
            (libc::ST_NOEXEC, libc::MS_NOEXEC),
            (libc::ST_NOATIME, libc::MS_NOATIME),
            (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
            (libc::ST_RELATIME, libc::MS_RELATIME),
        ] {
            if vfs.f_flag & st != 0 {
                locked |= ms;
            }
        }
        Ok(Sandbox {
            site_mount: c(&rootfs.join(SITE_PACKAGES.trim_start_matches('/')))?,
            site_source: c(site_packages)?,
            root,
            uid_map: CString::new(format!("0 {uid} 1\n")).expect("no NUL"),
            gid_map: CString::new(format!("0 {gid} 1\n")).expect("no NUL"),
            locked,
        })
    }

    /// In the forked child: new namespaces, the mounts, `pivot_root` into the base. On
    /// failure, says which step on stderr and exits [`SANDBOX_FAILED`].
    fn enter(&self) -> std::io::Result<()> {
        let null = std::ptr::null::<libc::c_char>();
        let step = |what: &[u8], rc: libc::c_int| {
            if rc != 0 {
                fail(what);
            }
        };
        // SAFETY (every block below): plain system calls on C strings owned by `self`.
        step(
            b"unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET)",
            unsafe { libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS | libc::CLONE_NEWNET) },
        );
        step(
            b"write /proc/self/setgroups",
            write_file(c"/proc/self/setgroups", c"deny"),
        );
        step(
            b"write /proc/self/uid_map",
            write_file(c"/proc/self/uid_map", &self.uid_map),
        );
        step(
            b"write /proc/self/gid_map",
            write_file(c"/proc/self/gid_map", &self.gid_map),
        );
        step(b"make / private", unsafe {
            libc::mount(
                null,
                c"/".as_ptr(),
                null,
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            )
        });
        step(b"bind-mount the base", unsafe {
            libc::mount(
                self.root.as_ptr(),
                self.root.as_ptr(),
                null,
                libc::MS_BIND | libc::MS_REC,
                std::ptr::null(),
            )
        });
        step(b"bind-mount site-packages", unsafe {
            libc::mount(
                self.site_source.as_ptr(),
                self.site_mount.as_ptr(),
                null,
                libc::MS_BIND,
                std::ptr::null(),
            )
        });
        step(b"make the base read-only", unsafe {
            libc::mount(
                null,
                self.root.as_ptr(),
                null,
                libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | self.locked,
                std::ptr::null(),
            )
        });
        step(b"chdir into the base", unsafe {
            libc::chdir(self.root.as_ptr())
        });
        step(b"pivot_root into the base", unsafe {
            libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) as libc::c_int
        });
        step(b"detach the old root", unsafe {
            libc::umount2(c".".as_ptr(), libc::MNT_DETACH)
        });
        step(b"chdir /", unsafe { libc::chdir(c"/".as_ptr()) });
        Ok(())
    }
}

/// `open + write + close`, 0 on success (async-signal-safe).
fn write_file(path: &std::ffi::CStr, text: &std::ffi::CStr) -> libc::c_int {
    // SAFETY: valid C strings; the fd is closed on every path.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return -1;
        }
        let bytes = text.to_bytes();
        let n = libc::write(fd, bytes.as_ptr().cast(), bytes.len());
        libc::close(fd);
        if n == bytes.len() as isize { 0 } else { -1 }
    }
}

/// Report `what` and the errno on stderr and leave the child (no allocation).
fn fail(what: &[u8]) -> ! {
    let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    let mut digits = [0u8; 12];
    let mut i = digits.len();
    let mut n = errno.unsigned_abs();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // SAFETY: writes of valid buffers to fd 2, then _exit.
    unsafe {
        let name = libc::strerror(errno);
        for part in [what, b" failed: errno ", &digits[i..], b" ("] {
            libc::write(2, part.as_ptr().cast(), part.len());
        }
        libc::write(2, name.cast(), libc::strlen(name));
        libc::write(2, b")\n".as_ptr().cast(), 2);
        libc::_exit(SANDBOX_FAILED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_mode(if path.ends_with("su") { 0o4755 } else { 0o644 });
            h.set_size(data.len() as u64);
            h.set_entry_type(if path.ends_with('/') {
                tar::EntryType::Directory
            } else {
                tar::EntryType::Regular
            });
            // Raw name bytes: the builder itself refuses `..`, a hostile layer need not.
            h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn layers_apply_in_order_with_whiteouts_and_no_escape() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let r = root.path();
        apply_layer(
            tar_of(&[
                ("etc/", b""),
                ("etc/a", b"1"),
                ("etc/b", b"2"),
                ("opt/", b""),
                ("opt/x", b"old"),
                ("bin/su", b"#!"),
                ("usr/share/doc/x", b"doc"),
                ("usr/lib/x", b"lib"),
            ])
            .as_slice(),
            r,
        )
        .unwrap();
        std::os::unix::fs::symlink(outside.path(), r.join("out")).unwrap();
        std::fs::write(outside.path().join("keep"), "k").unwrap();
        apply_layer(
            tar_of(&[
                ("etc/.wh.a", b""),
                ("opt/.wh..wh..opq", b""),
                ("opt/y", b"new"),
                ("out/.wh.keep", b""),
                ("out/evil", b"x"),
                ("../evil", b"x"),
            ])
            .as_slice(),
            r,
        )
        .err();
        assert!(!r.join("etc/a").exists(), "whiteout removes a file");
        assert!(
            !r.join("usr/share").exists(),
            "the compiler needs no usr/share"
        );
        assert!(r.join("usr/lib/x").exists());
        use std::os::unix::fs::PermissionsExt;
        let su = std::fs::metadata(r.join("bin/su"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(su & 0o7777, 0o755, "no setuid bit in the cache");
        assert_eq!(std::fs::read(r.join("etc/b")).unwrap(), b"2");
        assert!(!r.join("opt/x").exists(), "opaque dir hides lower files");
        assert_eq!(std::fs::read(r.join("opt/y")).unwrap(), b"new");
        assert!(
            outside.path().join("keep").exists(),
            "a whiteout through a symlink out of the root deletes nothing"
        );
        assert!(!outside.path().join("evil").exists());
        assert!(!r.parent().unwrap().join("evil").exists());
    }

    #[test]
    fn mount_point_refuses_a_symlink_out_of_the_root() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("opt")).unwrap();
        let e = mount_point(root.path(), SITE_PACKAGES).unwrap_err();
        assert!(e.to_string().contains("opt"), "{e}");
        assert!(!outside.path().join("prisn").exists());
    }
}
