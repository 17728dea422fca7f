//! The host side of `realserver`: read what the host has (links and addresses over
//! rtnetlink, sysctls under `/proc/sys`), apply changes, and keep the record of what `up`
//! changed in a small JSON file (`/run/meridian/realserver.json` by default: on tmpfs, so it
//! goes with the changes themselves at a reboot).

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::rtnl::Rtnl;
use super::{Change, DevAddr, Record, Seen, sysctls_read};
use crate::lvs::netlink::NlError;

pub const DEFAULT_RECORD: &str = "/run/meridian/realserver.json";

/// Why the host could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("rtnetlink: {0}")]
    Netlink(#[from] NlError),
    #[error("{change}: {cause}")]
    Change { change: String, cause: String },
    #[error("{path}: {cause}")]
    File {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path}: not a record written by `meridian realserver up`: {cause}")]
    Record { path: PathBuf, cause: String },
}

fn sysctl_path(name: &str) -> PathBuf {
    Path::new("/proc/sys").join(name.replace('.', "/"))
}

/// A sysctl's value, None when it does not exist (a device not created yet).
pub fn read_sysctl(name: &str) -> Option<String> {
    std::fs::read_to_string(sysctl_path(name))
        .ok()
        .map(|v| v.trim().to_owned())
}

/// The host as rtnetlink and /proc/sys show it, and its own (non-loopback) addresses.
pub fn observe(rt: &mut Rtnl) -> Result<(Seen, BTreeSet<IpAddr>), HostError> {
    let links = rt.links()?;
    let name_of = |index: u32| {
        links
            .values()
            .find(|l| l.index == index)
            .map(|l| l.name.clone())
    };
    let mut seen = Seen {
        links: links.values().map(|l| (l.name.clone(), l.up)).collect(),
        ..Seen::default()
    };
    let mut local = BTreeSet::new();
    for (index, ip) in rt.addrs()? {
        let Some(dev) = name_of(index) else { continue };
        if dev != super::LOOPBACK_DEV && dev != super::TUNNEL_DEV {
            local.insert(ip);
        }
        seen.addrs.insert(DevAddr { dev, ip });
    }
    for name in sysctls_read() {
        if let Some(v) = read_sysctl(&name) {
            seen.sysctls.insert(name, v);
        }
    }
    Ok((seen, local))
}

/// Apply changes in order; stops at the first failure (the caller records what succeeded).
pub fn apply(rt: &mut Rtnl, changes: &[Change]) -> Result<(), (usize, HostError)> {
    for (i, c) in changes.iter().enumerate() {
        apply_one(rt, c).map_err(|cause| {
            (
                i,
                HostError::Change {
                    change: c.to_string(),
                    cause,
                },
            )
        })?;
    }
    Ok(())
}

fn index(rt: &mut Rtnl, dev: &str) -> Result<u32, String> {
    let links = rt.links().map_err(|e| e.to_string())?;
    links
        .get(dev)
        .map(|l| l.index)
        .ok_or_else(|| format!("no device {dev}"))
}

fn apply_one(rt: &mut Rtnl, c: &Change) -> Result<(), String> {
    let nl = |e: NlError| match e {
        NlError::Errno(n) => std::io::Error::from_raw_os_error(n).to_string(),
        e => e.to_string(),
    };
    match c {
        Change::CreateTunnel(d) => rt.create_ipip(d).map_err(nl),
        Change::LinkUp(d) => {
            let i = index(rt, d)?;
            rt.set_up(i, true).map_err(nl)
        }
        Change::LinkDown(d) => {
            let i = index(rt, d)?;
            rt.set_up(i, false).map_err(nl)
        }
        Change::AddAddr(a) => {
            let i = index(rt, &a.dev)?;
            match rt.add_addr(i, a.ip) {
                Err(NlError::Errno(libc::EEXIST)) => Ok(()),
                r => r.map_err(nl),
            }
        }
        Change::DelAddr(a) => {
            let i = index(rt, &a.dev)?;
            match rt.del_addr(i, a.ip) {
                Err(NlError::Errno(libc::EADDRNOTAVAIL)) => Ok(()),
                r => r.map_err(nl),
            }
        }
        Change::Sysctl { name, to, .. } => {
            std::fs::write(sysctl_path(name), format!("{to}\n")).map_err(|e| e.to_string())
        }
    }
}

/// The record at `path` (an absent file is an empty record).
pub fn load_record(path: &Path) -> Result<Record, HostError> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| HostError::Record {
            path: path.to_path_buf(),
            cause: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Record::default()),
        Err(cause) => Err(HostError::File {
            path: path.to_path_buf(),
            cause,
        }),
    }
}

/// Write the record (temporary file + rename), or remove it when it holds nothing.
pub fn save_record(path: &Path, r: &Record) -> Result<(), HostError> {
    let file_err = |cause| HostError::File {
        path: path.to_path_buf(),
        cause,
    };
    if *r == Record::default() {
        return match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(file_err(e)),
            _ => Ok(()),
        };
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(file_err)?;
    }
    let tmp = path.with_extension("tmp");
    let text = serde_json::to_string_pretty(r).map_err(|e| HostError::Record {
        path: path.to_path_buf(),
        cause: e.to_string(),
    })?;
    std::fs::write(&tmp, text).map_err(file_err)?;
    std::fs::rename(&tmp, path).map_err(file_err)
}
