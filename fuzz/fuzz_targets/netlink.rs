//! cargo-fuzz target `netlink`: a thin wrapper over `meridian::fuzzing::netlink`, which documents
//! the input layout and the invariants checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| meridian::fuzzing::netlink(data));
