#[sentinel::trace(args(total = ))]
fn f(price: u64) {
    let _ = price;
}

fn main() {}
