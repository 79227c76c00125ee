//! W4/W5: the Master Log client against a loopback sink (filled in once the
//! client lands on this branch).

use super::Outcome;

/// (workload, system key, label) of every shipping row.
pub const CASES: &[(&str, &str, &str)] = &[];

pub fn run(workload: &str, system: &str) -> Outcome {
    panic!("no shipping workload {workload}/{system} yet")
}
