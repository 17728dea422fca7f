//! The LVS director: Meridian's own IPVS generic-netlink client, the kernel-state dump, the
//! pure desired-vs-actual diff and the reconciler that applies it.
//!
//! ```text
//!  config [lvs] + HealthView --desired()--> Desired --+
//!                                                     +--diff()--> Plan { ops } --apply--> kernel
//!  kernel --Ipvs::dump()----------------> Table -----+
//! ```
//! [`codec`] and [`diff`] are plain functions tested on bytes and values; [`netlink`] is the
//! socket shell; [`reconcile`] runs them on config and health changes and every `resync`.

pub mod codec;
pub mod model;
