//! Examples live beside this crate; see `Cargo.toml`.
