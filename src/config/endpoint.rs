//! Where the running server's admin endpoint is, read from a policy file that may not
//! validate: `meridian reload` after an edit the server will refuse must still find the
//! server to ask, so that the server itself reports every error of the new file.
//!
//! Only `[server] admin` and `admin_token_file` are read, from any syntactically valid TOML;
//! the rules are those of the full validation (loopback only, paths relative to the file).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The admin address and token file named by the policy text read from `path`; None when
/// the text is not TOML or names no usable loopback admin address.
pub fn admin_endpoint(text: &str, path: &Path) -> Option<(SocketAddr, PathBuf)> {
    let table: toml::Table = toml::from_str(text).ok()?;
    let server = table.get("server")?.as_table()?;
    let addr: SocketAddr = server.get("admin")?.as_str()?.trim().parse().ok()?;
    if !addr.ip().is_loopback() {
        return None;
    }
    let token = server
        .get("admin_token_file")
        .and_then(toml::Value::as_str)
        .unwrap_or("meridian-admin.token");
    let token = Path::new(token);
    let token = if token.is_absolute() {
        token.to_path_buf()
    } else {
        path.parent().unwrap_or(Path::new("")).join(token)
    };
    Some((addr, token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn found_in_a_file_that_does_not_validate() {
        let p = Path::new("/etc/meridian/m.toml");
        let text = "[server]\nadmin = \"127.0.0.1:8053\"\nbogus = 1\n[service.www]\nttl = \"x\"\n";
        assert_eq!(
            admin_endpoint(text, p),
            Some((
                "127.0.0.1:8053".parse().unwrap(),
                PathBuf::from("/etc/meridian/meridian-admin.token")
            ))
        );
        let text = "[server]\nadmin = \"[::1]:8053\"\nadmin_token_file = \"/run/t\"\n";
        assert_eq!(
            admin_endpoint(text, p).map(|e| e.1),
            Some(PathBuf::from("/run/t"))
        );
        assert_eq!(
            admin_endpoint("[server]\nadmin = \"192.0.2.1:80\"\n", p),
            None
        );
        assert_eq!(admin_endpoint("[server\nadmin = ", p), None);
        assert_eq!(admin_endpoint("[server]\nlisten = []\n", p), None);
    }
}
