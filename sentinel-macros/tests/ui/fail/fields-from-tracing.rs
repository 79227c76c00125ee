#[sentinel::trace(fields(route = "/x"))]
fn handler() {}

fn main() {}
