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
//!
//! A [`Position`] names a place in the output by file identity (inode and birth time) and
//! offset, not by name, so it stays valid while its file is renamed by rotations: a
//! [`Follower`] resumes from it in whichever file holds it now, or, once that file has
//! rotated out, at the oldest file kept (and says output was lost).

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

/// Which log file: its inode and, where the file system records it, its birth time (ns since
/// the epoch; 0 when unknown). The birth time tells a file from a later one that reuses the
/// inode of a file rotated out (ext4 hands a freed inode out again at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileId {
    pub ino: u64,
    pub born: u64,
}

impl FileId {
    /// No file: the start of a log that had none yet.
    pub const NONE: FileId = FileId { ino: 0, born: 0 };

    pub fn of(meta: &fs::Metadata) -> FileId {
        let born = meta
            .created()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(0));
        FileId {
            ino: meta.ino(),
            born,
        }
    }

    /// Whether `meta` is this file (an unknown birth time on either side matches any).
    fn is(&self, meta: &fs::Metadata) -> bool {
        let other = FileId::of(meta);
        self.ino == other.ino && (self.born == 0 || other.born == 0 || self.born == other.born)
    }
}

/// A place in a workload's output: a byte offset in one log file, whatever its name is now
/// (`name.log`, or `name.log.N` after rotations). [`START`] is the start of a log that had no
/// file yet. Written as `<ino>-<born>-<offset>` (see [`Position::parse`]): the cursor of the
/// log stream's events, which a client sends back to resume right after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub file: FileId,
    pub offset: u64,
}

/// The start of the log.
pub const START: Position = Position {
    file: FileId::NONE,
    offset: 0,
};

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}-{}", self.file.ino, self.file.born, self.offset)
    }
}

/// A cursor that is not `<ino>-<born>-<offset>`, three decimal numbers that fit 64 bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadPosition {
    /// The value as given (cut to 64 characters: it comes from a request header).
    pub value: String,
}

impl std::fmt::Display for BadPosition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "invalid log position {:?}: expected <inode>-<birth>-<offset>, three decimal numbers, as sent in a log event's id",
            self.value
        )
    }
}

