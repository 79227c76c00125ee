struct Opaque;

#[sentinel::trace(args(value))]
fn f(value: Opaque) {
    let _ = value;
}

fn main() {}
