//! The server secret of DNS Cookies (`[server] cookie_secret_file`): 16 bytes written as 32
//! hexadecimal digits on one line, the same file on every node that should recognise the
//! others' cookies (an anycast set). Read under the rules of the other secret files: a
//! regular file, not readable or writable by group or others, exactly 16 bytes; the error
//! names the path and never quotes the content.

use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Length of the secret (RFC 9018: SipHash-2-4 takes a 128-bit key).
pub const SECRET_LEN: usize = 16;

/// Why a secret file was refused.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(
        "{}: cookie secret file not found (make one with `openssl rand -hex 16 > FILE; chmod 600 FILE`)",
        .path.display()
    )]
    Missing { path: PathBuf },
    #[error(
        "{}: cookie secret is accessible by group or others (mode {mode:04o}); run `chmod 600 {}`",
        .path.display(), .path.display()
    )]
    Permissions { path: PathBuf, mode: u32 },
    #[error(
        "{}: cookie secret must be {} hexadecimal digits ({SECRET_LEN} bytes) on one line",
        .path.display(), SECRET_LEN * 2
    )]
    Format { path: PathBuf },
    #[error("cookie secret: {0}")]
    File(crate::files::FileError),
}

/// The 16-byte secret. `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct CookieSecret([u8; SECRET_LEN]);

impl fmt::Debug for CookieSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CookieSecret(..)")
    }
}

impl CookieSecret {
    pub fn from_bytes(bytes: [u8; SECRET_LEN]) -> CookieSecret {
        CookieSecret(bytes)
    }

    /// A secret of this process alone (no file configured): from the OS's random source
    /// through `rand`'s CSPRNG.
    pub fn generate() -> CookieSecret {
        CookieSecret(rand::random())
    }

    pub(crate) fn bytes(&self) -> &[u8; SECRET_LEN] {
        &self.0
    }

    /// Reads and checks a secret file.
    pub fn load(path: &Path) -> Result<CookieSecret, SecretError> {
        let p = || path.to_path_buf();
        let meta = crate::files::regular(path).map_err(|e| match e {
            e if e.is_not_found() => SecretError::Missing { path: p() },
            e => SecretError::File(e),
        })?;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(SecretError::Permissions { path: p(), mode });
        }
        let text =
            crate::files::read_text(path, crate::files::limit::SECRET).map_err(|e| match e {
                crate::files::FileError::NotUtf8 { .. } => SecretError::Format { path: p() },
                e => SecretError::File(e),
            })?;
        parse_hex(text.trim()).ok_or(SecretError::Format { path: p() })
    }
}

fn parse_hex(hex: &str) -> Option<CookieSecret> {
    let b = hex.as_bytes();
    if b.len() != SECRET_LEN * 2 {
        return None;
    }
    let mut out = [0u8; SECRET_LEN];
    for (i, pair) in b.chunks_exact(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(CookieSecret(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn a_good_file_loads() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "s", "E5e973e5a6b2a43f48e7dc849e37bfcf\n", 0o600);
        let s = CookieSecret::load(&p).unwrap();
        assert_eq!(s.bytes()[..2], [0xe5, 0xe9]);
        assert_eq!(format!("{s:?}"), "CookieSecret(..)");
        let p = write(dir.path(), "r", "e5e973e5a6b2a43f48e7dc849e37bfcf", 0o400);
        assert!(CookieSecret::load(&p).is_ok());
    }

    #[test]
    fn bad_files_are_refused_with_their_path_and_never_their_content() {
        let dir = tempfile::tempdir().unwrap();
        let good = "e5e973e5a6b2a43f48e7dc849e37bfcf";
        let cases = [
            (dir.path().join("absent"), "not found"),
            (dir.path().to_path_buf(), "not a regular file"),
            (write(dir.path(), "world", good, 0o644), "mode 0644"),
            (write(dir.path(), "group", good, 0o640), "group or others"),
            (
                write(dir.path(), "short", &good[..30], 0o600),
                "32 hexadecimal",
            ),
            (
                write(dir.path(), "long", &format!("{good}00"), 0o600),
                "32 hexadecimal",
            ),
            (
                write(
                    dir.path(),
                    "junk",
                    "SECRETsecretSECRETsecretSECRETzz",
                    0o600,
                ),
                "32 hexadecimal",
            ),
            (write(dir.path(), "empty", "", 0o600), "32 hexadecimal"),
        ];
        for (path, want) in cases {
            let msg = match CookieSecret::load(&path) {
                Ok(_) => panic!("{} accepted", path.display()),
                Err(e) => e.to_string(),
            };
            assert!(msg.contains(want), "{}: {msg}", path.display());
            assert!(msg.contains(&path.display().to_string()), "{msg}");
            assert!(!msg.contains("SECRET") && !msg.contains(good), "{msg}");
        }
    }
}
