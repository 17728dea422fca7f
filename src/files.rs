//! Reading the files Meridian is given (policy, zones and `$INCLUDE`s, CIDR lists, geo
//! databases and CSVs, the admin token, the state file, the cluster key) under one set of
//! rules, so that no file can hang a load or eat the memory:
//!
//! - only regular files: a FIFO, a device (`/dev/zero`), a socket or a directory is refused
//!   from its metadata, before it is opened;
//! - opened with `O_NONBLOCK` and checked again on the open descriptor, so a file swapped for
//!   a FIFO between the two steps cannot block either;
//! - a size limit per kind of file, enforced while reading (a file in `/proc` reports size 0);
//! - errors name the path and the rule broken, never the file's content.

use std::fs::{File, Metadata};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Size limits of the files whose limit is not configurable.
pub mod limit {
    /// The policy file.
    pub const POLICY: u64 = 4 << 20;
    /// A CIDR list file.
    pub const CIDR_LIST: u64 = 64 << 20;
    /// A MaxMind DB or its CSV description.
    pub const GEO: u64 = 1 << 30;
    /// The health state file.
    pub const STATE: u64 = 16 << 20;
    /// A secret: the admin token or the cluster key.
    pub const SECRET: u64 = 4 << 10;
    /// Default of `[server] max_zone_file_bytes`: a zone file or one `$INCLUDE`d file.
    pub const ZONE_DEFAULT: u64 = 256 << 20;
}

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{}: not found", path.display())]
    NotFound { path: PathBuf },
    #[error("{}: {kind}, not a regular file; Meridian reads only regular files", path.display())]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error("{}: larger than the limit of {limit} bytes", path.display())]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("{}: not UTF-8 text", path.display())]
    NotUtf8 { path: PathBuf },
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl FileError {
    /// True when the file does not exist (callers that treat that as empty).
    pub fn is_not_found(&self) -> bool {
        matches!(self, FileError::NotFound { .. })
    }
}

/// What kind of non-regular file `meta` describes (for messages).
fn kind(meta: &Metadata) -> Option<&'static str> {
    let t = meta.file_type();
    if t.is_file() {
        None
    } else if t.is_dir() {
        Some("a directory")
    } else if t.is_fifo() {
        Some("a FIFO")
    } else if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else if t.is_socket() {
        Some("a socket")
    } else {
        Some("not a plain file")
    }
}

fn io(path: &Path, source: std::io::Error) -> FileError {
    if source.kind() == std::io::ErrorKind::NotFound {
        FileError::NotFound {
            path: path.to_path_buf(),
        }
    } else {
        FileError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The metadata of `path` (symlinks followed) when it is a regular file; nothing is opened.
pub fn regular(path: &Path) -> Result<Metadata, FileError> {
    let meta = std::fs::metadata(path).map_err(|e| io(path, e))?;
    match kind(&meta) {
        None => Ok(meta),
        Some(kind) => Err(FileError::NotRegular {
            path: path.to_path_buf(),
            kind,
        }),
    }
}

/// Opens a regular file for reading without ever blocking in `open`, and returns it with
/// its metadata as seen on the open descriptor.
pub fn open(path: &Path) -> Result<(File, Metadata), FileError> {
    regular(path)?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| io(path, e))?;
    let meta = file.metadata().map_err(|e| io(path, e))?;
    if let Some(kind) = kind(&meta) {
        return Err(FileError::NotRegular {
            path: path.to_path_buf(),
            kind,
        });
    }
    Ok((file, meta))
}

/// Reads a whole regular file of at most `limit` bytes.
pub fn read(path: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
    let (file, meta) = open(path)?;
    let too_large = || FileError::TooLarge {
        path: path.to_path_buf(),
        limit,
    };
    if meta.len() > limit {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| io(path, e))?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// [`read`] for text files.
pub fn read_text(path: &Path, limit: u64) -> Result<String, FileError> {
    String::from_utf8(read(path, limit)?).map_err(|_| FileError::NotUtf8 {
        path: path.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn regular_files_are_read_within_their_limit() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, "hello").unwrap();
        assert_eq!(read_text(&p, 5).unwrap(), "hello");
        let e = read(&p, 4).unwrap_err();
        assert!(matches!(e, FileError::TooLarge { limit: 4, .. }), "{e}");
        assert!(
            read(&dir.path().join("none"), 9)
                .unwrap_err()
                .is_not_found()
        );
        std::fs::write(&p, [0xff, 0xfe]).unwrap();
        let e = read_text(&p, 9).unwrap_err().to_string();
        assert!(
            e.ends_with("not UTF-8 text") && !e.contains('\u{fffd}'),
            "{e}"
        );
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // measures that nothing blocks
    fn fifos_devices_and_folders_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path; mkfifo only creates a file system node.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let start = Instant::now();
        for (p, what) in [
            (fifo.as_path(), "a FIFO"),
            (Path::new("/dev/zero"), "a character device"),
            (dir.path(), "a directory"),
        ] {
            let e = read(p, 1 << 20).unwrap_err().to_string();
            assert!(e.contains(what), "{e}");
        }
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn proc_files_are_bounded_while_reading() {
        // /proc files report size 0; the limit holds while reading.
        let e = read(Path::new("/proc/self/maps"), 8).unwrap_err();
        assert!(matches!(e, FileError::TooLarge { .. }), "{e}");
    }
}