impl Position {
    /// Parse a cursor written by [`Display`](std::fmt::Display): digits only (no sign, no
    /// spaces), each number at most `u64::MAX`.
    ///
    /// # Errors
    /// [`BadPosition`] naming the value.
    pub fn parse(s: &str) -> Result<Position, BadPosition> {
        let number = |t: &str| {
            (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
                .then(|| t.parse::<u64>().ok())
                .flatten()
        };
        let mut parts = s.split('-');
        let mut next = || parts.next().and_then(number);
        let pos = (|| {
            Some(Position {
                file: FileId {
                    ino: next()?,
                    born: next()?,
                },
                offset: next()?,
            })
        })();
        pos.filter(|_| parts.next().is_none())
            .ok_or_else(|| BadPosition {
                value: s.chars().take(64).collect(),
            })
    }

    /// Whether this position lies in the file `meta` describes.
    fn is_in(&self, meta: &fs::Metadata) -> bool {
        self.file != FileId::NONE && self.file.is(meta)
    }
}

/// The current end of the log: the end of the last complete line of the current file, or of
/// the newest rotated one when there is no current file (then what comes next is new), or
/// [`START`] when there are no files at all. A line being written (a reader can see part of
/// a write) is left to the follower, so history and follower meet at a line boundary.
pub fn end(path: &Path) -> Position {
    for f in files(path).iter().rev() {
        let Ok(mut file) = File::open(f) else {
            continue;
        };
        let Ok(meta) = file.metadata() else {
            continue;
        };
        return Position {
            file: FileId::of(&meta),
            offset: complete_up_to(&mut file, meta.len()),
        };
    }
    START
}

/// Where the last complete line before `len` ends (`len` itself when the file cannot be read).
fn complete_up_to(file: &mut File, len: u64) -> u64 {
    const BLOCK: u64 = 4096;
    let mut pos = len;
    while pos > 0 {
        let start = pos.saturating_sub(BLOCK);
        let mut block = vec![0u8; (pos - start) as usize];
        if file.seek(SeekFrom::Start(start)).is_err() || file.read_exact(&mut block).is_err() {
            return len;
        }
        if let Some(i) = block.iter().rposition(|b| *b == b'\n') {
            return start + i as u64 + 1;
        }
        pos = start;
    }
    0
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
    if upto.file == FileId::NONE {
        // No file existed at the snapshot: every file now is the follower's, from its start.
        return Ok(lines);
    }
    for f in files(path) {
        let mut file = match File::open(&f) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let meta = file.metadata()?;
        let limit = if upto.is_in(&meta) {
            upto.offset
        } else {
            meta.len()
        };
        let mut buf = Vec::new();
        (&mut file).take(limit).read_to_end(&mut buf)?;
        lines.extend(complete_lines(&buf).map(<[u8]>::to_vec));
        if upto.is_in(&meta) {
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
    if upto.file == FileId::NONE {
        return Ok(rev); // as in `all_raw_lines`
    }
    let mut all = files(path);
    all.reverse();
    // Newest first: files newer than the snapshot's belong to the follower, not the history.
    let mut reached = false;
    'files: for f in all {
        let mut file = match File::open(&f) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let meta = file.metadata()?;
        reached |= upto.is_in(&meta);
        if !reached {
            continue;
        }
        let len = if upto.is_in(&meta) {
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

/// Whether the file line that ends at `offset` is a piece of a line (`P`); false when it
/// cannot be told (no line before, or one longer than the block read).
fn ends_a_piece(file: &mut File, offset: u64) -> bool {
    const BLOCK: u64 = 64 * 1024;
    let start = offset.saturating_sub(BLOCK);
    let mut block = vec![0u8; (offset - start) as usize];
    if file.seek(SeekFrom::Start(start)).is_err() || file.read_exact(&mut block).is_err() {
        return false;
    }
    let Some(body) = block.strip_suffix(b"\n") else {
        return false;
    };
    match body.iter().rposition(|b| *b == b'\n') {
        Some(i) => parse(&body[i + 1..]).partial,
        None if start == 0 => parse(body).partial,
        None => false,
    }
}

/// Follows a log as it grows, across rotations.
pub struct Follower {
    path: PathBuf,
    file: Option<File>,
    id: FileId,
    /// Where the output read so far ends in `file` (complete lines only).
    offset: u64,
    /// The position followed from was in a file that rotated out: output was lost.
    lost: bool,
    pending: Vec<u8>,
    renderer: Renderer,
}

impl Follower {
    /// Follow `path` from right after `from` (a [`Position`] from [`end`], or a client's
    /// cursor): in whichever file it lies now, the current one or a rotated one; from
    /// the oldest file kept when `from` is [`START`] or its file rotated out ([`lost`]).
    ///
    /// [`lost`]: Follower::lost
    pub fn new(path: &Path, from: Position, timestamps: bool) -> Follower {
        let mut f = Follower {
            path: path.to_path_buf(),
            file: None,
            id: FileId::NONE,
            offset: 0,
            lost: false,
            pending: Vec::new(),
            renderer: Renderer::new(timestamps),
        };
        // Oldest first; opened, so a rotation meanwhile only renames what we hold.
        let opened: Vec<(File, fs::Metadata)> = files(path)
            .iter()
            .filter_map(|p| {
                let file = File::open(p).ok()?;
                let meta = file.metadata().ok()?;
                Some((file, meta))
            })
            .collect();
        let found = opened.iter().position(|(_, meta)| from.is_in(meta));
        f.lost = from.file != FileId::NONE && found.is_none();
        let (index, offset) = match found {
            Some(i) => (i, from.offset),
            None => (0, 0),
        };
        if let Some((mut file, meta)) = opened.into_iter().nth(index) {
            // Resuming after a piece of a line: its time was shown already.
            f.renderer.mid_line = ends_a_piece(&mut file, offset);
            if file.seek(SeekFrom::Start(offset)).is_ok() {
                f.id = FileId::of(&meta);
                f.offset = offset;
                f.file = Some(file);
            }
        }
        f
    }

    /// Whether the position followed from had rotated out of the files kept (the output
    /// between it and the oldest file kept is gone; following began at that file).
    pub fn lost(&self) -> bool {
        self.lost
    }

    /// Where the output returned so far ends: the position to resume right after it.
    pub fn position(&self) -> Position {
        Position {
            file: self.id,
            offset: self.offset,
        }
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
        if fs::metadata(&self.path).is_ok_and(|m| !self.id.is(&m)) {
            for (file, id) in self.newer_files() {
                self.file = Some(file);
                self.id = id;
                self.pending.clear();
                self.drain(&mut out)?;
            }
        }
        Ok(out)
    }

    /// The files written after the one being read, oldest first, opened. Scanning from the
    /// current file towards older ones: a rotation meanwhile only moves files to older names,
    /// so none is missed (one seen twice is skipped).
    fn newer_files(&self) -> Vec<(File, FileId)> {
        let mut found: Vec<(File, FileId)> = Vec::new();
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
            let Ok(meta) = file.metadata() else {
                break;
            };
            if self.id.is(&meta) {
                break;
            }
            let id = FileId::of(&meta);
            if !found.iter().any(|(_, seen)| *seen == id) {
                found.push((file, id));
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
        self.offset = file.stream_position()? - self.pending.len() as u64;
        for l in complete_lines(&lines) {
            self.renderer.push(l, out);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
