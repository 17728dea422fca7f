//! TODO

pub mod zonefile;
