#[sentinel::trace(tags(id = 1), args(id))]
fn f(id: u64) {
    let _ = id;
}

fn main() {}
