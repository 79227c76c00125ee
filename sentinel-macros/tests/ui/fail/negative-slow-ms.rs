#[sentinel::trace(slow_ms = -3)]
fn f() {}

fn main() {}
