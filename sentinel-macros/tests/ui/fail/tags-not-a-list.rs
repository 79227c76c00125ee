#[sentinel::trace(tags = "a")]
fn f() {}

fn main() {}
