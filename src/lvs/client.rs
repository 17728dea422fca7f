//! [`Ipvs`]: the typed IPVS client. Every call is one generic netlink request (or dump) on a
//! blocking socket; kernel errors come back as [`LvsError`] naming the operation and errno.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use crate::config::VirtualKey;

use super::LvsError;
use super::codec::consts::*;
use super::codec::{self, AttrWriter, NLM_F_ACK, NLM_F_DUMP, ipvs};
use super::model::*;
use super::netlink::{GenlSocket, NlError};

/// The operation a kernel error belongs to, e.g. `add service TCP 10.0.0.1:80`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub what: &'static str,
    pub target: String,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.target.is_empty() {
            f.write_str(self.what)
        } else {
            write!(f, "{} {}", self.what, self.target)
        }
    }
}

/// `TCP 10.0.0.1:80`, `UDP [2001:db8::1]:53`, `FWM 7` (IPv6: `FWM 7 IPv6`).
pub fn key_display(key: &VirtualKey) -> String {
    match key {
        VirtualKey::Addr { protocol, addr } => {
            let p = match protocol {
                crate::config::Protocol::Tcp => "TCP",
                crate::config::Protocol::Udp => "UDP",
                crate::config::Protocol::Sctp => "SCTP",
            };
            format!("{p} {addr}")
        }
        VirtualKey::Fwmark { fwmark, ipv6 } => {
            format!("FWM {fwmark}{}", if *ipv6 { " IPv6" } else { "" })
        }
    }
}

fn op(what: &'static str, target: String) -> Operation {
    Operation { what, target }
}

/// A connection to the kernel's IPVS table in the caller's network namespace.
pub struct Ipvs {
    sock: GenlSocket,
    family: u16,
}

impl Ipvs {
    /// Open the socket, resolve the `IPVS` family and read its info, so that a missing module
    /// or a missing CAP_NET_ADMIN shows up here with a clear error.
    pub fn open() -> Result<Self, LvsError> {
        let mut sock = GenlSocket::open(Duration::from_secs(10))
            .map_err(|e| LvsError::Socket { cause: Box::new(e) })?;
        let family = match sock.resolve_family(IPVS_GENL_NAME) {
            Ok(id) => id,
            Err(NlError::Errno(libc::ENOENT)) => return Err(LvsError::NotAvailable),
            Err(e) => {
                return Err(LvsError::Socket { cause: Box::new(e) });
            }
        };
        let mut me = Self { sock, family };
        me.info()?;
        Ok(me)
    }

    fn call(
        &mut self,
        cmd: u8,
        dump: bool,
        attrs: &[u8],
        operation: impl FnOnce() -> Operation,
        each: &mut dyn FnMut(&[u8]) -> Result<(), codec::DecodeError>,
    ) -> Result<(), LvsError> {
        let seq = self.sock.next_seq();
        let flags = if dump { NLM_F_DUMP } else { NLM_F_ACK };
        let req = codec::request(self.family, cmd, IPVS_GENL_VERSION, flags, seq, attrs);
        self.sock
            .exchange(&req, seq, dump, &mut |p| {
                let (_, a) = codec::genl_split(p)?;
                each(a)
            })
            .map_err(|e| LvsError::from_nl(e, operation()))
    }

    fn simple(&mut self, cmd: u8, attrs: &[u8], operation: Operation) -> Result<(), LvsError> {
        self.call(cmd, false, attrs, || operation, &mut |_| Ok(()))
    }

    pub fn info(&mut self) -> Result<Info, LvsError> {
        let mut out = None;
        self.call(
            CMD_GET_INFO,
            false,
            &[],
            || op("get info", String::new()),
            &mut |a| {
                out = Some(ipvs::parse_info(a)?);
                Ok(())
            },
        )?;
        out.ok_or_else(|| LvsError::Empty(op("get info", String::new())))
    }

    /// Every virtual service, in the kernel's order.
    pub fn services(&mut self) -> Result<Vec<Service>, LvsError> {
        let mut out = Vec::new();
        self.call(
            CMD_GET_SERVICE,
            true,
            &[],
            || op("dump services", String::new()),
            &mut |a| {
                out.push(ipvs::parse_service(a)?);
                Ok(())
            },
        )?;
        Ok(out)
    }

