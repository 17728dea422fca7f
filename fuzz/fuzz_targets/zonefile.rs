//! cargo-fuzz target `zonefile`: a thin wrapper over `meridian::fuzzing::zonefile`, which documents
//! the input layout and the invariants checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| meridian::fuzzing::zonefile(data));
