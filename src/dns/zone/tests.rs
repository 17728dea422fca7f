//! Lookup cases on a hand-built zone.
