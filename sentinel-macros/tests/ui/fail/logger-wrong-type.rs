#[sentinel::trace(logger = 42)]
fn f() {}

fn main() {}
