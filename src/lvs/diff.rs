//! `diff(desired, actual, owned) -> Plan`: the minimal list of IPVS operations that turns the
//! kernel's table into the desired one, in a safe order. A pure function.
//!
//! Rules: only services in the desired state are touched, plus services this process owned
//! before (`owned`) and that left the config, which are deleted; every other kernel service is
//! reported as unmanaged and left alone. Settings change in place (SET_SERVICE, SET_DEST),
//! never delete + add, so connection entries survive. Order: add services, edit services, add
//! and raise real servers, drain (weight 0), delete real servers, delete services. Never flush.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;

use crate::config::{Forward, Protocol, VirtualKey};

use super::codec::consts::*;
use super::desired::{Desired, DesiredService};
use super::model::{Dest, DestConf, Service, ServiceConf, Stats, Table, flag_names, key_af};

/// One IPVS change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    AddService(ServiceConf),
    EditService(ServiceConf),
    DeleteService(VirtualKey),
    AddDest {
        service: VirtualKey,
        dest: DestConf,
    },
    EditDest {
        service: VirtualKey,
        dest: DestConf,
    },
    DeleteDest {
        service: VirtualKey,
        addr: SocketAddr,
    },
}

impl Op {
    /// The service this operation belongs to.
    pub fn service(&self) -> &VirtualKey {
        match self {
            Op::AddService(s) | Op::EditService(s) => &s.key,
            Op::DeleteService(k) => k,
            Op::AddDest { service, .. }
            | Op::EditDest { service, .. }
            | Op::DeleteDest { service, .. } => service,
        }
    }
}

/// The result of a diff.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub ops: Vec<Op>,
    /// Kernel services that Meridian does not manage (left alone, reported).
    pub unmanaged: Vec<VirtualKey>,
}

/// Operations grouped by phase, concatenated in this order at the end.
#[derive(Default)]
struct Phases {
    add_svc: Vec<Op>,
    edit_svc: Vec<Op>,
    raise: Vec<Op>,
    drain: Vec<Op>,
    del_dest: Vec<Op>,
    del_svc: Vec<Op>,
}

impl Phases {
    fn into_ops(self) -> Vec<Op> {
        let mut ops = self.add_svc;
        ops.extend(self.edit_svc);
        ops.extend(self.raise);
        ops.extend(self.drain);
        ops.extend(self.del_dest);
        ops.extend(self.del_svc);
        ops
    }

    fn service(&mut self, key: &VirtualKey, w: &DesiredService, have: Option<(&Service, &[Dest])>) {
        let existing: BTreeMap<SocketAddr, &DestConf> = match have {
            None => {
                self.add_svc.push(Op::AddService(w.conf.clone()));
                BTreeMap::new()
            }
            Some((s, dests)) => {
                if s.conf != w.conf {
                    self.edit_svc.push(Op::EditService(w.conf.clone()));
                }
                dests.iter().map(|d| (d.conf.addr, &d.conf)).collect()
            }
        };
        for (addr, d) in &w.dests {
            match existing.get(addr) {
                None => self.raise.push(Op::AddDest {
                    service: *key,
                    dest: d.clone(),
                }),
                Some(cur) if *cur != d => {
                    let op = Op::EditDest {
                        service: *key,
                        dest: d.clone(),
                    };
                    if d.weight == 0 && cur.weight > 0 {
                        self.drain.push(op);
                    } else {
                        self.raise.push(op);
                    }
                }
                Some(_) => {}
            }
        }
        for addr in existing.keys() {
            if !w.dests.contains_key(addr) {
                self.del_dest.push(Op::DeleteDest {
                    service: *key,
                    addr: *addr,
                });
            }
        }
    }
}

/// Compare the desired state with the kernel's table.
pub fn diff(want: &Desired, have: &Table, owned: &BTreeSet<VirtualKey>) -> Plan {
    let actual: BTreeMap<&VirtualKey, (&Service, &[Dest])> = have
        .services
        .iter()
        .map(|(s, d)| (&s.conf.key, (s, d.as_slice())))
        .collect();
    let mut p = Phases::default();
    for (key, w) in &want.services {
        p.service(key, w, actual.get(key).copied());
    }
    let mut unmanaged = Vec::new();
    for key in actual.keys() {
        if want.services.contains_key(*key) {
            continue;
        }
        if owned.contains(*key) {
            p.del_svc.push(Op::DeleteService(**key));
        } else {
            unmanaged.push(**key);
        }
    }
    Plan {
        ops: p.into_ops(),
        unmanaged,
    }
}

