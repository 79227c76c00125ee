#[sentinel::trace(sample = 1.5)]
fn f() {}

fn main() {}
