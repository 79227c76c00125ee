#[sentinel::trace(name = "x")]
fn f() {}

fn main() {}
