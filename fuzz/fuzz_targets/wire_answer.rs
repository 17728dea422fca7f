//! cargo-fuzz target `wire_answer`: a thin wrapper over `meridian::fuzzing::wire_answer`, which documents
//! the input layout and the invariants checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| meridian::fuzzing::wire_answer(data));
