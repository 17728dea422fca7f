//! What to probe: the deduplicated set of (address, check) pairs built from a [`Config`].
//!
//! A [`ProbeKey`] is one socket address plus one check definition. Several services that share
//! a link address and the same check share one key and so one probe. The port in the key is
//! already resolved: the check's `port`, else (LVS real servers) the real server's port, else
//! the kind's well-known port (80 http, 443 https, 53 dns; exec probes get the port only as
//! an environment value).

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use crate::config::{Check, CheckKind, Config};

use super::HealthError;

/// One probe: an address and the check run against it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProbeKey {
    pub addr: SocketAddr,
    pub check: Arc<Check>,
}

impl ProbeKey {
    /// The key for a DNS service's link address checked with the service's check.
    pub fn for_service(ip: IpAddr, check: &Check) -> Result<ProbeKey, HealthError> {
        let port = check
            .port
            .or_else(|| default_port(&check.kind))
            .ok_or(HealthError::NoPort { addr: ip })?;
        Ok(ProbeKey {
            addr: SocketAddr::new(ip, port),
            check: Arc::new(check.clone()),
        })
    }

    /// The key for an LVS real server: the check's port, else the real server's own port.
    pub fn for_real(addr: SocketAddr, check: &Check) -> ProbeKey {
        let port = check.port.unwrap_or(addr.port());
        ProbeKey {
            addr: SocketAddr::new(addr.ip(), port),
            check: Arc::new(check.clone()),
        }
    }

    /// A stable name for the state file: kind, address and a fingerprint of what the check
    /// asks (two http checks of one address with different paths differ in it). Timing
    /// (interval, timeout, rise, fall) is not part of it: retuning a check keeps its state.
    pub fn id(&self) -> String {
        let mut out = String::new();
        self.write_id(&mut out);
        out
    }

    /// [`ProbeKey::id`] into `out` (cleared first): no allocation once `out` is large enough,
    /// for code that looks up every target's id on every pass.
    pub fn write_id(&self, out: &mut String) {
        use std::fmt::Write;
        /// FNV-1a over what is written: the check kind's debug form, stable for a given build
        /// and configuration.
        struct Fnv(u32);
        impl Write for Fnv {
            fn write_str(&mut self, s: &str) -> std::fmt::Result {
                for b in s.bytes() {
                    self.0 = (self.0 ^ u32::from(b)).wrapping_mul(0x0100_0193);
                }
                Ok(())
            }
        }
        let mut h = Fnv(0x811c_9dc5);
        // Neither writer can fail: both always return Ok.
        let hashed = write!(h, "{:?}", self.check.kind);
        out.clear();
        let written = write!(out, "{} {} {:08x}", self.kind_name(), self.addr, h.0);
        debug_assert!(hashed.is_ok() && written.is_ok());
    }

    /// A short name of the check kind for logs.
    pub fn kind_name(&self) -> &'static str {
        kind_name(&self.check.kind)
    }
}

impl std::fmt::Display for ProbeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind_name(), self.addr)
    }
}

pub fn kind_name(kind: &CheckKind) -> &'static str {
    match kind {
        CheckKind::Tcp => "tcp",
        CheckKind::Http { https: false, .. } => "http",
        CheckKind::Http { https: true, .. } => "https",
        CheckKind::Dns { .. } => "dns",
        CheckKind::Exec { .. } => "exec",
    }
}

fn default_port(kind: &CheckKind) -> Option<u16> {
    match kind {
        CheckKind::Tcp => None,
        CheckKind::Http { https: false, .. } => Some(80),
        CheckKind::Http { https: true, .. } => Some(443),
        CheckKind::Dns { .. } => Some(53),
        CheckKind::Exec { .. } => Some(0),
    }
}

/// The deduplicated probe set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetSet {
    keys: BTreeSet<ProbeKey>,
}

impl TargetSet {
    pub fn new() -> Self {
        TargetSet::default()
    }

