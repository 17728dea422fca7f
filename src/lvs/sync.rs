//! The kernel's connection synchronisation daemons from `[lvs] sync`: which to start and stop
//! so that the running ones match the configuration. A pure plan, like [`super::diff()`]:
//! a daemon that already runs with the wanted settings is adopted untouched (a restart changes
//! nothing); one with other settings is stopped and started again (the kernel has no edit);
//! daemons are only stopped when this process configured sync before (`owned`), so daemons an
//! operator started by hand are left alone while `sync` is absent from the configuration.

use std::fmt;

use crate::config::{LvsSync, SyncRole};

use super::model::{Daemon, DaemonState};

/// One change to the sync daemons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncOp {
    Start(Daemon),
    Stop(DaemonState),
}

impl fmt::Display for SyncOp {
    /// ipvsadm syntax: `--start-daemon master --mcast-interface eth1 --syncid 1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncOp::Start(d) => {
                write!(
                    f,
                    "--start-daemon {} --mcast-interface {} --syncid {}",
                    state_name(d.state),
                    d.ifname,
                    d.sync_id
                )?;
                if let Some(g) = d.group {
                    write!(f, " --mcast-group {g}")?;
                }
                if let Some(p) = d.port {
                    write!(f, " --mcast-port {p}")?;
                }
                if let Some(t) = d.ttl {
                    write!(f, " --mcast-ttl {t}")?;
                }
                if let Some(m) = d.maxlen {
                    write!(f, " --sync-maxlen {m}")?;
                }
                Ok(())
            }
            SyncOp::Stop(s) => write!(f, "--stop-daemon {}", state_name(*s)),
        }
    }
}

pub fn state_name(s: DaemonState) -> &'static str {
    match s {
        DaemonState::Master => "master",
        DaemonState::Backup => "backup",
    }
}

/// The daemons a sync configuration asks for.
pub fn wanted(sync: &LvsSync) -> Vec<Daemon> {
    let states: &[DaemonState] = match sync.role {
        SyncRole::Master => &[DaemonState::Master],
        SyncRole::Backup => &[DaemonState::Backup],
        SyncRole::Both => &[DaemonState::Master, DaemonState::Backup],
    };
    states
        .iter()
        .map(|&state| Daemon {
            state,
            ifname: sync.interface.clone(),
            sync_id: sync.syncid,
            maxlen: sync.maxlen,
            group: sync.group,
            port: sync.port,
            ttl: sync.ttl,
        })
        .collect()
}

/// Whether a running daemon matches a wanted one. The kernel reports its defaults (group
/// 224.0.0.81, port 8848, its own maxlen and ttl) where the configuration leaves a setting
/// out, so only settings the configuration gives are compared.
fn matches(want: &Daemon, have: &Daemon) -> bool {
    fn same<T: PartialEq>(w: &Option<T>, h: &Option<T>) -> bool {
        w.is_none() || w == h
    }
    want.state == have.state
        && want.ifname == have.ifname
        && want.sync_id == have.sync_id
        && same(&want.group, &have.group)
        && same(&want.port, &have.port)
        && same(&want.ttl, &have.ttl)
        && same(&want.maxlen, &have.maxlen)
}

/// The operations that bring the running daemons (`have`) to the configuration.
pub fn plan(want: Option<&LvsSync>, have: &[Daemon], owned: bool) -> Vec<SyncOp> {
    let Some(sync) = want else {
        return if owned {
            have.iter().map(|d| SyncOp::Stop(d.state)).collect()
        } else {
            Vec::new()
        };
    };
    let wanted = wanted(sync);
    let mut ops = Vec::new();
    for state in [DaemonState::Master, DaemonState::Backup] {
        let w = wanted.iter().find(|d| d.state == state);
        let h = have.iter().find(|d| d.state == state);
        match (w, h) {
            (Some(w), Some(h)) if matches(w, h) => {}
            (Some(w), Some(_)) => {
                ops.push(SyncOp::Stop(state));
                ops.push(SyncOp::Start(w.clone()));
            }
            (Some(w), None) => ops.push(SyncOp::Start(w.clone())),
            (None, Some(_)) => ops.push(SyncOp::Stop(state)),
            (None, None) => {}
        }
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(role: SyncRole) -> LvsSync {
        LvsSync {
            role,
            interface: "eth1".into(),
            syncid: 7,
            group: None,
            port: None,
            ttl: None,
            maxlen: None,
        }
    }

    fn running(state: DaemonState, ifname: &str, id: u32) -> Daemon {
        Daemon {
            state,
            ifname: ifname.into(),
            sync_id: id,
            maxlen: Some(1472),
            group: Some("224.0.0.81".parse().unwrap()),
            port: Some(8848),
            ttl: Some(1),
        }
    }

    #[test]
    fn starts_what_is_missing_and_adopts_what_matches() {
        let both = cfg(SyncRole::Both);
        let ops = plan(Some(&both), &[], false);
        assert_eq!(ops.len(), 2);
        assert_eq!(
            ops[0].to_string(),
            "--start-daemon master --mcast-interface eth1 --syncid 7"
        );
        let have = [
            running(DaemonState::Master, "eth1", 7),
            running(DaemonState::Backup, "eth1", 7),
        ];
        assert!(
            plan(Some(&both), &have, true).is_empty(),
            "kernel defaults adopted"
        );
    }

    #[test]
    fn changed_settings_restart_and_dropped_roles_stop() {
        let have = [
            running(DaemonState::Master, "eth0", 7),
            running(DaemonState::Backup, "eth1", 7),
        ];
        let ops = plan(Some(&cfg(SyncRole::Master)), &have, true);
        assert_eq!(
            ops,
            vec![
                SyncOp::Stop(DaemonState::Master),
                SyncOp::Start(wanted(&cfg(SyncRole::Master))[0].clone()),
                SyncOp::Stop(DaemonState::Backup),
            ]
        );
        let mut port = cfg(SyncRole::Backup);
        port.port = Some(9000);
        let ops = plan(Some(&port), &have[1..], true);
        assert_eq!(ops.len(), 2, "{ops:?}");
    }

    #[test]
    fn daemons_started_by_hand_are_left_alone_unless_owned() {
        let have = [running(DaemonState::Backup, "eth1", 3)];
        assert!(plan(None, &have, false).is_empty());
        assert_eq!(
            plan(None, &have, true),
            vec![SyncOp::Stop(DaemonState::Backup)]
        );
    }
}
