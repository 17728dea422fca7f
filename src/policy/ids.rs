//! The policy's identifiers and the list of targets it hands to the health authority.
//!
//! Sites, links and targets are numbered once per compile. Each kind of id is its own type,
//! so a link index can never be used to read a site or a target. A *target* is one
//! (link, address) occurrence: the same address listed in two links is two targets, because
//! an override on one link must not take the other out. [`Compiled::targets`] lists them in
//! [`TargetId`] order, and the health authority's [`crate::health::Table`] for the policy is
//! indexed by that same number: `table.get(id.index())` is the verdict of target `id`.
//!
//! [`Compiled::targets`]: super::Compiled::targets

use std::net::IpAddr;

use serde::Serialize;

macro_rules! id {
    ($(#[$doc:meta])* $name:ident($int:ty)) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        pub struct $name(pub $int);

        impl $name {
            /// The position in the list this id numbers.
            #[inline]
            pub fn index(self) -> usize {
                self.0 as usize
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id!(
    /// Index of a site (sites in name order).
    SiteId(u16)
);
id!(
    /// Index of a link over all sites (sites in name order, each site's links in the order
    /// the configuration lists them).
    LinkId(u32)
);
id!(
    /// Index of one (link, address) occurrence, in link order then address order: the index
    /// of its verdict in the health authority's table for the policy.
    TargetId(u32)
);

/// One target the health authority registers for the policy and resolves into a verdict:
/// overrides apply at `site`, `link` (of that site) and `addr` level, most specific first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub id: TargetId,
    pub site: String,
    pub link: String,
    pub addr: IpAddr,
    pub site_id: SiteId,
    pub link_id: LinkId,
}
