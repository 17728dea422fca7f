//! cargo-fuzz target `ecs`: a thin wrapper over `meridian::fuzzing::ecs`, which documents
//! the input layout and the invariants checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| meridian::fuzzing::ecs(data));
