#[sentinel::trace(args(total = price +))]
fn f(price: u64) {
    let _ = price;
}

fn main() {}
