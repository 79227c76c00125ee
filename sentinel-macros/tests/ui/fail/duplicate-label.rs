#[sentinel::trace(label = "a", label = "b")]
fn f() {}

fn main() {}
