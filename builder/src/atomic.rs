//! Write a file whole or not at all: into a temp file beside it, then a rename, so readers
//! see the old bytes or the new ones, never half of them.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::{Error, Result};

/// Replace `path` with `bytes` (creating its directory), readable by all (0644) like any
/// file a tool writes: a temp file alone would leave it 0600.
///
/// # Errors
/// When the directory is not writable.
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(Error::io("create", dir))?;
    let mut tmp =
        tempfile::NamedTempFile::new_in(dir).map_err(Error::io("create a temp file in", dir))?;
    tmp.write_all(bytes).map_err(Error::io("write", path))?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))
        .map_err(Error::io("set permissions of", path))?;
    tmp.persist(path)
        .map_err(|e| Error::io("rename into", path)(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_replaced_whole_and_readable_by_all() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sub/prisn.lock");
        write(&p, b"one").unwrap();
        write(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o644
        );
        assert_eq!(
            std::fs::read_dir(d.path().join("sub")).unwrap().count(),
            1,
            "no temp file left"
        );
    }
}
