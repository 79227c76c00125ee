//! Stub.
pub use sentinel_macros::trace;
