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
    if o.udp_receive_buffer != n.udp_receive_buffer {
        out.push("[server] udp_receive_buffer");
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
    if o.run_as != n.run_as {
        out.push("[server] user or group");
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
    match (&old.anycast, &new.anycast) {
        (None, None) => {}
        (Some(_), None) | (None, Some(_)) => out.push("[anycast] (added or removed)"),
        (Some(o), Some(n)) => {
            if o.backend != n.backend {
                out.push(
                    "[anycast] backend, bird_socket or exabgp_watchdog (the whole [anycast] table)",
                );
            }
            if o.bfd != n.bfd {
                out.push("[anycast] bfd_listen, bfd_interval or bfd_multiplier (the whole [anycast] table)");
            }
        }
    }
    out
}

/// Whether a reload can apply `new`'s `[anycast]` to the running anycast task: the same
/// backend and BFD responder (prefixes, conditions, thresholds, demotions, maintenance
/// files and the drain period are applied).
pub fn anycast_reloadable(old: &Config, new: &Config) -> bool {
    match (&old.anycast, &new.anycast) {
        (Some(o), Some(n)) => o.backend == n.backend && o.bfd == n.bfd,
        _ => false,
    }
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
        let b = cfg(
            "[server]\nadmin = \"127.0.0.1:8054\"\nudp_threads = 2\nudp_receive_buffer = 65536\n",
        );
        assert_eq!(
            needs_restart(&a, &b),
            vec![
                "[server] udp_threads",
                "[server] udp_receive_buffer",
                "[server] admin"
            ]
        );
        let c = cfg("[server]\nadmin = \"127.0.0.1:8053\"\nlisten = [\"127.0.0.1:53\"]\n");
        assert_eq!(needs_restart(&a, &c), vec!["[server] listen"]);
        // Settings a reload applies are not named.
        let d = cfg("[server]\nadmin = \"127.0.0.1:8053\"\ntcp_idle_timeout = \"3s\"\n");
        assert!(needs_restart(&a, &d).is_empty());
    }

    #[test]
    fn a_user_change_needs_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let a = cfg(&dir, "[server]\n");
        let b = cfg(&dir, "[server]\nuser = \"nobody\"\n");
        assert_eq!(needs_restart(&a, &b), vec!["[server] user or group"]);
        let c = cfg(&dir, "[server]\nuser = \"nobody\"\ngroup = \"root\"\n");
        assert_eq!(needs_restart(&b, &c), vec!["[server] user or group"]);
    }

    #[test]
    fn anycast_prefixes_reload_but_the_backend_and_bfd_need_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = |text: &str| cfg(&dir, text);
        let any = |extra: &str, prefix: &str| {
            format!(
                "[anycast]\nbackend = \"exabgp\"\n{extra}\n[[anycast.prefix]]\nprefix = \"{prefix}\"\nwhen = [\"dns\"]\n"
            )
        };
        let a = cfg(&any("", "192.0.2.53/32"));
        let b = cfg(&any("drain = \"9s\"", "2001:db8:53::/48"));
        assert!(needs_restart(&a, &b).is_empty());
        assert!(anycast_reloadable(&a, &b));
        let c = cfg(&any("exabgp_watchdog = \"3s\"", "192.0.2.53/32"));
        assert_eq!(
            needs_restart(&a, &c),
            vec!["[anycast] backend, bird_socket or exabgp_watchdog (the whole [anycast] table)"]
        );
        assert!(!anycast_reloadable(&a, &c));
        let d = cfg(&any("bfd_listen = \"169.254.53.2\"", "192.0.2.53/32"));
        assert!(needs_restart(&a, &d)[0].starts_with("[anycast] bfd_listen"));
        let none = cfg("");
        assert_eq!(
            needs_restart(&none, &a),
            vec!["[anycast] (added or removed)"]
        );
        assert!(!anycast_reloadable(&none, &a));
    }
}
