#[sentinel::trace]
struct NotAFunction;

fn main() {}
