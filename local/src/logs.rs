//! Workload output on disk: one file per workload, rotated by size.
//!
//! Each line of the file is `<RFC 3339 UTC time, nanoseconds> <F|P> <content>`, the format
//! of the Kubernetes CRI logs without the stream name (stdout and stderr share one pipe, so
//! their order is exact): `F` ends a line of output, `P` is a piece of a line whose end has
//! not been written yet (a prompt, a progress bar, a line longer than one read). The fixed
//! width of the time makes `--since` a string comparison.
//!
//! `name.log` is written; at `max_bytes` it becomes `name.log.1`, `.1` becomes `.2`, and so on
//! up to `keep` old files.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Default size of one log file before it rotates.
pub const MAX_BYTES: u64 = 10 * 1024 * 1024;
/// Default number of rotated files kept.
pub const KEEP: u32 = 3;

/// A timestamp as written in log files.
pub fn stamp(t: SystemTime) -> String {
    humantime::format_rfc3339_nanos(t).to_string()
}

/// Appends output to a workload's log, rotating it by size.
pub struct LogWriter {
    path: PathBuf,
    file: File,
    size: u64,
    max_bytes: u64,
    keep: u32,
}

impl LogWriter {
    /// Open `path` for appending (created 0600 if missing: output may hold secrets).
    ///
    /// # Errors
    /// When the file cannot be opened.
    pub fn open(path: &Path, max_bytes: u64, keep: u32) -> io::Result<LogWriter> {
        if let Some(dir) = path.parent() {
            crate::paths::create_private_dir(dir)?;
        }
        let file = open_append(path)?;
        let size = file.metadata()?.len();
        Ok(LogWriter {
            path: path.to_path_buf(),
            file,
            size,
            max_bytes: max_bytes.max(1),
            keep,
        })
    }

    /// Write a chunk of raw output read from the process, stamped with the time now.
    ///
    /// # Errors
    /// When writing or rotating fails.
    pub fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.write_at(chunk, SystemTime::now())
    }

    pub fn write_at(&mut self, chunk: &[u8], now: SystemTime) -> io::Result<()> {
        if chunk.is_empty() {
            return Ok(());
        }
        let ts = stamp(now);
        let mut out = Vec::with_capacity(chunk.len() + 40);
        for piece in chunk.split_inclusive(|b| *b == b'\n') {
            let (content, tag) = match piece.strip_suffix(b"\n") {
                Some(c) => (c, b'F'),
                None => (piece, b'P'),
            };
            out.extend_from_slice(ts.as_bytes());
            out.push(b' ');
            out.push(tag);
            out.push(b' ');
            out.extend_from_slice(content);
            out.push(b'\n');
        }
        self.file.write_all(&out)?;
        self.size += out.len() as u64;
        if self.size >= self.max_bytes {
            self.rotate()?;
        }
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        if self.keep == 0 {
            self.file.set_len(0)?;
            self.size = 0;
            return Ok(());
        }
        for i in (1..self.keep).rev() {
            let _ = fs::rename(rotated(&self.path, i), rotated(&self.path, i + 1));
        }
        fs::rename(&self.path, rotated(&self.path, 1))?;
        self.file = open_append(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

fn rotated(path: &Path, i: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{i}"));
    PathBuf::from(s)
}

/// The log files of a workload, oldest first (rotated ones, then the current one).
pub fn files(path: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut i = 1;
    while rotated(path, i).exists() {
        out.push(rotated(path, i));
        i += 1;
    }
    out.reverse();
    if path.exists() {
        out.push(path.to_path_buf());
    }
    out
}

/// Remove a workload's log files.
pub fn remove(path: &Path) {
    for f in files(path) {
        let _ = fs::remove_file(f);
    }
}

/// One line of a log file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    pub ts: &'a str,
    /// A piece of a line (`P`), continued by the next one.
    pub partial: bool,
    pub content: &'a [u8],
}

/// Parse one file line (without its newline). Lines in another format are shown as they are.
pub fn parse(raw: &[u8]) -> Line<'_> {
    let parsed = (|| {
        let sp = raw.iter().position(|b| *b == b' ')?;
        let ts = std::str::from_utf8(&raw[..sp]).ok()?;
        let tag = *raw.get(sp + 1)?;
        if !(tag == b'F' || tag == b'P') || raw.get(sp + 2).is_some_and(|b| *b != b' ') {
            return None;
        }
        let content = raw.get(sp + 3..).unwrap_or(&[]);
        Some(Line {
            ts,
            partial: tag == b'P',
            content,
        })
    })();
    parsed.unwrap_or(Line {
        ts: "",
        partial: false,
        content: raw,
    })
}

