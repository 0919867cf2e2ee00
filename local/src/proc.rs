//! What /proc tells about processes: start times (to re-adopt a process by pid without
//! mistaking a recycled pid for it), command lines, who listens on a port, who holds a file.

use std::fs;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;

/// The start time of `pid` in clock ticks since boot (field 22 of /proc/<pid>/stat), which
/// together with the pid identifies a process for good.
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses; fields after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// The process state letter (field 3): `Z` for a zombie.
pub fn state(pid: i32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().next()?.chars().next()
}

/// True when `pid` still is the process that started at `start` (and is not a zombie).
pub fn is_alive(pid: i32, start: u64) -> bool {
    start_time(pid) == Some(start) && state(pid) != Some('Z')
}

/// `python3 -u -B api.py` (arguments joined by spaces, at most 120 characters).
pub fn cmdline(pid: i32) -> Option<String> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let mut text = raw
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    if text.is_empty() {
        text = fs::read_to_string(format!("/proc/{pid}/comm"))
            .ok()?
            .trim()
            .to_string();
    }
    if text.chars().count() > 120 {
        text = text.chars().take(117).collect::<String>() + "...";
    }
    Some(text)
}

/// The children of `pid` (needs CONFIG_PROC_CHILDREN; empty otherwise).
pub fn children(pid: i32) -> Vec<i32> {
    fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .map(|s| {
            s.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Resident memory of `pid` in bytes.
pub fn rss_bytes(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// The process listening on TCP `port` (any address), with its command line, if /proc shows it.
pub fn port_owner(port: u16) -> Option<(i32, String)> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            // local_address is ADDR:PORT in hex; state 0A is LISTEN; inode is column 9.
            let (Some(local), Some(state), Some(inode)) = (cols.get(1), cols.get(3), cols.get(9))
            else {
                continue;
            };
            let listening_here = local
                .rsplit_once(':')
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
                == Some(port);
            if listening_here && *state == "0A" && *inode != "0" {
                inodes.push(format!("socket:[{inode}]"));
            }
        }
    }
    if inodes.is_empty() {
        return None;
    }
    find_fd(|target| inodes.iter().any(|i| i == target))
        .into_iter()
        .next()
}

/// Processes with `path` open (for "state.db is locked by pid N").
pub fn holders_of(path: &Path) -> Vec<(i32, String)> {
    let Ok(canonical) = fs::canonicalize(path) else {
        return Vec::new();
    };
    let wanted = canonical.to_string_lossy().into_owned();
    let me = std::process::id() as i32;
    find_fd(|target| target == wanted)
        .into_iter()
        .filter(|(pid, _)| *pid != me)
        .collect()
}

/// Processes with an open fd whose link target matches.
fn find_fd(matches: impl Fn(&str) -> bool) -> Vec<(i32, String)> {
    let mut found = Vec::new();
    let Ok(procs) = fs::read_dir("/proc") else {
        return found;
    };
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(fds) = fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let hit = fds.flatten().any(|fd| {
            fs::read_link(fd.path())
                .map(|t| matches(&t.to_string_lossy()))
                .unwrap_or(false)
        });
        if hit {
            found.push((pid, cmdline(pid).unwrap_or_else(|| "?".into())));
        }
    }
    found
}

/// A pidfd for `pid`: readable once the process exits, also when it is not our child.
pub fn pidfd_open(pid: i32) -> std::io::Result<OwnedFd> {
    // SAFETY: a plain syscall with integer arguments; on success it returns a new fd we own.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the fd was just returned by the kernel and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_process_is_alive_and_has_a_command_line() {
        let me = std::process::id() as i32;
        let start = start_time(me).expect("start time of self");
        assert!(is_alive(me, start));
        assert!(!is_alive(me, start + 1));
        assert!(cmdline(me).is_some());
        assert!(rss_bytes(me as u32) > 0);
    }

    #[test]
    fn the_owner_of_a_listening_port_is_found() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (pid, _) = port_owner(port).expect("owner of our port");
        assert_eq!(pid, std::process::id() as i32);
    }

    #[test]
    fn holders_of_an_open_file_are_found_except_ourselves() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, b"x").unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .stdin(fs::File::open(&path).unwrap())
            .spawn()
            .unwrap();
        let holders = holders_of(&path);
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            holders
                .iter()
                .any(|(p, c)| *p == child.id() as i32 && c.contains("sleep")),
            "{holders:?}"
        );
    }
}