    /// One service, or None when the kernel has no such service.
    pub fn service(&mut self, key: &VirtualKey) -> Result<Option<Service>, LvsError> {
        let mut w = AttrWriter::new();
        ipvs::service_key(&mut w, key);
        let mut out = None;
        let r = self.call(
            CMD_GET_SERVICE,
            false,
            &w.buf,
            || op("get service", key_display(key)),
            &mut |a| {
                out = Some(ipvs::parse_service(a)?);
                Ok(())
            },
        );
        match r {
            Ok(()) => Ok(out),
            Err(e) if e.errno() == Some(libc::ESRCH) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The real servers of one service (an unknown service gives an empty list).
    pub fn dests(&mut self, key: &VirtualKey) -> Result<Vec<Dest>, LvsError> {
        let mut w = AttrWriter::new();
        ipvs::service_key(&mut w, key);
        let af = key_af(key);
        let mut out = Vec::new();
        self.call(
            CMD_GET_DEST,
            true,
            &w.buf,
            || op("dump real servers of", key_display(key)),
            &mut |a| {
                out.push(ipvs::parse_dest(a, af)?);
                Ok(())
            },
        )?;
        Ok(out)
    }

    /// The whole table: services, then the real servers of each.
    pub fn dump(&mut self) -> Result<Table, LvsError> {
        let services = self.services()?;
        let mut t = Table::default();
        for s in services {
            let d = self.dests(&s.conf.key)?;
            t.services.push((s, d));
        }
        Ok(t)
    }

    pub fn add_service(&mut self, s: &ServiceConf) -> Result<(), LvsError> {
        self.put_service(CMD_NEW_SERVICE, "add service", s)
    }

    pub fn edit_service(&mut self, s: &ServiceConf) -> Result<(), LvsError> {
        self.put_service(CMD_SET_SERVICE, "edit service", s)
    }

    fn put_service(
        &mut self,
        cmd: u8,
        what: &'static str,
        s: &ServiceConf,
    ) -> Result<(), LvsError> {
        let mut w = AttrWriter::new();
        ipvs::service_full(&mut w, s);
        let operation = op(what, key_display(&s.key));
        match self.simple(cmd, &w.buf, operation.clone()) {
            Err(e) if e.errno() == Some(libc::ENOENT) => Err(LvsError::UnknownScheduler {
                op: operation,
                name: s.scheduler.clone(),
            }),
            r => r,
        }
    }

    pub fn delete_service(&mut self, key: &VirtualKey) -> Result<(), LvsError> {
        let mut w = AttrWriter::new();
        ipvs::service_key(&mut w, key);
        self.simple(
            CMD_DEL_SERVICE,
            &w.buf,
            op("delete service", key_display(key)),
        )
    }

    pub fn add_dest(&mut self, key: &VirtualKey, d: &DestConf) -> Result<(), LvsError> {
        self.put_dest(CMD_NEW_DEST, "add real server", key, d)
    }

    pub fn edit_dest(&mut self, key: &VirtualKey, d: &DestConf) -> Result<(), LvsError> {
        self.put_dest(CMD_SET_DEST, "edit real server", key, d)
    }

    fn put_dest(
        &mut self,
        cmd: u8,
        what: &'static str,
        key: &VirtualKey,
        d: &DestConf,
    ) -> Result<(), LvsError> {
        let mut w = AttrWriter::new();
        ipvs::service_key(&mut w, key);
        ipvs::dest_full(&mut w, key_af(key), d);
        let target = format!("{} of {}", d.addr, key_display(key));
        self.simple(cmd, &w.buf, op(what, target))
    }

    pub fn delete_dest(&mut self, key: &VirtualKey, addr: SocketAddr) -> Result<(), LvsError> {
        let mut w = AttrWriter::new();
        ipvs::service_key(&mut w, key);
        ipvs::dest_key(&mut w, key_af(key), addr);
        let target = format!("{addr} of {}", key_display(key));
        self.simple(CMD_DEL_DEST, &w.buf, op("delete real server", target))
    }

    /// Reset the statistics of one service, or of all when `key` is None.
    pub fn zero(&mut self, key: Option<&VirtualKey>) -> Result<(), LvsError> {
        let mut w = AttrWriter::new();
        if let Some(k) = key {
            ipvs::service_key(&mut w, k);
        }
        let target = key.map(key_display).unwrap_or_else(|| "all".into());
        self.simple(CMD_ZERO, &w.buf, op("zero counters of", target))
    }

    pub fn timeouts(&mut self) -> Result<Timeouts, LvsError> {
        let mut out = None;
        self.call(
            CMD_GET_CONFIG,
            false,
            &[],
            || op("get timeouts", String::new()),
            &mut |a| {
                out = Some(ipvs::parse_timeouts(a)?);
                Ok(())
            },
        )?;
        out.ok_or_else(|| LvsError::Empty(op("get timeouts", String::new())))
    }

    /// Set the tcp / tcpfin / udp timeouts; a 0 field leaves that timeout unchanged.
    pub fn set_timeouts(&mut self, t: &Timeouts) -> Result<(), LvsError> {
        let mut w = AttrWriter::new();
        ipvs::timeouts(&mut w, t);
        let target = format!("tcp {} tcpfin {} udp {}", t.tcp, t.tcp_fin, t.udp);
        self.simple(CMD_SET_CONFIG, &w.buf, op("set timeouts", target))
    }

    /// The running sync daemons (master and/or backup).
    pub fn daemons(&mut self) -> Result<Vec<Daemon>, LvsError> {
        let mut out = Vec::new();
        self.call(
            CMD_GET_DAEMON,
            true,
            &[],
            || op("dump sync daemons", String::new()),
            &mut |a| {
                out.push(ipvs::parse_daemon(a)?);
                Ok(())
            },
        )?;
        Ok(out)
    }

    pub fn start_daemon(&mut self, d: &Daemon) -> Result<(), LvsError> {
        let mut w = AttrWriter::new();
        ipvs::daemon(&mut w, d);
        let target = format!("{:?} on {} id {}", d.state, d.ifname, d.sync_id);
        self.simple(CMD_NEW_DAEMON, &w.buf, op("start sync daemon", target))
    }

    pub fn stop_daemon(&mut self, state: DaemonState) -> Result<(), LvsError> {
        let mut w = AttrWriter::new();
        ipvs::daemon_state(&mut w, state);
        self.simple(
            CMD_DEL_DAEMON,
            &w.buf,
            op("stop sync daemon", format!("{state:?}")),
        )
    }
}
