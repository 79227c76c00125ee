//! Compile-time behaviour of `#[trace]`: accepted forms compile, wrong uses
//! fail with an error pointing at the offending token.
//!
//! Refresh snapshots with `TRYBUILD=overwrite cargo test -p sentinel-macros --test ui`
//! and review the `.stderr` diff like code.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
