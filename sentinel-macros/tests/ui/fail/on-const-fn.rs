#[sentinel::trace]
const fn f() -> u8 {
    1
}

fn main() {
    let _ = f();
}
