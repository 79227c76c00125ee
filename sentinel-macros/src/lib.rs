//! The `#[trace]` attribute of the [`sentinel`](https://docs.rs/sentinel)
//! crate. Depend on `sentinel` and write `#[sentinel::trace]`; this crate is
//! an implementation detail.
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod attr;
mod expand;

use proc_macro::TokenStream;
use quote::ToTokens;

/// Records one JSON line per call of the function it is put on.
///
/// ```
/// # use sentinel::trace;
/// #[trace]                                  // the default logger
/// fn load() {}
///
/// #[trace(label = "checkout", slow_ms = 250, sample = 0.1)]
/// async fn run(order: u64) -> std::io::Result<u64> { Ok(order) }
///
/// struct Service { logger: sentinel::AsyncLogger }
/// impl Service {
///     #[trace(logger = self.logger)]        // any expression, evaluated per call
///     fn handle(&mut self) {}
/// }
///
/// struct User { id: u64 }
///
/// #[trace(tags(route = "/checkout", version = 2), args(order_id, user = user.id))]
/// async fn checkout(order_id: u64, user: &User) -> std::io::Result<()> {
///     sentinel::record("items", 3);          // learned half-way
///     Ok(())
/// }
/// ```
///
/// # Arguments
///
/// Any combination, each at most once:
/// - `label = "text"`: the record's `function` becomes `name[text]`.
/// - `logger = EXPR`: an expression of type `AsyncLogger` (or a reference or
///   smart pointer to one), evaluated when the call starts; it may use the
///   function's arguments. Without it the process-wide default logger is
///   used, resolved at call time.
/// - `slow_ms = N`: adds `"slow": true` when the call takes longer than N ms.
/// - `sample = P`: keeps a new trace with probability P in [0, 1]; decided at
///   the trace's root and inherited by every nested span. Sampled-out calls
///   still run and propagate context.
/// - `tags(key = LITERAL, ..)`: constant tags on every record of this fn. A
///   key is an identifier or a string literal (`"http.route" = "/x"`); a
///   value is a string, number or bool literal. They are stored once, as
///   JSON text, in a `static`: a call only carries a pointer to them.
/// - `args(name, key = EXPR, ..)`: records parameters (by name) or
///   expressions (which may use the parameters and `self`) as tags, each
///   evaluated once when the call starts, and only when sampling keeps the
///   span. How a value becomes JSON, chosen by its type at compile time:
///   numbers, booleans, strings, `Option`s and `Vec`s of them (anything
///   `Into<serde_json::Value> + Clone`) are copied, no serialization (free
///   for numbers, one allocation for a string); any other `serde::Serialize`
///   value is serialized to a JSON value on the calling thread (its cost
///   grows with the value: prefer `user = user.id` to a whole struct); a type
///   that is only `Display` is rendered with `to_string()`. Anything else is
///   a compile error. The JSON text itself is written by the writer.
/// - `skip_all`: records no arguments. That is already the default (unlike
///   `tracing`'s `#[instrument]`, nothing is recorded unless asked for), so
///   it only documents intent; it conflicts with `args(..)`.
///
/// These are the span's own tags: they are merged over the
/// [tag scopes](../sentinel/tags/index.html) in force (a key here wins) and
/// child spans do not inherit them. Code inside the fn adds more with
/// `sentinel::record(key, value)`, across `.await` points too. Without
/// `tags` and `args` a call costs what it always did: nothing is captured,
/// allocated or formatted for tags.
///
/// # What it expands to
///
/// A sync fn keeps its signature; its body runs in a closure under a span
/// guard, so `return` and `?` behave as before:
///
/// ```ignore
/// fn load() -> io::Result<Config> {
///     let __sentinel_span = ::sentinel::__private::SyncSpan::start("load", 1.0, f64::INFINITY);
///     let __sentinel_ret = catch_unwind(AssertUnwindSafe(|| -> io::Result<Config> { /* body */ }));
///     match __sentinel_ret {
///         Ok(value) => { __sentinel_span.finish(/* Err? via a compile-time probe */); value }
///         Err(panic) => { __sentinel_span.finish_panic(&*panic); resume_unwind(panic) }
///     }
/// }
/// ```
///
/// An async fn keeps its signature; its body becomes `async move { body }`
/// wrapped by `Instrumented`, a future that enters the span on every poll, so
/// no guard is held across `.await`:
///
/// ```ignore
/// async fn run(order: u64) -> io::Result<u64> {
///     ::sentinel::__private::Instrumented::function("run[checkout]", 0.1, 250.0, classify,
///         async move { /* body */ }).await
/// }
/// ```
///
/// With `tags(..)` and `args(..)`, the constants become a `static` the span
/// points at, and the arguments are recorded first thing in the body (for a
/// sync fn, right after the guard):
///
/// ```ignore
/// async fn checkout(order_id: u64, user: &User) -> io::Result<()> {
///     static __SENTINEL_TAGS: ConstTags =
///         ConstTags::new(&[("route", "\"/checkout\""), ("version", "2")]);
///     Instrumented::function("checkout", 1.0, f64::INFINITY, classify, async move {
///         if ::sentinel::__private::recording() {      // sampled in, inside the span
///             record_value("order_id", /* order_id as JSON, see above */);
///             record_value("user", /* user.id as JSON */);
///         }
///         /* body */
///     })
///     .consts(&__SENTINEL_TAGS)
///     .await
/// }
/// ```
///
/// Whether a return value is an error is decided by its type at compile time
/// (autoref specialization), so any `Result` counts, however it is spelled:
/// `io::Result<T>`, `anyhow::Result<T>`, a crate's own alias. The error's type
/// name (without module path) becomes `error_type` and its `Display` (or
/// `Debug`) becomes `error`. A boxed error (`Box<dyn Error + Send + Sync>`,
/// `anyhow::Error`) is named by the error inside, as far as `dyn Error`
/// shows it: `std::io::Error` is recognised, a context layer is named by the
/// error it wraps, else the leading type name of the error's `Debug` form is
/// used (a derived `Debug` starts with the struct's name, or an enum's
/// variant), `String` for an error made from a string, `Error` when nothing
/// else fits. A panic records `error_type: "panic"` and keeps
/// unwinding; an async call dropped before completing records
/// `status: "cancelled"`.
///
/// # Errors
///
/// Unknown or duplicate arguments, a value of the wrong type, `sample`
/// outside [0, 1], a duplicate tag key (across `tags` and `args`), a
/// non-literal in `tags`, a name in `args` that is not a parameter, a value
/// that cannot be recorded, `skip_all` with `args`, a `const fn` and a
/// non-function item are compile errors pointing at the offending token.
#[proc_macro_attribute]
pub fn trace(args: TokenStream, item: TokenStream) -> TokenStream {
    let item2: proc_macro2::TokenStream = item.clone().into();
    let func = match syn::parse::<syn::ItemFn>(item) {
        Ok(func) => func,
        Err(_) => {
            let err = syn::Error::new(
                proc_macro2::Span::call_site(),
                "`#[trace]` can only be applied to functions and methods",
            );
            return with_error(item2, err);
        }
    };
    let args = match syn::parse::<attr::TraceArgs>(args) {
        Ok(args) => args,
        Err(err) => return with_error(func.into_token_stream(), err),
    };
    if let Err(err) = expand::validate(&args, &func) {
        return with_error(func.into_token_stream(), err);
    }
    expand::gen_function(&args, func).into()
}

/// The original item plus the error, so the rest of the crate still
/// type-checks and IDEs keep working.
fn with_error(item: proc_macro2::TokenStream, err: syn::Error) -> TokenStream {
    let mut out = item;
    out.extend(err.to_compile_error());
    out.into()
}
