#[sentinel::trace(args(order))]
fn f(order_id: u64) {
    let _ = order_id;
}

fn main() {}
