//! Opening and reading input files defensively.
//!
//! - A FIFO with no writer must not block: files are opened non-blocking (so `open` returns
//!   at once), then switched back to blocking reads. A FIFO nobody writes to then reads as
//!   empty, which the parsers report as a truncated file.
//! - Nothing is read beyond what the format can hold: callers pass the most bytes they
//!   accept, and at most one byte more is read (to tell "exactly that" from "longer"), so a
//!   device such as `/dev/zero` or an endless pipe cannot make the reader grow without
//!   bound.

use crate::error::ModelError;
use std::fs::File;
use std::io::Read;
use std::path::Path;

/// Open `path` for reading without blocking on a FIFO that has no writer.
pub fn open(path: &Path) -> Result<File, ModelError> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| ModelError::io(path, e))?;
    let meta = file.metadata().map_err(|e| ModelError::io(path, e))?;
    if meta.is_dir() {
        return Err(ModelError::Invalid {
            what: path.display().to_string(),
            problem: "is a directory, not a file".to_string(),
        });
    }
    set_blocking(&file).map_err(|e| ModelError::io(path, e))?;
    Ok(file)
}

/// Clear `O_NONBLOCK` so that reads wait for a writer that is there but slow.
fn set_blocking(file: &File) -> std::io::Result<()> {
    use std::os::unix::io::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor this function's caller owns (it stays open for the
    // duration of the call); F_GETFL/F_SETFL take no pointers.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Append at most `limit` bytes from `r` to `buf`; returns how many were appended (fewer
/// than `limit` only at end of file). Memory for them is reserved as it arrives, never
/// up front, so a header that lies about the size cannot cause a huge allocation.
pub fn read_up_to(
    r: &mut impl Read,
    limit: u64,
    buf: &mut Vec<u8>,
    path: &Path,
) -> Result<u64, ModelError> {
    let before = buf.len();
    r.take(limit)
        .read_to_end(buf)
        .map_err(|e| ModelError::io(path, e))?;
    Ok((buf.len() - before) as u64)
}

/// The size of the file behind `file` when it is a regular file.
pub fn regular_len(file: &File) -> Option<u64> {
    file.metadata()
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_without_writer_reads_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("f");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let mut f = open(&fifo).unwrap();
        let mut buf = vec![];
        assert_eq!(read_up_to(&mut f, 100, &mut buf, &fifo).unwrap(), 0);
        assert_eq!(regular_len(&f), None);
    }

    #[test]
    fn reads_no_more_than_the_limit() {
        let mut f = open(Path::new("/dev/zero")).unwrap();
        let mut buf = vec![1, 2];
        assert_eq!(
            read_up_to(&mut f, 1000, &mut buf, Path::new("/dev/zero")).unwrap(),
            1000
        );
        assert_eq!(buf.len(), 1002);
        let e = open(Path::new("/")).unwrap_err();
        assert!(e.to_string().contains("directory"), "{e}");
    }
}
