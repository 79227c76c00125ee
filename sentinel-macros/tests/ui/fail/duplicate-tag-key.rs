#[sentinel::trace(tags(route = "/a", route = "/b"))]
fn f() {}

fn main() {}
