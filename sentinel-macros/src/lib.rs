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
/// outside [0, 1], a `const fn` and a non-function item are compile errors
/// pointing at the offending token.
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
    if let Err(err) = expand::validate(&func) {
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
