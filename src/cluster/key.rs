//! The shared cluster key: 32 random bytes written as one line of hex by
//! `meridian cluster keygen`, read by every node of a cluster.
//!
//! A key file that is missing, not a regular file, not 32 bytes of hex, or readable or writable
//! by group or others is refused with a [`KeyError`] naming the path: a leaked key lets anyone
//! who can reach the gossip port read and forge every node's report.

use std::fmt;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Length of the key in bytes (XChaCha20-Poly1305 takes a 256-bit key).
pub const KEY_LEN: usize = 32;

/// Why a key file was refused or could not be written.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{}: cluster key file not found (create one with `meridian cluster keygen FILE`)", .path.display())]
    Missing { path: PathBuf },
    #[error("{}: cluster key is not a regular file", .path.display())]
    NotAFile { path: PathBuf },
    #[error("{}: cannot read cluster key: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{}: cluster key is accessible by group or others (mode {mode:04o}); run `chmod 600 {}`",
        .path.display(), .path.display()
    )]
    Permissions { path: PathBuf, mode: u32 },
    #[error("{}: cluster key is not one line of hexadecimal digits", .path.display())]
    NotHex { path: PathBuf },
    #[error("{}: cluster key is too short: {len} bytes, {KEY_LEN} needed ({} hex digits)", .path.display(), KEY_LEN * 2)]
    TooShort { path: PathBuf, len: usize },
    #[error("{}: cluster key is too long: {len} bytes, exactly {KEY_LEN} expected", .path.display())]
    TooLong { path: PathBuf, len: usize },
    #[error("cluster key: {0}")]
    Unusable(crate::files::FileError),
    #[error("{}: already exists; refusing to overwrite a cluster key", .path.display())]
    Exists { path: PathBuf },
    #[error("{}: cannot write cluster key: {source}", .path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A validated 32-byte cluster key. `Debug` never prints the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterKey([u8; KEY_LEN]);

impl fmt::Debug for ClusterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClusterKey(..)")
    }
}

impl ClusterKey {
    /// A key from raw bytes (tests, or a caller with its own key source).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> ClusterKey {
        ClusterKey(bytes)
    }

    /// A new key from the operating system's random source (through `rand`'s thread RNG, a
    /// CSPRNG seeded from it).
    pub fn generate() -> ClusterKey {
        ClusterKey(rand::random())
    }

    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// The file form: lower-case hex, no newline.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Read and check a key file.
    pub fn load(path: &Path) -> Result<ClusterKey, KeyError> {
        let p = || path.to_path_buf();
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(KeyError::Missing { path: p() });
            }
            Err(source) => return Err(KeyError::Read { path: p(), source }),
        };
        if !meta.is_file() {
            return Err(KeyError::NotAFile { path: p() });
        }
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(KeyError::Permissions { path: p(), mode });
        }
        let text =
            crate::files::read_text(path, crate::files::limit::SECRET).map_err(|e| match e {
                crate::files::FileError::Io { source, .. } => KeyError::Read { path: p(), source },
                other => KeyError::Unusable(other),
            })?;
        ClusterKey::parse_hex(&text).map_err(|e| match e {
            HexError::NotHex => KeyError::NotHex { path: p() },
            HexError::Length(len) if len < KEY_LEN => KeyError::TooShort { path: p(), len },
            HexError::Length(len) => KeyError::TooLong { path: p(), len },
        })
    }

    fn parse_hex(text: &str) -> Result<ClusterKey, HexError> {
        let hex = text.trim();
        if !hex.len().is_multiple_of(2) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(HexError::NotHex);
        }
        let bytes: Vec<u8> = hex
            .as_bytes()
            .chunks(2)
            .map(|pair| (nibble(pair[0]) << 4) | nibble(pair[1]))
            .collect();
        let key: [u8; KEY_LEN] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| HexError::Length(bytes.len()))?;
        Ok(ClusterKey(key))
    }

    /// Write the key to a new file with mode 0600; an existing file is never replaced.
    pub fn write_new(&self, path: &Path) -> Result<(), KeyError> {
        let p = || path.to_path_buf();
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|source| match source.kind() {
                std::io::ErrorKind::AlreadyExists => KeyError::Exists { path: p() },
                _ => KeyError::Write { path: p(), source },
            })?;
        // The umask can only remove bits, but a pre-set default ACL could add some: be explicit.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .and_then(|()| writeln!(file, "{}", self.to_hex()))
            .and_then(|()| file.sync_all())
            .map_err(|source| KeyError::Write { path: p(), source })
    }
}

enum HexError {
    NotHex,
    Length(usize),
}

/// Value of one ASCII hex digit (the caller checked it is one).
fn nibble(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => 0,
    }
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
    fn keygen_output_loads_back_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let key = ClusterKey::generate();
        key.write_new(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.len(), 65, "64 hex digits and a newline: {text:?}");
        assert_eq!(ClusterKey::load(&path).unwrap(), key);
        assert_ne!(ClusterKey::generate(), key, "two keys are never equal");
        match key.write_new(&path) {
            Err(KeyError::Exists { .. }) => {}
            other => panic!("overwrote an existing key: {other:?}"),
        }
        assert_eq!(
            ClusterKey::load(&path).unwrap(),
            key,
            "the file is unchanged"
        );
    }

    #[test]
    fn upper_case_hex_and_surrounding_whitespace_are_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let hex = "AB".repeat(32);
        let path = write(dir.path(), "k", &format!("  {hex}\n\n"), 0o600);
        assert_eq!(ClusterKey::load(&path).unwrap().bytes(), &[0xab; 32]);
    }

    #[test]
    fn bad_key_files_are_refused_with_their_path() {
        let dir = tempfile::tempdir().unwrap();
        let good = "0f".repeat(32);
        let cases: Vec<(PathBuf, &str)> = vec![
            (dir.path().join("absent"), "not found"),
            (dir.path().to_path_buf(), "not a regular file"),
            (write(dir.path(), "world", &good, 0o644), "group or others"),
            (write(dir.path(), "group", &good, 0o640), "mode 0640"),
            (
                write(dir.path(), "short", &"0f".repeat(31), 0o600),
                "too short: 31 bytes",
            ),
            (
                write(dir.path(), "long", &"0f".repeat(33), 0o600),
                "too long: 33 bytes",
            ),
            (
                write(dir.path(), "odd", &format!("{good}0"), 0o600),
                "hexadecimal",
            ),
            (
                write(dir.path(), "junk", &"zz".repeat(32), 0o600),
                "hexadecimal",
            ),
            (write(dir.path(), "empty", "", 0o600), "too short: 0 bytes"),
        ];
        for (path, want) in cases {
            let msg = match ClusterKey::load(&path) {
                Ok(_) => panic!("{} accepted", path.display()),
                Err(e) => e.to_string(),
            };
            assert!(msg.contains(want), "{}: {msg}", path.display());
            assert!(msg.starts_with(&path.display().to_string()), "{msg}");
        }
    }

    #[test]
    fn debug_does_not_print_the_key() {
        let key = ClusterKey::from_bytes([0x5a; 32]);
        assert!(!format!("{key:?}").contains("5a"));
    }
}
