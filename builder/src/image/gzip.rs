//! Block-parallel gzip with deterministic output.
//!
//! The input is cut into fixed-size blocks ([`BLOCK`]); each block becomes its own gzip member
//! (header mtime 0, OS byte 255, miniz_oxide at [`LEVEL`]), and the members are written in order.
//! A concatenation of gzip members is one valid gzip stream (RFC 1952 §2.2) that every reader
//! used for container layers accepts (Go's `compress/gzip` reads multistream by default, as do
//! zlib's `gunzip`, pigz and Python). Because the cut points depend only on the byte stream,
//! the output is the same whatever the number of threads: one core or sixteen give the same
//! digest. An input of at most one block gives exactly what a plain single-member gzip gives.
//!
//! Keep flate2 on its pure-Rust backend (crates.md §10): another deflate changes every digest.

use std::io::{self, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use flate2::{Compression, GzBuilder};

/// Bytes of input per gzip member. 1 MiB loses well under 0.1 % of ratio against one member
/// (deflate's window is only 32 KiB) and gives both cores work even on a 2 MiB layer.
/// Changing it changes every layer digest: it is part of the layer format.
pub const BLOCK: usize = 1 << 20;

/// The compression level of every member: 1, gzip's fastest, as ko's layers have it
/// (go-containerregistry packs with `gzip.BestSpeed`). Packing the dependency layer is on the
/// critical path of every cold build, and level 6 took three times the CPU of level 1 for 15 to
/// 20 % smaller layers (flask + requests: 4.4 MB of tar, 1.22 MB at 6, 1.43 MB at 1).
/// Changing it changes every layer digest: it is part of the layer format.
pub const LEVEL: u32 = 1;

/// What decides a layer's compressed bytes, for the keys of caches that hold packed layers:
/// a cached layer made with other settings must not be reused, or two machines would disagree.
pub const FORMAT: &str = "gzip: 1 MiB members, miniz_oxide level 1";

/// Compress one block into a complete gzip member.
pub fn member(block: &[u8]) -> io::Result<Vec<u8>> {
    let mut gz = GzBuilder::new().mtime(0).write(
        Vec::with_capacity(block.len() / 3 + 64),
        Compression::new(LEVEL),
    );
    gz.write_all(block)?;
    gz.finish()
}

/// How many worker threads to use: every core the OS gives us.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

type Job = (Vec<u8>, SyncSender<io::Result<Vec<u8>>>);

/// The writer handed to the producer: it cuts blocks and queues them for the workers.
struct BlockWriter {
    buf: Vec<u8>,
    jobs: SyncSender<Job>,
    order: SyncSender<Receiver<io::Result<Vec<u8>>>>,
    emitted: bool,
}

impl BlockWriter {
    fn send(&mut self) -> io::Result<()> {
        let block = std::mem::replace(&mut self.buf, Vec::with_capacity(BLOCK));
        let (tx, rx) = sync_channel(1);
        // The order queue is bounded: this is what keeps memory at a few blocks per thread.
        self.order.send(rx).map_err(|_| broken())?;
        self.jobs.send((block, tx)).map_err(|_| broken())?;
        self.emitted = true;
        Ok(())
    }
}

fn broken() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "gzip writer thread stopped")
}

