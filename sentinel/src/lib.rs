//! Stub.
pub use sentinel_macros::trace;
/// `sentinel stats`: per-name duration statistics over a JSONL file.
pub mod stats;
/// `sentinel tail`: pretty-print JSONL records, flat or as trace trees.
pub mod tail;