    /// Every service link address with the service's check, and every LVS real server with
    /// its virtual service's check. Services and LVS services without a check add nothing
    /// (their targets count as up).
    pub fn from_config(config: &Config) -> Result<TargetSet, HealthError> {
        let mut set = TargetSet::new();
        for service in config.services.values() {
            let Some(check) = &service.check else {
                continue;
            };
            for site_name in &service.sites {
                let Some(site) = config.sites.get(site_name) else {
                    continue;
                };
                for ip in site.links.values().flatten() {
                    set.insert(ProbeKey::for_service(*ip, check)?);
                }
            }
            // Sites named only in topology routes are probed too.
            for route in &service.routes {
                for site in route.sites.iter().filter_map(|s| config.sites.get(s)) {
                    for ip in site.links.values().flatten() {
                        set.insert(ProbeKey::for_service(*ip, check)?);
                    }
                }
            }
        }
        if let Some(lvs) = &config.lvs {
            for vs in &lvs.services {
                let Some(check) = &vs.check else { continue };
                for real in &vs.reals {
                    set.insert(ProbeKey::for_real(real.addr, check));
                }
            }
        }
        Ok(set)
    }

    /// Adds a key; returns false if it was already there.
    pub fn insert(&mut self, key: ProbeKey) -> bool {
        self.keys.insert(key)
    }

    pub fn contains(&self, key: &ProbeKey) -> bool {
        self.keys.contains(key)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &ProbeKey> {
        self.keys.iter()
    }
}

impl FromIterator<ProbeKey> for TargetSet {
    fn from_iter<I: IntoIterator<Item = ProbeKey>>(iter: I) -> Self {
        TargetSet {
            keys: iter.into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StartState;
    use std::time::Duration;

    pub(crate) fn tcp(port: Option<u16>) -> Check {
        Check {
            kind: CheckKind::Tcp,
            port,
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(500),
            rise: 2,
            fall: 2,
            start: StartState::Down,
        }
    }

    #[test]
    fn ids_are_the_state_files_names_and_reuse_the_buffer() {
        let key = ProbeKey::for_real("192.0.2.7:8080".parse().unwrap(), &tcp(None));
        // The name state files hold: FNV-1a 32 over the kind's debug form.
        let mut h: u32 = 0x811c_9dc5;
        for b in format!("{:?}", key.check.kind).bytes() {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
        assert_eq!(key.id(), format!("tcp 192.0.2.7:8080 {h:08x}"));
        let mut buf = String::from("left over from another key, longer than an id");
        let cap = buf.capacity();
        key.write_id(&mut buf);
        assert_eq!((buf.as_str(), buf.capacity()), (key.id().as_str(), cap));
    }

    #[test]
    fn shared_address_and_check_dedupe() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let mut set = TargetSet::new();
        assert!(set.insert(ProbeKey::for_service(ip, &tcp(Some(80))).unwrap()));
        assert!(!set.insert(ProbeKey::for_service(ip, &tcp(Some(80))).unwrap()));
        // Same address, different check: a second probe.
        assert!(set.insert(ProbeKey::for_service(ip, &tcp(Some(443))).unwrap()));
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn ports_resolve() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(matches!(
            ProbeKey::for_service(ip, &tcp(None)),
            Err(HealthError::NoPort { .. })
        ));
        let real: SocketAddr = "10.0.0.1:8080".parse().unwrap();
        assert_eq!(ProbeKey::for_real(real, &tcp(None)).addr.port(), 8080);
        assert_eq!(ProbeKey::for_real(real, &tcp(Some(81))).addr.port(), 81);
        let mut https = tcp(None);
        https.kind = CheckKind::Http {
            https: true,
            method: crate::config::HttpMethod::Get,
            path: "/".into(),
            host: None,
            expect: vec![200],
            body: None,
            tls_verify: true,
        };
        assert_eq!(ProbeKey::for_service(ip, &https).unwrap().addr.port(), 443);
    }
}