/// [`diff`] restricted to the services in `keys` (all of them desired): the cheap path for a
/// health change that touches a few services out of thousands.
pub fn diff_some(want: &Desired, have: &Table, keys: &BTreeSet<VirtualKey>) -> Vec<Op> {
    let mut p = Phases::default();
    for key in keys {
        let Some(w) = want.services.get(key) else {
            continue;
        };
        let cur = have
            .services
            .iter()
            .find(|(s, _)| s.conf.key == *key)
            .map(|(s, d)| (s, d.as_slice()));
        p.service(key, w, cur);
    }
    p.into_ops()
}

/// Update a table model as the kernel does when `op` succeeds (keeps a cache current).
pub fn apply_op(table: &mut Table, op: &Op) {
    let find =
        |t: &mut Table, k: &VirtualKey| t.services.iter().position(|(s, _)| s.conf.key == *k);
    match op {
        Op::AddService(conf) => table.services.push((
            Service {
                conf: conf.clone(),
                pe_name: None,
                stats: Stats::default(),
            },
            Vec::new(),
        )),
        Op::EditService(conf) => {
            if let Some(i) = find(table, &conf.key) {
                table.services[i].0.conf = conf.clone();
            }
        }
        Op::DeleteService(k) => table.services.retain(|(s, _)| s.conf.key != *k),
        Op::AddDest { service, dest } => {
            if let Some(i) = find(table, service) {
                table.services[i].1.push(Dest {
                    conf: dest.clone(),
                    active_conns: 0,
                    inactive_conns: 0,
                    persist_conns: 0,
                    stats: Stats::default(),
                });
            }
        }
        Op::EditDest { service, dest } => {
            if let Some(i) = find(table, service)
                && let Some(d) = table.services[i]
                    .1
                    .iter_mut()
                    .find(|d| d.conf.addr == dest.addr)
            {
                d.conf = dest.clone();
            }
        }
        Op::DeleteDest { service, addr } => {
            if let Some(i) = find(table, service) {
                table.services[i].1.retain(|d| d.conf.addr != *addr);
            }
        }
    }
}

/// The service in ipvsadm syntax: `-t 10.0.0.1:80`, `-f 7 -6`, `--sctp-service ...`.
pub fn ipvsadm_key(key: &VirtualKey) -> String {
    match key {
        VirtualKey::Addr { protocol, addr } => {
            let p = match protocol {
                Protocol::Tcp => "-t",
                Protocol::Udp => "-u",
                Protocol::Sctp => "--sctp-service",
            };
            format!("{p} {addr}")
        }
        VirtualKey::Fwmark { fwmark, ipv6 } => {
            format!("-f {fwmark}{}", if *ipv6 { " -6" } else { "" })
        }
    }
}

fn service_args(f: &mut fmt::Formatter<'_>, s: &ServiceConf) -> fmt::Result {
    write!(f, "{} -s {}", ipvsadm_key(&s.key), s.scheduler)?;
    if s.flags & SVC_F_PERSISTENT != 0 {
        write!(f, " -p {}", s.timeout)?;
        if key_af(&s.key) == AF_INET6 {
            if s.netmask != 128 {
                write!(f, " -M {}", s.netmask)?;
            }
        } else if s.netmask != u32::MAX {
            write!(f, " -M {}", std::net::Ipv4Addr::from(s.netmask))?;
        }
    }
    if s.flags & SVC_F_ONEPACKET != 0 {
        write!(f, " -o")?;
    }
    let names = flag_names(s.flags, &s.scheduler);
    if !names.is_empty() {
        write!(f, " -b {}", names.join(","))?;
    }
    Ok(())
}

fn dest_args(f: &mut fmt::Formatter<'_>, k: &VirtualKey, d: &DestConf) -> fmt::Result {
    let m = match d.forward {
        Forward::Dr => "-g",
        Forward::Nat => "-m",
        Forward::Tun => "-i",
    };
    write!(f, "{} -r {} {m} -w {}", ipvsadm_key(k), d.addr, d.weight)?;
    if d.u_threshold != 0 || d.l_threshold != 0 {
        write!(f, " -x {} -y {}", d.u_threshold, d.l_threshold)?;
    }
    Ok(())
}

/// ipvsadm command syntax, e.g. `-a -t 10.0.0.1:80 -r 10.0.0.2:80 -g -w 5`.
impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::AddService(s) => {
                f.write_str("-A ")?;
                service_args(f, s)
            }
            Op::EditService(s) => {
                f.write_str("-E ")?;
                service_args(f, s)
            }
            Op::DeleteService(k) => write!(f, "-D {}", ipvsadm_key(k)),
            Op::AddDest { service, dest } => {
                f.write_str("-a ")?;
                dest_args(f, service, dest)
            }
            Op::EditDest { service, dest } => {
                f.write_str("-e ")?;
                dest_args(f, service, dest)
            }
            Op::DeleteDest { service, addr } => {
                write!(f, "-d {} -r {addr}", ipvsadm_key(service))
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