impl Write for BlockWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = BLOCK - self.buf.len();
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == BLOCK {
            self.send()?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Run `produce` with a writer whose bytes end up gzip-compressed in `out`, using `threads`
/// workers. Returns what `produce` returned and `out` after the last member was written.
///
/// # Guarantees
/// The bytes written to `out` depend only on the bytes `produce` wrote (see the module docs).
pub fn compress<W, R>(
    out: W,
    threads: usize,
    produce: impl FnOnce(&mut dyn Write) -> io::Result<R>,
) -> io::Result<(R, W)>
where
    W: Write + Send,
{
    let threads = threads.max(1);
    let (job_tx, job_rx) = sync_channel::<Job>(threads);
    let (order_tx, order_rx) = sync_channel::<Receiver<io::Result<Vec<u8>>>>(threads * 2);
    let job_rx = Arc::new(Mutex::new(job_rx));

    std::thread::scope(|s| {
        for _ in 0..threads {
            let job_rx = Arc::clone(&job_rx);
            s.spawn(move || {
                loop {
                    // Hold the lock only to take a job, never while compressing.
                    let job = job_rx.lock().map(|rx| rx.recv());
                    let Ok(Ok((block, reply))) = job else { return };
                    let _ = reply.send(member(&block));
                }
            });
        }
        let writer = s.spawn(move || -> io::Result<W> {
            let mut out = out;
            for rx in order_rx {
                let bytes = rx.recv().map_err(|_| broken())??;
                out.write_all(&bytes)?;
            }
            out.flush()?;
            Ok(out)
        });

        let mut blocks = BlockWriter {
            buf: Vec::with_capacity(BLOCK),
            jobs: job_tx,
            order: order_tx,
            emitted: false,
        };
        let produced = produce(&mut blocks);
        // The last partial block; an empty input still becomes one (empty) gzip member.
        let flushed = match &produced {
            Ok(_) if !blocks.buf.is_empty() || !blocks.emitted => blocks.send(),
            _ => Ok(()),
        };
        drop(blocks); // closes both queues: the workers and the writer finish
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("gzip writer thread panicked")));
        let value = produced?;
        flushed?;
        Ok((value, written?))
    })
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    fn sample(len: usize) -> Vec<u8> {
        // Compressible but not trivial: a counter in text.
        let mut v = Vec::with_capacity(len);
        let mut i = 0u64;
        while v.len() < len {
            v.extend_from_slice(format!("line {i} of the sample\n").as_bytes());
            i += 1;
        }
        v.truncate(len);
        v
    }

    #[test]
    fn output_does_not_depend_on_the_number_of_threads() {
        let data = sample(3 * BLOCK + 12345);
        let run = |threads| {
            compress(Vec::new(), threads, |w| w.write_all(&data))
                .unwrap()
                .1
        };
        let one = run(1);
        assert_eq!(one, run(2));
        assert_eq!(one, run(5));
        assert_eq!(gunzip(&one), data);
    }

    #[test]
    fn a_small_input_is_a_plain_single_member_gzip() {
        let data = sample(1000);
        let (_, out) = compress(Vec::new(), 2, |w| w.write_all(&data)).unwrap();
        assert_eq!(out, member(&data).unwrap());
        // header: magic, deflate, no flags, mtime 0, xfl 4 ("fastest", RFC 1952), OS 255
        assert_eq!(&out[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 0xff]);
    }

    /// The cache keys' format string names what it stands for, so a change of either setting
    /// that forgets it fails here instead of reusing layers packed the old way.
    #[test]
    fn the_format_names_the_block_size_and_the_level() {
        assert!(
            FORMAT.contains(&format!("{} MiB members", BLOCK >> 20)),
            "{FORMAT}"
        );
        assert!(FORMAT.ends_with(&format!("level {LEVEL}")), "{FORMAT}");
    }

    #[test]
    fn empty_input_is_still_valid_gzip() {
        let (_, out) = compress(Vec::new(), 2, |_| Ok(())).unwrap();
        assert!(gunzip(&out).is_empty());
    }

    #[test]
    fn an_exact_multiple_of_the_block_size_has_no_trailing_empty_member() {
        let data = sample(2 * BLOCK);
        let (_, out) = compress(Vec::new(), 2, |w| w.write_all(&data)).unwrap();
        let mut expected = member(&data[..BLOCK]).unwrap();
        expected.extend(member(&data[BLOCK..]).unwrap());
        assert_eq!(out, expected);
    }

    #[test]
    fn a_producer_error_is_returned() {
        let err = compress(Vec::new(), 2, |w| -> io::Result<()> {
            w.write_all(b"abc")?;
            Err(io::Error::other("boom"))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "boom");
    }
}
