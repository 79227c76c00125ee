use sentinel::{AsyncLogger, trace};

#[trace]
fn plain() {}

#[trace(label = "checkout")]
fn labelled() -> u32 {
    1
}

#[trace(slow_ms = 250, sample = 0.5, label = "x")]
fn all_args(a: u32) -> Result<u32, std::io::Error> {
    Ok(a)
}

#[trace(sample = 1)]
fn integer_sample() {}

#[trace(slow_ms = 1.5)]
fn float_slow() {}

#[trace(logger = logger)]
fn with_logger(logger: &AsyncLogger) {}

#[trace]
pub(crate) fn generic<T: Clone, U>(t: T, _u: U) -> T
where
    U: Send,
{
    t.clone()
}

#[trace]
fn lifetimes<'a, 'b: 'a>(a: &'a str, _b: &'b str) -> &'a str {
    a
}

#[trace]
fn impl_trait(x: impl Into<u64>) -> impl std::fmt::Display {
    x.into()
}

#[trace]
async fn async_fn(x: u32) -> std::io::Result<u32> {
    let y: u32 = "1".parse().map_err(std::io::Error::other)?;
    Ok(x + y)
}

#[trace]
async fn async_early_return(x: u32) -> Option<u32> {
    if x == 0 {
        return None;
    }
    Some(x)
}

struct S {
    logger: AsyncLogger,
}

impl S {
    #[trace(logger = self.logger)]
    fn by_ref(&self) {}

    #[trace(logger = self.logger)]
    async fn by_mut(&mut self) -> u8 {
        1
    }

    /// Doc comments and other attributes are kept.
    #[inline]
    #[must_use]
    #[trace]
    fn kept(&self) -> u8 {
        2
    }

    #[trace]
    unsafe fn raw(&self, p: *const u8) -> u8 {
        unsafe { *p }
    }
}

fn is_send<T: Send>(_: T) {}

fn main() {
    plain();
    let _ = labelled();
    let _ = all_args(1);
    integer_sample();
    float_slow();
    let _ = generic(1u8, "u");
    let _ = lifetimes("a", "b");
    let _ = impl_trait(3u8).to_string();
    // The future of a traced async fn stays Send.
    is_send(async_fn(1));
    is_send(async_early_return(1));
    let logger = AsyncLogger::from_writer(std::io::sink(), Default::default()).unwrap();
    with_logger(&logger);
    let mut s = S { logger };
    s.by_ref();
    is_send(s.by_mut());
    let _ = s.kept();
}
