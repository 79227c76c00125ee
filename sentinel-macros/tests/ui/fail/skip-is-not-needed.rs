#[sentinel::trace(skip(password))]
fn login(password: &str) {
    let _ = password;
}

fn main() {}
