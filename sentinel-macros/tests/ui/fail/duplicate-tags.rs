#[sentinel::trace(tags(a = 1), tags(b = 2))]
fn f() {}

fn main() {}
