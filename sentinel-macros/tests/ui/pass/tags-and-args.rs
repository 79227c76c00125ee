//! Every form of `tags(..)`, `args(..)` and `skip_all`, on every kind of fn.

use sentinel::trace;

struct User {
    id: u64,
    name: String,
}

struct Sku(u32);

impl std::fmt::Display for Sku {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SKU-{}", self.0)
    }
}

#[trace(tags(route = "/checkout", version = 2, beta = true, ratio = -0.5, "http.method" = "GET"))]
fn constants() {}

#[trace(args(order_id, user = user.id, name = user.name.as_str(), sku, r#type = 1))]
fn arguments(order_id: u64, user: &User, sku: Sku) -> u64 {
    let _ = sku;
    order_id
}

#[trace(skip_all, label = "quiet")]
fn skipped(password: &str) -> usize {
    password.len()
}

#[trace(tags(kind = "async"), args(order_id, ids = ids.clone()))]
async fn handler(order_id: u64, ids: Vec<u64>) -> Result<u64, std::io::Error> {
    sentinel::record("rows", ids.len());
    Ok(order_id)
}

#[trace(args(n), tags(generic = true))]
fn generic<T: Into<u64>>(n: u32, t: T) -> u64 {
    u64::from(n) + t.into()
}

struct Service {
    name: &'static str,
}

impl Service {
    #[trace(args(service = self.name, id))]
    fn get(&self, id: u64) -> u64 {
        id
    }

    #[trace(args(service = self.name, id))]
    async fn get_async(&self, id: u64) -> u64 {
        id
    }
}

fn assert_send<T: Send>(_: &T) {}

fn main() {
    constants();
    let user = User {
        id: 1,
        name: "ada".into(),
    };
    assert_eq!(arguments(7, &user, Sku(3)), 7);
    assert_eq!(skipped("x"), 1);
    let fut = handler(1, vec![1, 2]);
    assert_send(&fut);
    drop(fut);
    assert_eq!(generic(1, 2u8), 3);
    let s = Service { name: "orders" };
    assert_eq!(s.get(4), 4);
    let fut = s.get_async(5);
    assert_send(&fut);
    drop(fut);
}
