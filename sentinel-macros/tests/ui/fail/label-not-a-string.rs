#[sentinel::trace(label = 5)]
fn f() {}

fn main() {}
