//! Pack a directory into a layer with prisn's packer, for bench/image.sh:
//!
//!     cargo run --release -p prisn-builder --example pack -- DIR [THREADS]
//!
//! Prints `<digest> <compressed bytes> <tar bytes> <seconds>` on stdout. The blob goes to a
//! temp directory that is removed afterwards.

use std::time::Instant;

use prisn_builder::image::{BlobStore, LayerSpec};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or("usage: pack DIR [THREADS]")?;
    let threads: usize = match args.next() {
        Some(n) => n.parse()?,
        None => prisn_builder::image::gzip::default_threads(),
    };
    let out = tempfile::tempdir()?;
    let start = Instant::now();
    let mut spec = LayerSpec::new();
    spec.add_tree("", std::path::Path::new(&dir))?;
    let layer = spec.pack(&BlobStore::new(out.path()), 0, threads)?;
    let secs = start.elapsed().as_secs_f64();
    let mut stdout = std::io::stdout().lock();
    std::io::Write::write_fmt(
        &mut stdout,
        format_args!(
            "{} {} {} {secs:.3}\n",
            layer.digest, layer.size, layer.tar_size
        ),
    )?;
    Ok(())
}
