#[sentinel::trace(args(id), skip_all)]
fn f(id: u64) {
    let _ = id;
}

fn main() {}
