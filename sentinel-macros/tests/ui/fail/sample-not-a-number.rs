#[sentinel::trace(sample = "half")]
fn f() {}

fn main() {}
