//! Fuzzing harnesses: one function per target, each feeding arbitrary bytes to the real entry
//! points (the answer core, the zone-file reader, the policy validator, the IPVS netlink
//! decoders, the EDNS Client Subnet parser) and asserting what must hold for any input.
//!
//! The cargo-fuzz targets in `fuzz/` are one-line wrappers over these functions, and
//! `tests/fuzz_corpus.rs` replays every committed corpus file through them on stable Rust,
//! so a crash found by the fuzzer stays a failing test until it is fixed. A violated
//! invariant is a panic: that is what the fuzzer reports. The fixtures (the example
//! configuration, zones and geo CSVs in the source tree) are trusted; the input never is.
//! docs/reliability.md ("Fuzzing") has the commands and the runs.

mod dns;
mod message;
mod netlink;
mod policy;
mod zonefile;

#[cfg(test)]
mod tests;

pub use dns::{ecs, wire_answer};
pub use netlink::netlink;
pub use policy::policy;
pub use zonefile::zonefile;

/// The source tree's root, where the fixtures live.
fn source_root() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
}
