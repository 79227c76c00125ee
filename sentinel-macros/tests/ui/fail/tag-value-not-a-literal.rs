struct User {
    id: u64,
}

#[sentinel::trace(tags(user = user.id))]
fn f(user: &User) {
    let _ = user;
}

fn main() {}