/// What to read.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// The last N lines only.
    pub tail: Option<usize>,
    /// Lines written at or after this time.
    pub since: Option<SystemTime>,
    /// Prefix each line with its time.
    pub timestamps: bool,
}

/// Turns file lines into output, joining pieces of a line.
#[derive(Debug, Default)]
pub struct Renderer {
    timestamps: bool,
    mid_line: bool,
}

impl Renderer {
    pub fn new(timestamps: bool) -> Renderer {
        Renderer {
            timestamps,
            mid_line: false,
        }
    }

    pub fn push(&mut self, raw: &[u8], out: &mut Vec<u8>) {
        let line = parse(raw);
        if self.timestamps && !self.mid_line && !line.ts.is_empty() {
            out.extend_from_slice(line.ts.as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(line.content);
        if !line.partial {
            out.push(b'\n');
        }
        self.mid_line = line.partial;
    }
}

/// Where the current file ended when history was read, so following resumes exactly there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub ino: u64,
    pub offset: u64,
}

/// The current end of the log (nothing yet: inode 0, offset 0).
pub fn end(path: &Path) -> Position {
    fs::metadata(path)
        .map(|m| Position {
            ino: m.ino(),
            offset: m.len(),
        })
        .unwrap_or(Position { ino: 0, offset: 0 })
}

/// Read the history up to `upto` (the current file's end when it was taken).
///
/// # Errors
/// When a log file cannot be read.
pub fn read(path: &Path, opts: &ReadOptions, upto: Position) -> io::Result<Vec<u8>> {
    let raw = match (opts.tail, opts.since) {
        (Some(n), None) => last_raw_lines(path, n, upto)?,
        _ => {
            let since = opts.since.map(stamp);
            let mut lines = all_raw_lines(path, upto)?;
            if let Some(since) = since {
                lines.retain(|l| {
                    let ts = parse(l).ts;
                    ts.is_empty() || ts >= since.as_str()
                });
            }
            if let Some(n) = opts.tail {
                let start = start_of_last(&lines, n);
                lines.drain(..start);
            }
            lines
        }
    };
    let mut out = Vec::new();
    let mut r = Renderer::new(opts.timestamps);
    for l in &raw {
        r.push(l, &mut out);
    }
    Ok(out)
}

/// The last `n` lines of output as text (for `status`).
pub fn last_lines(path: &Path, n: usize) -> Vec<String> {
    let Ok(bytes) = read(
        path,
        &ReadOptions {
            tail: Some(n),
            ..Default::default()
        },
        end(path),
    ) else {
        return Vec::new();
    };
    String::from_utf8_lossy(&bytes)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Index of the first file line of the last `n` output lines.
fn start_of_last(lines: &[Vec<u8>], n: usize) -> usize {
    let mut complete = 0;
    for (i, l) in lines.iter().enumerate().rev() {
        if !parse(l).partial {
            complete += 1;
            // The (n+1)-th complete line from the end closes the line before our tail.
            if complete > n {
                return i + 1;
            }
        }
    }
    0
}

fn all_raw_lines(path: &Path, upto: Position) -> io::Result<Vec<Vec<u8>>> {
    let mut lines = Vec::new();
    for f in files(path) {
        if upto.ino == 0 && f == path {
            // The file appeared after the snapshot: it is the follower's, from its start.
            continue;
        }
        let mut file = match File::open(&f) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let meta = file.metadata()?;
        let limit = if meta.ino() == upto.ino {
            upto.offset
        } else {
            meta.len()
        };
        let mut buf = Vec::new();
        (&mut file).take(limit).read_to_end(&mut buf)?;
        lines.extend(complete_lines(&buf).map(<[u8]>::to_vec));
        if meta.ino() == upto.ino {
            break;
        }
    }
    Ok(lines)
}

/// The lines of `buf` that end with a newline (a line being written is left out).
fn complete_lines(buf: &[u8]) -> impl Iterator<Item = &[u8]> {
    let end = buf.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    buf[..end]
        .split(|b| *b == b'\n')
        .take(buf[..end].iter().filter(|b| **b == b'\n').count())
}

/// The file lines of the last `n` output lines, reading the files backwards.
fn last_raw_lines(path: &Path, n: usize, upto: Position) -> io::Result<Vec<Vec<u8>>> {
    const BLOCK: u64 = 64 * 1024;
    let mut rev: Vec<Vec<u8>> = Vec::new();
    let mut complete = 0;
    let mut all = files(path);
    all.reverse();
    // Newest first: files newer than the snapshot's belong to the follower, not the history.
    let mut reached = upto.ino == 0;
    'files: for f in all {
        if upto.ino == 0 && f == path {
            continue;
        }
        let mut file = match File::open(&f) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let meta = file.metadata()?;
        reached |= meta.ino() == upto.ino;
        if !reached {
            continue;
        }
        let len = if meta.ino() == upto.ino {
            upto.offset.min(meta.len())
        } else {
            meta.len()
        };
        let mut pos = len;
        // Bytes after the current block: the start of a line whose beginning we have not read.
        let mut carry: Vec<u8> = Vec::new();
        let mut first = true;
        while pos > 0 {
            let start = pos.saturating_sub(BLOCK);
            let mut block = vec![0u8; (pos - start) as usize];
            file.seek(SeekFrom::Start(start))?;
            file.read_exact(&mut block)?;
            block.extend_from_slice(&carry);
            if first {
                // Drop a trailing line still being written.
                let keep = block.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
                block.truncate(keep);
                first = false;
            }
            let body = block.strip_suffix(b"\n").unwrap_or(&block);
            let mut pieces: Vec<&[u8]> = body.split(|b| *b == b'\n').collect();
            carry = if start > 0 {
                pieces.remove(0).to_vec()
            } else {
                Vec::new()
            };
            if body.is_empty() {
                pieces.clear();
            }
            for l in pieces.into_iter().rev() {
                if !parse(l).partial {
                    complete += 1;
                    if complete > n {
                        break 'files;
                    }
                }
                rev.push(l.to_vec());
            }
            pos = start;
        }
    }
    rev.reverse();
    Ok(rev)
}

/// Follows a log as it grows, across rotations.
pub struct Follower {
    path: PathBuf,
    file: Option<File>,
    ino: u64,
    /// Rotated files that were history when following began without a current file.
    history: Vec<u64>,
    pending: Vec<u8>,
    renderer: Renderer,
}

impl Follower {
    /// Follow `path` from `from` (see [`end`]).
    pub fn new(path: &Path, from: Position, timestamps: bool) -> Follower {
        let mut f = Follower {
            path: path.to_path_buf(),
            file: None,
            ino: 0,
            history: Vec::new(),
            pending: Vec::new(),
            renderer: Renderer::new(timestamps),
        };
        if let Ok(mut file) = File::open(path)
            && let Ok(meta) = file.metadata()
        {
            let offset = if meta.ino() == from.ino {
                from.offset
            } else {
                0
            };
            if file.seek(SeekFrom::Start(offset)).is_ok() {
                f.ino = meta.ino();
                f.file = Some(file);
            }
        }
        if f.file.is_none() {
            f.history = files(path)
                .iter()
                .filter_map(|p| fs::metadata(p).ok().map(|m| m.ino()))
                .collect();
        }
        f
    }

