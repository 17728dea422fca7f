//! The health input of the decision: one state per site, link and distinct address.
//!
//! A view is three flat arrays indexed by the ids of a [`Compiled`] policy, so publishing a
//! new one (clone, change a few bytes, swap an `Arc`) is cheap and reading it is an index.
//! Targets count as up unless a monitor or a configuration override says otherwise.

use std::net::IpAddr;

use serde::Serialize;

use super::compile::{AddrId, Compiled, LinkId, SiteId};
use crate::config::{Override, OverrideState, OverrideTarget};

/// The state of one target. Only `Up` takes new clients; `Drain` differs from `Down` in
/// what operators see, not in DNS answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Up,
    Down,
    Drain,
}

impl From<OverrideState> for State {
    fn from(s: OverrideState) -> State {
        match s {
            OverrideState::Up => State::Up,
            OverrideState::Down => State::Down,
            OverrideState::Drain => State::Drain,
        }
    }
}

/// Health of every site, link and address of one [`Compiled`] policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthView {
    sites: Box<[State]>,
    links: Box<[State]>,
    addrs: Box<[State]>,
}

impl HealthView {
    /// Everything up.
    pub fn all_up(c: &Compiled) -> HealthView {
        let (s, l, a) = c.counts();
        HealthView {
            sites: vec![State::Up; s].into(),
            links: vec![State::Up; l].into(),
            addrs: vec![State::Up; a].into(),
        }
    }

    /// Everything up except what the configuration's overrides say. Overrides naming
    /// unknown targets are returned (validation should have refused them).
    pub fn from_overrides<'o>(
        c: &Compiled,
        overrides: &'o [Override],
    ) -> (HealthView, Vec<&'o Override>) {
        let mut v = HealthView::all_up(c);
        let unknown = overrides.iter().filter(|o| !v.apply(c, o)).collect();
        (v, unknown)
    }

    /// Apply one override; false if its target does not exist in `c`.
    pub fn apply(&mut self, c: &Compiled, o: &Override) -> bool {
        let state = State::from(o.state);
        match &o.target {
            OverrideTarget::Site(s) => c.site_id(s).map(|id| self.set_site(id, state)).is_some(),
            OverrideTarget::Link { site, link } => c
                .link_id(site, link)
                .map(|id| self.set_link(id, state))
                .is_some(),
            OverrideTarget::Addr(a) => c.addr_id(*a).map(|id| self.set_addr(id, state)).is_some(),
        }
    }

    #[inline]
    pub fn site(&self, id: SiteId) -> State {
        self.sites
            .get(usize::from(id))
            .copied()
            .unwrap_or(State::Down)
    }

    #[inline]
    pub fn link(&self, id: LinkId) -> State {
        self.links.get(id as usize).copied().unwrap_or(State::Down)
    }

    #[inline]
    pub fn addr(&self, id: AddrId) -> State {
        self.addrs.get(id as usize).copied().unwrap_or(State::Down)
    }

    pub fn set_site(&mut self, id: SiteId, s: State) {
        if let Some(x) = self.sites.get_mut(usize::from(id)) {
            *x = s;
        }
    }

    pub fn set_link(&mut self, id: LinkId, s: State) {
        if let Some(x) = self.links.get_mut(id as usize) {
            *x = s;
        }
    }

    pub fn set_addr(&mut self, id: AddrId, s: State) {
        if let Some(x) = self.addrs.get_mut(id as usize) {
            *x = s;
        }
    }

    /// Set an address by value (every link carrying it shares its state).
    pub fn set_ip(&mut self, c: &Compiled, ip: IpAddr, s: State) -> bool {
        c.addr_id(ip).map(|id| self.set_addr(id, s)).is_some()
    }
}
