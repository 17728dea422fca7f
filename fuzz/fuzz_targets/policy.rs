//! cargo-fuzz target `policy`: a thin wrapper over `meridian::fuzzing::policy`, which documents
//! the input layout and the invariants checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| meridian::fuzzing::policy(data));
