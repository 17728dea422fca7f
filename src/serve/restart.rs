//! What a reload cannot apply: settings read once, when the process starts (sockets bound,
//! tasks started). A reload that changes one keeps the running value and says so.

use crate::config::Config;

/// The keys whose change between `old` and `new` needs a restart, with what changed.
pub fn needs_restart(old: &Config, new: &Config) -> Vec<&'static str> {
    let (o, n) = (&old.server, &new.server);
    let mut out = Vec::new();
    if o.listen != n.listen {
        out.push("[server] listen");
    }
    if o.udp_threads != n.udp_threads {
        out.push("[server] udp_threads");
    }
    if o.admin != n.admin {
        out.push("[server] admin");
    }
    if o.admin_token_file != n.admin_token_file {
        out.push("[server] admin_token_file");
    }
    if o.admin_conn != n.admin_conn {
        out.push("[server] admin_max_connections, admin_max_per_prefix or admin_timeout");
    }
    if old.health.state_file != new.health.state_file {
        out.push("[health] state_file");
    }
    let listen = |c: &Config| c.cluster.as_ref().map(|c| c.listen);
    if listen(old) != listen(new) {
        out.push("[cluster] listen");
    }
    let node = |c: &Config| c.cluster.as_ref().map(|c| c.node.clone());
    if node(old) != node(new) {
        out.push("[cluster] node");
    }
    out
}

/// Logs one warning per key that changed but needs a restart.
pub fn warn(old: &Config, new: &Config) {
    for key in needs_restart(old, new) {
        tracing::warn!("reload: {key} changed; the running value stays until the next restart");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(dir: &tempfile::TempDir, text: &str) -> Config {
        let zones = dir.path().join("zones");
        std::fs::create_dir_all(&zones).unwrap();
        std::fs::write(
            zones.join("t.test.zone"),
            "$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n",
        )
        .unwrap();
        crate::config::parse(text, &dir.path().join("m.toml")).unwrap()
    }

    #[test]
    fn admin_listen_and_threads_changes_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = |text: &str| cfg(&dir, text);
        let a = cfg("[server]\nadmin = \"127.0.0.1:8053\"\n");
        let b = cfg("[server]\nadmin = \"127.0.0.1:8054\"\nudp_threads = 2\n");
        assert_eq!(
            needs_restart(&a, &b),
            vec!["[server] udp_threads", "[server] admin"]
        );
        let c = cfg("[server]\nadmin = \"127.0.0.1:8053\"\nlisten = [\"127.0.0.1:53\"]\n");
        assert_eq!(needs_restart(&a, &c), vec!["[server] listen"]);
        // Settings a reload applies are not named.
        let d = cfg("[server]\nadmin = \"127.0.0.1:8053\"\ntcp_idle_timeout = \"3s\"\n");
        assert!(needs_restart(&a, &d).is_empty());
    }
}
