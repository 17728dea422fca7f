//! The admin API's bearer token file (`[server] admin_token_file`): read when it exists and
//! is private and long enough; created with a random token, mode 0600, exclusively (never
//! through an existing file or symlink) when it is missing.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::files::{self, FileError};

/// Shortest token accepted from a file.
pub const MIN_LEN: usize = 16;

/// Why the token file was refused.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error(
        "{}: readable by group or others (mode {mode:03o}); run `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    Permissions { path: PathBuf, mode: u32 },
    #[error(
        "{}: the token is {len} characters, fewer than {MIN_LEN}; delete the file and a new one \
         is created at the next start",
        path.display()
    )]
    TooShort { path: PathBuf, len: usize },
    #[error("{}: cannot create: {source}", path.display())]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Reads the token, or creates the file with a new one.
pub fn load_or_create(path: &Path) -> Result<String, TokenError> {
    match read(path) {
        Err(TokenError::File(e)) if e.is_not_found() => create(path),
        other => other,
    }
}

/// Reads and checks an existing token file.
pub fn read(path: &Path) -> Result<String, TokenError> {
    let mode = files::regular(path)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(TokenError::Permissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    let token = files::read_text(path, files::limit::SECRET)?
        .trim()
        .to_string();
    if token.chars().count() < MIN_LEN {
        return Err(TokenError::TooShort {
            path: path.to_path_buf(),
            len: token.chars().count(),
        });
    }
    Ok(token)
}

fn create(path: &Path) -> Result<String, TokenError> {
    let err = |source| TokenError::Create {
        path: path.to_path_buf(),
        source,
    };
    let token: String = (0..32)
        .map(|_| format!("{:x}", rand::random::<u8>() & 0xf))
        .collect();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(err)?;
    f.write_all(token.as_bytes()).map_err(err)?;
    f.sync_all().map_err(err)?;
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_private_then_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t");
        let t = load_or_create(&p).unwrap();
        assert_eq!(t.len(), 32);
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(load_or_create(&p).unwrap(), t);
    }

    #[test]
    fn readable_short_or_odd_token_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t");
        std::fs::write(&p, "0123456789abcdef0123").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = load_or_create(&p).unwrap_err().to_string();
        assert!(e.contains("mode 644") && e.contains("chmod 600"), "{e}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&p, "abcxyz\n").unwrap();
        let e = load_or_create(&p).unwrap_err().to_string();
        assert!(e.contains("6 characters, fewer than 16"), "{e}");
        assert!(
            !e.contains("abcxyz") && e.contains(&*p.to_string_lossy()),
            "{e}"
        );
        // A dangling symlink where the file goes is not followed to create a file.
        let q = dir.path().join("link");
        std::os::unix::fs::symlink(dir.path().join("target"), &q).unwrap();
        assert!(load_or_create(&q).is_err());
        assert!(!dir.path().join("target").exists());
        // A folder is refused without reading.
        let e = load_or_create(dir.path()).unwrap_err().to_string();
        assert!(e.contains("a directory"), "{e}");
    }
}
