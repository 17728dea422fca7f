//! `[server] identity`, `nsid` and `chaos_id`: the name this node gives in NSID options
//! (RFC 5001) and CH TXT `id.server.` / `hostname.bind.` answers, both off by default.
//!
//! The name is `identity` when set, else `[cluster] node`, else the host name, which is only
//! read when one of the answers is on.

use toml::Spanned;

use super::super::spec::ServerSpec;
use super::super::{Cluster, IdentitySettings};
use super::Ctx;

/// Longest identity: a host name's length, so that an NSID and a CH answer always fit in
/// a 512-byte UDP reply beside the question and the other EDNS options.
pub(crate) const MAX_IDENTITY: usize = 64;

const HOSTNAME_FILE: &str = "/proc/sys/kernel/hostname";

pub(super) fn identity(
    cx: &mut Ctx,
    s: Option<&ServerSpec>,
    cluster: Option<&Cluster>,
) -> IdentitySettings {
    let on = |v: Option<&Spanned<bool>>| v.is_some_and(|b| *b.get_ref());
    let nsid = on(s.and_then(|s| s.nsid.as_ref()));
    let chaos = on(s.and_then(|s| s.chaos_id.as_ref()));
    let explicit = s.and_then(|s| s.identity.as_ref());
    if let Some(id) = explicit
        && let Err(msg) = check_name(id.get_ref())
    {
        cx.err(id.span(), "server.identity", msg);
        return IdentitySettings::default();
    }
    if !nsid && !chaos {
        return IdentitySettings::default();
    }
    let name = match (explicit, cluster) {
        (Some(id), _) => id.get_ref().clone(),
        (None, Some(c)) => c.node.clone(),
        (None, None) => match host_name() {
            Ok(n) => n,
            Err(msg) => {
                let (span, key) = match s.and_then(|s| s.nsid.as_ref().filter(|b| *b.get_ref())) {
                    Some(b) => (b.span(), "server.nsid"),
                    None => (
                        s.and_then(|s| s.chaos_id.as_ref())
                            .map_or(0..0, Spanned::span),
                        "server.chaos_id",
                    ),
                };
                cx.err(span, key, msg);
                return IdentitySettings::default();
            }
        },
    };
    IdentitySettings { name, nsid, chaos }
}

/// 1..=64 printable ASCII bytes (a node name, not free text).
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_IDENTITY {
        return Err(format!(
            "must be 1 to {MAX_IDENTITY} characters, not {}",
            name.len()
        ));
    }
    if let Some(c) = name.chars().find(|c| !(' '..='~').contains(c)) {
        return Err(format!(
            "{c:?} is not printable ASCII; use letters, digits and punctuation"
        ));
    }
    Ok(())
}

/// The kernel's host name, as `hostname` prints it.
fn host_name() -> Result<String, String> {
    let text = std::fs::read_to_string(HOSTNAME_FILE).map_err(|e| {
        format!("cannot read the host name from {HOSTNAME_FILE} ({e}); set `identity`")
    })?;
    let name = text.trim().to_string();
    check_name(&name).map_err(|m| format!("the host name `{name}` {m}; set `identity`"))?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name("hq-ns1").is_ok());
        assert!(check_name("hq ns1.example.").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name(&"a".repeat(65)).is_err());
        assert!(check_name("ns\u{e9}").is_err());
        assert!(check_name("a\tb").is_err());
    }

    fn parse(dir: &std::path::Path, text: &str) -> Result<IdentitySettings, Vec<String>> {
        std::fs::write(
            dir.join("a.test.zone"),
            "$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n",
        )
        .unwrap();
        let text = format!("[server]\nzones = \"a.test.zone\"\n{text}");
        match crate::config::parse(&text, &dir.join("m.toml")) {
            Ok(c) => Ok(c.server.identity),
            Err(crate::config::ConfigError::Invalid(d)) => {
                Err(d.iter().map(ToString::to_string).collect())
            }
            Err(e) => Err(vec![e.to_string()]),
        }
    }

    #[test]
    fn defaults_and_sources_of_the_name() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert_eq!(parse(d, "").unwrap(), IdentitySettings::default());
        // A name alone turns nothing on.
        assert_eq!(
            parse(d, "identity = \"ns1\"\n").unwrap(),
            IdentitySettings::default()
        );
        let id = parse(d, "identity = \"ns1\"\nnsid = true\n").unwrap();
        assert_eq!((id.name.as_str(), id.nsid, id.chaos), ("ns1", true, false));
        use std::os::unix::fs::PermissionsExt;
        let key = d.join("cluster.key");
        std::fs::copy(
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/cluster.key"),
            &key,
        )
        .unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        let key = key.display();
        let cluster = format!(
            "[cluster]\nnode = \"hq-ns2\"\nlisten = \"127.0.0.1:7946\"\nkey_file = \"{key}\"\n"
        );
        let id = parse(d, &format!("chaos_id = true\n{cluster}")).unwrap();
        assert_eq!(
            (id.name.as_str(), id.nsid, id.chaos),
            ("hq-ns2", false, true)
        );
        // An explicit name beats the node's.
        let id = parse(d, &format!("identity = \"x\"\nnsid = true\n{cluster}")).unwrap();
        assert_eq!(id.name, "x");
        let id = parse(d, "chaos_id = true\nnsid = false\n").unwrap();
        assert_eq!(id.name, host_name().unwrap());
    }

    #[test]
    fn a_bad_name_is_refused_with_its_place() {
        let dir = tempfile::tempdir().unwrap();
        let e = parse(dir.path(), "nsid = true\nidentity = \"\"\n").unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].contains("m.toml:4:12: server.identity: must be 1 to 64"),
            "{e:?}"
        );
    }

    #[test]
    fn the_host_name_reads() {
        let name = host_name().unwrap();
        assert!(!name.is_empty() && name.len() <= MAX_IDENTITY, "{name}");
    }
}
