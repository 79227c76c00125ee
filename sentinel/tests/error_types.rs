//! `error_type` names the error itself, also when it comes boxed
//! (`Box<dyn Error>`, `anyhow::Error`): never the wrapper's name.

mod support;

use std::error::Error;
use std::fmt;

use sentinel::{AsyncLogger, trace};
use support::TempLog;

#[derive(Debug)]
struct CardDeclined {
    order: u64,
}

impl fmt::Display for CardDeclined {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "card declined for order {}", self.order)
    }
}

impl Error for CardDeclined {}

#[derive(Debug)]
enum Checkout {
    Declined(CardDeclined),
}

impl fmt::Display for Checkout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Checkout::Declined(e) => write!(f, "checkout failed: {e}"),
        }
    }
}

impl Error for Checkout {}

type BoxError = Box<dyn Error + Send + Sync>;

/// `(error_type, error)` of each record, in order.
fn errors(t: &TempLog) -> Vec<(String, String)> {
    t.records()
        .iter()
        .map(|r| {
            (
                r["error_type"].as_str().unwrap_or("-").to_owned(),
                r["error"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect()
}

// regression: issue #13
#[test]
fn issue_13_boxed_errors_are_named_by_the_error_inside() {
    let t = TempLog::new();
    #[trace(logger = l)]
    fn parse_boxed(l: &AsyncLogger) -> Result<u8, BoxError> {
        let _ = l;
        Ok("x".parse::<u8>()?)
    }
    #[trace(logger = l)]
    fn declined_boxed(l: &AsyncLogger) -> Result<(), Box<dyn Error>> {
        let _ = l;
        Err(Box::new(CardDeclined { order: 3 }))
    }
    #[trace(logger = l)]
    fn io_boxed(l: &AsyncLogger) -> Result<(), Box<dyn Error + Send>> {
        let _ = l;
        Err(Box::new(std::io::Error::other("disk on fire")))
    }
    #[trace(logger = l)]
    fn message_boxed(l: &AsyncLogger) -> Result<(), BoxError> {
        let _ = l;
        Err("no such order".into())
    }
    assert!(parse_boxed(&t.logger).is_err());
    assert!(declined_boxed(&t.logger).is_err());
    assert!(io_boxed(&t.logger).is_err());
    assert!(message_boxed(&t.logger).is_err());
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    };
    assert_eq!(
        errors(&t),
        pairs(&[
            ("ParseIntError", "invalid digit found in string"),
            ("CardDeclined", "card declined for order 3"),
            // `std::io::Error`, without its module path, as when unboxed.
            ("Error", "disk on fire"),
            // Made from a string: nothing more specific exists.
            ("String", "no such order"),
        ])
    );
}

// regression: issue #13
#[test]
fn issue_13_anyhow_errors_are_named_by_the_error_inside() {
    let t = TempLog::new();
    #[trace(logger = l)]
    fn parse(l: &AsyncLogger) -> anyhow::Result<u8> {
        let _ = l;
        Ok("x".parse::<u8>()?)
    }
    #[trace(logger = l)]
    async fn declined(l: &AsyncLogger) -> anyhow::Result<()> {
        let _ = l;
        Err(CardDeclined { order: 4 }.into())
    }
    #[trace(logger = l)]
    fn with_context(l: &AsyncLogger) -> anyhow::Result<u8> {
        use anyhow::Context as _;
        let _ = l;
        "x".parse::<u8>().context("reading the order id")
    }
    #[trace(logger = l)]
    fn message(l: &AsyncLogger) -> anyhow::Result<()> {
        let _ = l;
        Err(anyhow::anyhow!("no such order"))
    }
    #[trace(logger = l)]
    fn enum_variant(l: &AsyncLogger) -> anyhow::Result<()> {
        let _ = l;
        Err(Checkout::Declined(CardDeclined { order: 5 }).into())
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert!(parse(&t.logger).is_err());
    assert!(rt.block_on(declined(&t.logger)).is_err());
    assert!(with_context(&t.logger).is_err());
    assert!(message(&t.logger).is_err());
    assert!(enum_variant(&t.logger).is_err());
    let names: Vec<String> = errors(&t).into_iter().map(|(name, _)| name).collect();
    assert_eq!(
        names,
        [
            "ParseIntError",
            "CardDeclined",
            // A context layer is named by the error it wraps.
            "ParseIntError",
            "String",
            // Best effort from the `Debug` form: an enum shows its variant.
            "Declined",
        ]
    );
}

// regression: issue #13 (`TimeBlock::fail` named the box, not the error)
#[test]
fn issue_13_a_time_block_failed_with_a_boxed_error_is_named_by_the_error_inside() {
    let t = TempLog::new();
    let boxed: BoxError = Box::new(CardDeclined { order: 6 });
    let mut block = sentinel::TimeBlock::builder("boxed")
        .logger(&t.logger)
        .start();
    block.fail(&boxed);
    block.finish();
    let wrapped = anyhow::Error::from(CardDeclined { order: 7 });
    let mut block = sentinel::TimeBlock::builder("anyhow")
        .logger(&t.logger)
        .start();
    block.fail(&wrapped);
    block.finish();
    let plain = CardDeclined { order: 8 };
    let mut block = sentinel::TimeBlock::builder("plain")
        .logger(&t.logger)
        .start();
    block.fail(&plain);
    block.finish();
    let names: Vec<String> = errors(&t).into_iter().map(|(name, _)| name).collect();
    assert_eq!(names, ["CardDeclined", "CardDeclined", "CardDeclined"]);
}