    /// Output written since the last call (empty when there is none).
    ///
    /// # Errors
    /// When a log file cannot be read.
    pub fn poll(&mut self) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.drain(&mut out)?;
        // Rotated (maybe several times since the last poll): the files written after ours,
        // oldest first, each read whole; the newest stays open.
        if fs::metadata(&self.path).is_ok_and(|m| m.ino() != self.ino) {
            for (file, ino) in self.newer_files() {
                self.file = Some(file);
                self.ino = ino;
                self.pending.clear();
                self.drain(&mut out)?;
            }
        }
        Ok(out)
    }

    /// The files written after the one being read, oldest first, opened. Scanning from the
    /// current file towards older ones: a rotation meanwhile only moves files to older names,
    /// so none is missed (one seen twice is skipped by its inode).
    fn newer_files(&self) -> Vec<(File, u64)> {
        let mut found: Vec<(File, u64)> = Vec::new();
        let mut i = 0;
        loop {
            let name = if i == 0 {
                self.path.clone()
            } else {
                rotated(&self.path, i)
            };
            let Ok(file) = File::open(&name) else {
                break; // no older file: ours was removed (more rotations than kept files)
            };
            let Ok(ino) = file.metadata().map(|m| m.ino()) else {
                break;
            };
            if ino == self.ino || self.history.contains(&ino) {
                break;
            }
            if !found.iter().any(|(_, seen)| *seen == ino) {
                found.push((file, ino));
            }
            i += 1;
        }
        found.reverse();
        found
    }

    fn drain(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        // Truncated under us (rotation with keep = 0): start over.
        let pos = file.stream_position()?;
        if file.metadata()?.len() < pos {
            file.seek(SeekFrom::Start(0))?;
        }
        file.read_to_end(&mut self.pending)?;
        let end = self
            .pending
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1);
        let lines: Vec<u8> = self.pending.drain(..end).collect();
        for l in complete_lines(&lines) {
            self.renderer.push(l, out);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
