//! The read side: an immutable [`HealthView`] snapshot that DNS answering and the LVS
//! reconciler read without locks.
//!
//! A view holds the probe index (which key sits at which slot; shared between views until the
//! target set changes), one [`ProbeStatus`] per slot, the overrides, and a generation number that
//! grows by one with every published view. Readers that look a key up once (when they build
//! their own snapshot) may keep the slot from [`HealthView::slot`] and read
//! [`HealthView::status_at`] while [`HealthView::same_index`] holds.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::overrides::Overrides;
use super::targets::ProbeKey;
use super::verdict::Status;

/// Key -> slot; rebuilt only when the target set changes.
///
/// It also keeps when each probe last started (Unix milliseconds, 0 for never): written by
/// the scheduler after every result, read by the status document. That changes with every
/// probe, so it is not part of the views, which are published only on state changes.
#[derive(Debug, Default)]
pub struct ProbeIndex {
    slots: HashMap<ProbeKey, usize>,
    by_ip: HashMap<IpAddr, Vec<usize>>,
    keys: Vec<ProbeKey>,
    last_probe_ms: Vec<AtomicU64>,
}

impl ProbeIndex {
    pub fn new(keys: Vec<ProbeKey>) -> Self {
        let slots = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.clone(), i))
            .collect();
        let mut by_ip: HashMap<IpAddr, Vec<usize>> = HashMap::new();
        for (i, k) in keys.iter().enumerate() {
            by_ip.entry(k.addr.ip()).or_default().push(i);
        }
        let last_probe_ms = keys.iter().map(|_| AtomicU64::new(0)).collect();
        ProbeIndex {
            slots,
            by_ip,
            keys,
            last_probe_ms,
        }
    }

    /// Notes that the probe at `slot` started at `unix_ms`.
    pub fn record_probe(&self, slot: usize, unix_ms: u64) {
        if let Some(a) = self.last_probe_ms.get(slot) {
            a.store(unix_ms, Ordering::Relaxed);
        }
    }

    /// When the probe at `slot` last started (Unix milliseconds); None before its first.
    pub fn last_probe_ms(&self, slot: usize) -> Option<u64> {
        self.last_probe_ms
            .get(slot)
            .map(|a| a.load(Ordering::Relaxed))
            .filter(|&ms| ms != 0)
    }

    pub fn slot(&self, key: &ProbeKey) -> Option<usize> {
        self.slots.get(key).copied()
    }

    pub fn keys(&self) -> &[ProbeKey] {
        &self.keys
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// The state of one probe as readers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeStatus {
    pub state: Status,
    /// When the state last changed (None: initial state).
    pub since: Option<Instant>,
    /// The result that caused the last change ("connect refused", "status 500", ...).
    pub reason: Arc<str>,
}

impl ProbeStatus {
    pub fn initial(state: Status) -> Self {
        ProbeStatus {
            state,
            since: None,
            reason: Arc::from(match state {
                Status::Up => "start state up",
                _ => "no result yet",
            }),
        }
    }
}

/// One immutable snapshot of every probe's state plus the overrides.
#[derive(Debug)]
pub struct HealthView {
    generation: u64,
    index: Arc<ProbeIndex>,
    statuses: Vec<ProbeStatus>,
    overrides: Arc<Overrides>,
}

impl HealthView {
    pub(crate) fn new(
        generation: u64,
        index: Arc<ProbeIndex>,
        statuses: Vec<ProbeStatus>,
        overrides: Arc<Overrides>,
    ) -> Self {
        HealthView {
            generation,
            index,
            statuses,
            overrides,
        }
    }

    /// An empty view (generation 0): nothing probed, no overrides.
    pub fn empty() -> Self {
        HealthView::new(
            0,
            Arc::default(),
            Vec::new(),
            Arc::new(Overrides::default()),
        )
    }

    /// A view with overrides and no probes (`check`, offline `explain`).
    pub fn with_overrides(overrides: Overrides) -> Self {
        HealthView::new(0, Arc::default(), Vec::new(), Arc::new(overrides))
    }

