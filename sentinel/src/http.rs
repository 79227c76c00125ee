//! Trace context in HTTP headers (feature `http`): the `traceparent` and
//! `tracestate` headers of W3C Trace Context on the `http` crate's
//! [`HeaderMap`], which reqwest, hyper and axum share.
//!
//! The sending side calls [`inject`] on the outgoing request's headers; the
//! receiving side runs its handler in [`in_incoming_context`] (or
//! [`incoming_context`]), so the handler's spans are children of the
//! sender's span: one trace, whatever the number of processes and files it
//! is written to.
//!
//! ```
//! use http::Request;
//! use sentinel::{AsyncLogger, SentinelConfig, trace};
//!
//! // The client: its span's identity goes out with the request.
//! #[trace]
//! fn call_backend() -> Request<()> {
//!     let mut request = Request::new(());
//!     sentinel::http::inject(request.headers_mut());
//!     request
//! }
//!
//! // The server: the handler's spans continue the client's trace.
//! #[trace]
//! async fn handle() -> Option<sentinel::TraceId> {
//!     sentinel::current_trace_id()
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! sentinel::set_default_logger(
//!     AsyncLogger::from_writer(std::io::sink(), SentinelConfig::default()).unwrap(),
//! );
//! let request = call_backend();
//! let sent = request.headers()["traceparent"].to_str().unwrap().to_owned();
//! let trace = sentinel::http::in_incoming_context(request.headers(), handle()).await;
//! assert_eq!(sent[3..35], trace.unwrap().to_string());
//! # }
//! ```
//!
//! # Rules
//!
//! - Header names match in any case (the `http` crate lowercases them);
//!   surrounding spaces and tabs of a value are not part of it.
//! - A request with no `traceparent`, with more than one, or with an
//!   invalid one starts a new trace in the handler, as the specification
//!   asks; [`extract`] returns the reason when a caller wants to see it. A
//!   `tracestate` without a valid `traceparent` is dropped.
//! - Several `tracestate` headers are one list, joined with `,` in order;
//!   empty ones are skipped. Sentinel adds nothing to it.
//! - The `sampled` flag carries the sending trace's sampling decision: a
//!   handler under an unsampled `traceparent` records no spans (see
//!   [`SpanContext::from_traceparent`]).

use std::future::Future;

use ::http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::context::{Context, FutureExt, SpanContext, WithContext};
use crate::error::{Error, Result};

/// The `traceparent` header's name.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
/// The `tracestate` header's name.
pub const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// Writes the current context's `traceparent` (and its `tracestate`, if it
/// came with one) into `headers`, replacing what was there. Returns `false`
/// and leaves `headers` alone outside any span.
pub fn inject(headers: &mut HeaderMap) -> bool {
    inject_context(&Context::current(), headers)
}

/// Writes `context`'s `traceparent` and `tracestate` into `headers`, as
/// [`inject`] does for the current context.
pub fn inject_context(context: &Context, headers: &mut HeaderMap) -> bool {
    let Some(span) = context.span() else {
        return false;
    };
    // Hex digits and dashes always make a valid header value.
    if let Ok(value) = HeaderValue::from_str(&span.traceparent()) {
        headers.insert(TRACEPARENT, value);
    }
    headers.remove(TRACESTATE);
    // `Context::remote` admitted only characters a header value can hold.
    if let Some(value) = context
        .tracestate()
        .and_then(|s| HeaderValue::from_str(s).ok())
    {
        headers.insert(TRACESTATE, value);
    }
    true
}

/// The context a request's headers carry: the sender's span as the parent
/// of the handler's spans, and the `tracestate` to pass on. `Ok(None)` when
/// there is no `traceparent` header.
///
/// # Errors
///
/// [`Error::InvalidTraceparent`] for more than one `traceparent` header, a
/// value that is not text, or one that breaks the format;
/// [`Error::InvalidTracestate`] for a `tracestate` that is not text.
pub fn extract(headers: &HeaderMap) -> Result<Option<Context>> {
    let mut values = headers.get_all(TRACEPARENT).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let text = |v: &HeaderValue| String::from_utf8_lossy(v.as_bytes()).into_owned();
    if let Some(second) = values.next() {
        return Err(Error::InvalidTraceparent {
            value: format!("{}, {}", text(value), text(second)),
            reason: "a request has at most one traceparent header",
        });
    }
    let Ok(value) = value.to_str() else {
        return Err(Error::InvalidTraceparent {
            value: text(value),
            reason: "not visible ASCII text",
        });
    };
    let parent = SpanContext::from_traceparent(value.trim_matches(OWS))?;
    let mut state = String::new();
    for value in headers.get_all(TRACESTATE) {
        let part = value
            .to_str()
            .map_err(|_| Error::InvalidTracestate(text(value)))?
            .trim_matches(OWS);
        if !part.is_empty() {
            if !state.is_empty() {
                state.push(',');
            }
            state.push_str(part);
        }
    }
    Context::remote(parent, Some(&state)).map(Some)
}

/// Runs `handler` inside the context the request's `headers` carry (see
/// [`incoming_context`]).
pub fn in_incoming_context<F: Future>(headers: &HeaderMap, handler: F) -> WithContext<F> {
    handler.with_context(incoming_context(headers))
}

/// The context to handle a request in: the one its `headers` carry (see
/// [`extract`]), or, where they carry none or an invalid one, a context
/// without a span, so the handler's first span starts a new trace. The tags
/// in scope here go with it.
///
/// For a handler that takes the request itself, take the context first:
///
/// ```
/// use sentinel::context::FutureExt;
///
/// async fn handle(request: http::Request<()>) -> usize {
///     request.headers().len()
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let request = http::Request::new(());
/// let context = sentinel::http::incoming_context(request.headers());
/// assert_eq!(handle(request).with_context(context).await, 0);
/// # }
/// ```
pub fn incoming_context(headers: &HeaderMap) -> Context {
    extract(headers)
        .ok()
        .flatten()
        .unwrap_or_else(|| Context::with_parts(None, None))
}

/// HTTP's optional whitespace around a field value.
const OWS: [char; 2] = [' ', '\t'];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::current_span;

    const PARENT: &str = "00-12345678901234567890123456789012-1234567890123456-01";

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn extracted(pairs: &[(&str, &str)]) -> Option<(String, Option<String>)> {
        let context = extract(&headers(pairs)).ok().flatten()?;
        Some((
            context.span().unwrap().traceparent(),
            context.tracestate().map(str::to_owned),
        ))
    }

    #[test]
    fn inject_then_extract_is_the_same_span_and_state() {
        let parent = SpanContext::from_traceparent(PARENT).unwrap();
        let remote = Context::remote(parent, Some("foo=1,bar=2")).unwrap();
        let mut map = headers(&[("tracestate", "stale=1")]);
        assert!(inject_context(&remote, &mut map));
        assert_eq!(map[TRACEPARENT], PARENT);
        assert_eq!(map[TRACESTATE], "foo=1,bar=2");
        let back = extract(&map).unwrap().unwrap();
        assert_eq!(back.span(), Some(parent));
        assert_eq!(back.tracestate(), Some("foo=1,bar=2"));
    }

    #[test]
    fn outside_any_span_nothing_is_injected() {
        let mut map = HeaderMap::new();
        assert!(!inject(&mut map));
        assert!(map.is_empty());
    }

    #[test]
    fn header_names_match_in_any_case_and_values_lose_their_whitespace() {
        // The W3C test suite's casing and OWS cases.
        for name in ["traceparent", "TraceParent", "TrAcEpArEnT", "TRACEPARENT"] {
            for value in [
                PARENT.to_owned(),
                format!(" {PARENT}"),
                format!("\t{PARENT}"),
                format!("{PARENT} "),
                format!("\t {PARENT} \t"),
            ] {
                let got = extracted(&[(name, &value)]);
                assert_eq!(got, Some((PARENT.to_owned(), None)), "{name}: {value:?}");
            }
        }
    }

    #[test]
    fn wrong_names_duplicates_and_bad_values_are_no_context() {
        assert_eq!(extracted(&[("trace-parent", PARENT)]), None);
        assert_eq!(extracted(&[("trace.parent", PARENT)]), None);
        let dup = "00-12345678901234567890123456789011-1234567890123456-01";
        let err = extract(&headers(&[("traceparent", dup), ("traceparent", PARENT)]));
        assert!(
            matches!(&err, Err(Error::InvalidTraceparent { reason, .. }) if reason.contains("at most one")),
            "{err:?}"
        );
        let err = extract(&headers(&[("traceparent", "00-xyz")]));
        assert!(
            matches!(err, Err(Error::InvalidTraceparent { .. })),
            "{err:?}"
        );
        assert!(extract(&HeaderMap::new()).unwrap().is_none());
    }

    #[test]
    fn tracestate_headers_join_in_order_and_need_a_traceparent() {
        let got = extracted(&[
            ("traceparent", PARENT),
            ("tracestate", "foo=1,bar=2"),
            ("TraceState", ""),
            ("tracestate", " rojo=1,congo=2\t"),
            ("tracestate", "baz=3"),
        ]);
        assert_eq!(
            got.unwrap().1.as_deref(),
            Some("foo=1,bar=2,rojo=1,congo=2,baz=3")
        );
        assert_eq!(
            extracted(&[("traceparent", PARENT), ("tracestate", "")])
                .unwrap()
                .1,
            None
        );
        assert_eq!(extracted(&[("tracestate", "foo=1")]), None);
        // Carried untouched: sentinel does not judge other vendors' entries.
        let odd = "foo=1,foo=2, \t ,x=y=z";
        assert_eq!(
            extracted(&[("traceparent", PARENT), ("tracestate", odd)])
                .unwrap()
                .1
                .as_deref(),
            Some(odd)
        );
    }

    #[tokio::test]
    async fn the_handler_runs_in_the_incoming_context_or_a_fresh_one() {
        let map = headers(&[("traceparent", PARENT), ("tracestate", "foo=1")]);
        let (span, state) = in_incoming_context(&map, async {
            tokio::task::yield_now().await;
            (
                current_span(),
                Context::current().tracestate().map(str::to_owned),
            )
        })
        .await;
        assert_eq!(span, Some(SpanContext::from_traceparent(PARENT).unwrap()));
        assert_eq!(state.as_deref(), Some("foo=1"));

        let bad = headers(&[(
            "traceparent",
            "ff-12345678901234567890123456789012-1234567890123456-01",
        )]);
        let outer = SpanContext::from_traceparent(PARENT).unwrap();
        // Even inside another span, an invalid header means a new trace.
        let span = Context::with_span(Some(outer))
            .run(|| in_incoming_context(&bad, async { current_span() }));
        assert_eq!(span.await, None);
    }
}