    /// Grows by one with each published view.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn index(&self) -> &Arc<ProbeIndex> {
        &self.index
    }

    /// Whether slots taken from `other` are still valid in this view.
    pub fn same_index(&self, other: &HealthView) -> bool {
        Arc::ptr_eq(&self.index, &other.index)
    }

    pub fn slot(&self, key: &ProbeKey) -> Option<usize> {
        self.index.slot(key)
    }

    pub fn status_at(&self, slot: usize) -> Option<&ProbeStatus> {
        self.statuses.get(slot)
    }

    /// The probe status of one (address, check); None if that pair is not probed.
    pub fn status(&self, key: &ProbeKey) -> Option<&ProbeStatus> {
        self.slot(key).and_then(|s| self.statuses.get(s))
    }

    /// The probe state of one (address, check); None if that pair is not probed.
    pub fn state(&self, key: &ProbeKey) -> Option<Status> {
        self.status(key).map(|s| s.state)
    }

    /// The combined probe state of an address over every check run against it (services
    /// that share an address with different checks): `Down` if any probe is down, else
    /// `Unknown` if any has no result yet, else `Up`; None if the address is not probed.
    pub fn ip_state(&self, ip: IpAddr) -> Option<Status> {
        let slots = self.index.by_ip.get(&ip)?;
        let mut combined = Status::Up;
        for state in slots
            .iter()
            .filter_map(|s| self.statuses.get(*s))
            .map(|s| s.state)
        {
            match state {
                Status::Down | Status::Drain => return Some(Status::Down),
                Status::Unknown => combined = Status::Unknown,
                // Probe states are never `Full` (a director's load report is not a probe).
                Status::Up | Status::Full => {}
            }
        }
        Some(combined)
    }

    pub fn overrides(&self) -> &Overrides {
        &self.overrides
    }

    /// Every check run against an address, with its status (the authority's input).
    pub fn ip_probes(&self, ip: IpAddr) -> impl Iterator<Item = (&ProbeKey, &ProbeStatus)> {
        self.index
            .by_ip
            .get(&ip)
            .into_iter()
            .flatten()
            .filter_map(|&slot| Some((self.index.keys.get(slot)?, self.statuses.get(slot)?)))
    }

    /// Every check run against an address with its slot (for the probe times of
    /// [`ProbeIndex::last_probe_ms`]).
    pub fn ip_slots(&self, ip: IpAddr) -> impl Iterator<Item = (usize, &ProbeKey, &ProbeStatus)> {
        self.index
            .by_ip
            .get(&ip)
            .into_iter()
            .flatten()
            .filter_map(|&slot| Some((slot, self.index.keys.get(slot)?, self.statuses.get(slot)?)))
    }

    /// Every probe with its status, in slot order (for status pages and `explain`).
    pub fn iter(&self) -> impl Iterator<Item = (&ProbeKey, &ProbeStatus)> {
        self.index.keys().iter().zip(self.statuses.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Check, CheckKind, StartState};
    use std::time::Duration;

    fn key(addr: &str, port: u16) -> ProbeKey {
        let check = Check {
            kind: CheckKind::Tcp,
            port: Some(port),
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(500),
            rise: 2,
            fall: 2,
            start: StartState::Down,
        };
        ProbeKey::for_service(addr.parse().unwrap(), &check).unwrap()
    }

    fn view(states: &[(ProbeKey, Status)], overrides: Overrides) -> HealthView {
        let index = ProbeIndex::new(states.iter().map(|(k, _)| k.clone()).collect());
        let statuses = states
            .iter()
            .map(|(_, s)| ProbeStatus::initial(*s))
            .collect();
        HealthView::new(7, Arc::new(index), statuses, Arc::new(overrides))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ip_state_combines_checks_of_one_address() {
        let (a80, a443, b80) = (
            key("192.0.2.1", 80),
            key("192.0.2.1", 443),
            key("192.0.2.2", 80),
        );
        let v = view(
            &[
                (a80.clone(), Status::Up),
                (a443.clone(), Status::Unknown),
                (b80.clone(), Status::Up),
            ],
            Overrides::default(),
        );
        assert_eq!(v.ip_state(ip("192.0.2.1")), Some(Status::Unknown));
        assert_eq!(v.ip_state(ip("192.0.2.2")), Some(Status::Up));
        assert_eq!(v.ip_state(ip("192.0.2.3")), None);
        let v = view(
            &[(a80, Status::Down), (a443, Status::Up), (b80, Status::Up)],
            Overrides::default(),
        );
        assert_eq!(v.ip_state(ip("192.0.2.1")), Some(Status::Down));
        assert_eq!(v.generation(), 7);
    }
}

#[cfg(test)]
mod probe_time_tests {
    use super::*;
    use crate::config::{Check, CheckKind, StartState};
    use std::time::Duration;

    #[test]
    fn probe_times_are_per_slot_and_seen_through_ip_slots() {
        let check = Check {
            kind: CheckKind::Tcp,
            port: Some(80),
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(500),
            rise: 2,
            fall: 2,
            start: StartState::Down,
        };
        let k = |a: &str| ProbeKey::for_service(a.parse().unwrap(), &check).unwrap();
        let index = Arc::new(ProbeIndex::new(vec![k("192.0.2.1"), k("192.0.2.2")]));
        assert_eq!(index.last_probe_ms(0), None);
        index.record_probe(1, 1_700_000_000_123);
        index.record_probe(7, 1); // outside the index: ignored
        let statuses = vec![ProbeStatus::initial(Status::Unknown); 2];
        let v = HealthView::new(1, index, statuses, Arc::new(Overrides::default()));
        let seen: Vec<(usize, Option<u64>)> = v
            .ip_slots("192.0.2.2".parse().unwrap())
            .map(|(slot, _, _)| (slot, v.index().last_probe_ms(slot)))
            .collect();
        assert_eq!(seen, vec![(1, Some(1_700_000_000_123))]);
        assert_eq!(v.index().last_probe_ms(0), None);
    }
}
