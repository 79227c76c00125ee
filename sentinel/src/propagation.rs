//! W3C Trace Context: a span's identity as a `traceparent` header value, so
//! a trace continues in the process a request goes to.
//!
//! ```text
//! traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
//!              |  trace id (32 hex)                 parent id        flags
//! ```
//!
//! [`SpanContext::traceparent`] writes the header for the span a request is
//! sent from; [`SpanContext::from_traceparent`] reads it back on the other
//! side, where the receiving service's spans become children of that span.
//! The `sampled` flag (bit `01`) carries the trace root's sampling decision
//! both ways: a sampled-out trace stays sampled out across services, and a
//! kept one is kept (the parent-based sampling OpenTelemetry uses by
//! default).
//!
//! A `tracestate` header holds other tracing systems' data for the same
//! trace. Sentinel adds nothing to it and carries it through untouched: a
//! [`Context::remote`] keeps it beside the remote span, and requests sent
//! from inside that context pass it on (see [`Context::tracestate`]).

use std::sync::Arc;

use crate::context::{Context, SpanContext, SpanId, TraceId};
use crate::error::Error;

/// The one `traceparent` version this crate writes.
const VERSION: &str = "00";
/// Length of a version `00` header value; later versions may append fields.
const LEN: usize = 55;
/// The `sampled` bit of the trace flags.
const SAMPLED: u8 = 0x01;

impl SpanContext {
    /// This span as a W3C `traceparent` header value:
    /// `00-{trace id}-{span id}-{flags}`, flags `01` when the trace is
    /// sampled, else `00`.
    ///
    /// # Examples
    ///
    /// ```
    /// use sentinel::{SpanContext, SpanId, TraceId};
    ///
    /// let span = SpanContext {
    ///     trace_id: TraceId(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
    ///     span_id: SpanId(0x00f0_67aa_0ba9_02b7),
    ///     sampled: true,
    /// };
    /// assert_eq!(
    ///     span.traceparent(),
    ///     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    /// );
    /// assert_eq!(SpanContext::from_traceparent(&span.traceparent()).unwrap(), span);
    /// ```
    pub fn traceparent(&self) -> String {
        let flags = if self.sampled { SAMPLED } else { 0 };
        format!(
            "{VERSION}-{:032x}-{:016x}-{flags:02x}",
            self.trace_id.0, self.span_id.0
        )
    }

    /// Reads a W3C `traceparent` header value: the span a request was sent
    /// from, to become the parent of the spans that handle it. `sampled` is
    /// the header's sampled flag.
    ///
    /// Strict, as the specification asks (trim the header's surrounding
    /// whitespace before, as HTTP does):
    ///
    /// - version `00`: exactly `00-` + 32 + `-` + 16 + `-` + 2 lowercase hex
    ///   digits, nothing after;
    /// - a later version (`01` to `fe`): the same first 55 characters,
    ///   followed by the end or by `-` and fields this version does not
    ///   know, which are ignored; version `ff` is invalid;
    /// - an all-zero trace id or parent id is invalid; flag bits other than
    ///   `sampled` are ignored.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTraceparent`] naming the rule the value breaks. The
    /// specification's answer to an invalid header is to start a new trace.
    pub fn from_traceparent(value: &str) -> Result<SpanContext, Error> {
        parse(value).map_err(|reason| Error::InvalidTraceparent {
            value: value.to_owned(),
            reason,
        })
    }
}

fn parse(value: &str) -> Result<SpanContext, &'static str> {
    let b = value.as_bytes();
    if b.len() < LEN {
        return Err("shorter than the 55 characters of version 00");
    }
    let version = &b[0..2];
    if !is_lower_hex(version) {
        return Err("the version is not 2 lowercase hex digits");
    }
    if version == b"ff" {
        return Err("version ff is invalid");
    }
    if b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
        return Err("fields are not separated by `-` at their fixed positions");
    }
    if version == VERSION.as_bytes() {
        if b.len() != LEN {
            return Err("version 00 has exactly 55 characters");
        }
    } else if b.len() > LEN && b[LEN] != b'-' {
        return Err("the flags are followed by something other than `-`");
    }
    let (trace, span, flags) = (&b[3..35], &b[36..52], &b[53..55]);
    if !is_lower_hex(trace) {
        return Err("the trace id is not 32 lowercase hex digits");
    }
    if !is_lower_hex(span) {
        return Err("the parent id is not 16 lowercase hex digits");
    }
    if !is_lower_hex(flags) {
        return Err("the flags are not 2 lowercase hex digits");
    }
    // All three are ASCII hex digits of the right length now.
    let trace_id = u128::from_str_radix(&value[3..35], 16).unwrap_or(0);
    let span_id = u64::from_str_radix(&value[36..52], 16).unwrap_or(0);
    let flags = u8::from_str_radix(&value[53..55], 16).unwrap_or(0);
    if trace_id == 0 {
        return Err("the trace id is all zeros");
    }
    if span_id == 0 {
        return Err("the parent id is all zeros");
    }
    Ok(SpanContext {
        trace_id: TraceId(trace_id),
        span_id: SpanId(span_id),
        sampled: flags & SAMPLED != 0,
    })
}

/// `HEXDIGLC`: `0-9` and `a-f` only.
fn is_lower_hex(b: &[u8]) -> bool {
    b.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

/// A `tracestate` header value and the trace it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TraceState {
    pub(crate) trace_id: TraceId,
    pub(crate) value: Arc<str>,
}

impl Context {
    /// The context a request arrives with: its sender's span as the parent
    /// of the spans that handle it (see [`SpanContext::from_traceparent`]),
    /// the tags in scope here, and the request's `tracestate` to carry on
    /// untouched. An empty `tracestate` is the same as none.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTracestate`] when `tracestate` holds a character a
    /// header value cannot (only visible ASCII, space and tab can be sent
    /// on).
    ///
    /// # Examples
    ///
    /// ```
    /// use sentinel::SpanContext;
    /// use sentinel::context::Context;
    ///
    /// let parent = SpanContext::from_traceparent(
    ///     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    /// )?;
    /// let remote = Context::remote(parent, Some("congo=t61rcWkgMzE"))?;
    /// remote.run(|| {
    ///     let current = Context::current();
    ///     assert_eq!(current.span(), Some(parent));
    ///     assert_eq!(current.tracestate(), Some("congo=t61rcWkgMzE"));
    /// });
    /// # Ok::<(), sentinel::Error>(())
    /// ```
    pub fn remote(parent: SpanContext, tracestate: Option<&str>) -> Result<Context, Error> {
        let tracestate = match tracestate.map(|s| s.trim_matches([' ', '\t'])) {
            Some(value) if !value.is_empty() => {
                if !value
                    .bytes()
                    .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
                {
                    return Err(Error::InvalidTracestate(value.to_owned()));
                }
                Some(TraceState {
                    trace_id: parent.trace_id,
                    value: value.into(),
                })
            }
            _ => None,
        };
        Ok(Context::with_parts(Some(parent), tracestate))
    }

    /// The `tracestate` this context carries for its span's trace, to send
    /// beside [`SpanContext::traceparent`]: the one a [`Context::remote`]
    /// received, while the active span is still in that trace.
    pub fn tracestate(&self) -> Option<&str> {
        let state = self.tracestate_part()?;
        (self.span()?.trace_id == state.trace_id).then_some(&*state.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SPAN: &str = "00f067aa0ba902b7";

    fn ok(value: &str) -> SpanContext {
        SpanContext::from_traceparent(value).unwrap_or_else(|e| panic!("{value:?}: {e}"))
    }

    fn rejected(value: &str) -> String {
        match SpanContext::from_traceparent(value) {
            Ok(span) => panic!("{value:?} accepted as {span:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn the_specifications_example_round_trips() {
        let value = format!("00-{TRACE}-{SPAN}-01");
        let span = ok(&value);
        assert_eq!(
            span.trace_id,
            TraceId(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736)
        );
        assert_eq!(span.span_id, SpanId(0x00f0_67aa_0ba9_02b7));
        assert!(span.sampled);
        assert_eq!(span.traceparent(), value);
        // The spec's unsampled example.
        let value = format!("00-{TRACE}-{SPAN}-00");
        assert!(!ok(&value).sampled);
        assert_eq!(ok(&value).traceparent(), value);
    }

    #[test]
    fn random_spans_round_trip_with_either_decision() {
        for sampled in [true, false] {
            for _ in 0..1000 {
                let span = SpanContext {
                    trace_id: TraceId::random(),
                    span_id: SpanId::random(),
                    sampled,
                };
                let value = span.traceparent();
                assert_eq!(value.len(), LEN);
                assert_eq!(ok(&value), span);
            }
        }
    }

    #[test]
    fn only_the_sampled_bit_of_the_flags_counts() {
        // Unknown bits are ignored on the way in and not sent on.
        let span = ok(&format!("00-{TRACE}-{SPAN}-ff"));
        assert!(span.sampled);
        assert!(span.traceparent().ends_with("-01"));
        let span = ok(&format!("00-{TRACE}-{SPAN}-02"));
        assert!(!span.sampled);
        assert!(span.traceparent().ends_with("-00"));
    }

    #[test]
    fn later_versions_are_read_by_the_fields_version_00_defines() {
        // The test suite's version 0xcc cases.
        let base = "cc-12345678901234567890123456789012-1234567890123456-01";
        let span = ok(base);
        assert_eq!(
            span.trace_id.to_string(),
            "12345678901234567890123456789012"
        );
        // Sent on as the highest version known here.
        assert!(span.traceparent().starts_with("00-"));
        ok(&format!("{base}-what-the-future-will-be-like"));
        rejected(&format!("{base}.what-the-future-will-be-like"));
    }

    #[test]
    fn malformed_values_are_rejected_with_the_rule_they_break() {
        // The cases of the W3C trace-context test suite (test/test.py), and
        // a few more the format rules imply.
        let t = "12345678901234567890123456789012";
        let p = "1234567890123456";
        let cases = [
            // version 00 has nothing after the flags
            (format!("00-{t}-{p}-01."), "exactly 55"),
            (
                format!("00-{t}-{p}-01-what-the-future-will-be-like"),
                "exactly 55",
            ),
            (format!("ff-{t}-{p}-01"), "version ff"),
            (format!(".0-{t}-{p}-01"), "version is not"),
            (format!("0.-{t}-{p}-01"), "version is not"),
            (format!("000-{t}-{p}-01"), "separated"),
            (format!("0000-{t}-{p}-01"), "separated"),
            (format!("0-{t}-{p}-01"), "shorter"),
            (
                format!("00-{}-{p}-01", "0".repeat(32)),
                "trace id is all zeros",
            ),
            (format!("00-.{}-{p}-01", &t[1..]), "trace id is not"),
            (format!("00-{}.-{p}-01", &t[..31]), "trace id is not"),
            (format!("00-{t}3-{p}-01"), "separated"),
            (format!("00-{}-{p}-01", &t[..31]), "shorter"),
            (
                format!("00-{t}-{}-01", "0".repeat(16)),
                "parent id is all zeros",
            ),
            (format!("00-{t}-.{}-01", &p[1..]), "parent id is not"),
            (format!("00-{t}-{}.-01", &p[..15]), "parent id is not"),
            (format!("00-{t}-{p}7-01"), "separated"),
            (format!("00-{t}-{}-01", &p[..15]), "shorter"),
            (format!("00-{t}-{p}-.0"), "flags are not"),
            (format!("00-{t}-{p}-0."), "flags are not"),
            (format!("00-{t}-{p}-001"), "exactly 55"),
            (format!("00-{t}-{p}-1"), "shorter"),
            // HEXDIGLC: uppercase is not the same id spelled differently.
            (
                format!("00-{}-{p}-01", t.replace('1', "A")),
                "trace id is not",
            ),
            (
                format!("00-{t}-{}-01", "ABCDEF0123456789"),
                "parent id is not",
            ),
            (format!("00-{t}-{p}-0A"), "flags are not"),
            (format!("0A-{t}-{p}-01"), "version is not"),
            // Whitespace is the HTTP layer's to trim, not part of the value.
            (format!(" 00-{t}-{p}-01"), "version is not"),
            (format!("00-{t}-{p}-01 "), "exactly 55"),
            (format!("00_{t}_{p}_01"), "separated"),
            (String::new(), "shorter"),
        ];
        for (value, why) in cases {
            let err = rejected(&value);
            assert!(err.contains(why), "{value:?}: {err}");
            assert!(err.contains(&value), "the error names the value: {err}");
        }
    }

    #[test]
    fn a_remote_context_carries_its_tracestate_only_within_its_trace() {
        let parent = ok(&format!("00-{TRACE}-{SPAN}-01"));
        let remote =
            Context::remote(parent, Some(" rojo=00f067aa0ba902b7,congo=t61rcWkgMzE\t")).unwrap();
        assert_eq!(remote.span(), Some(parent));
        assert_eq!(
            remote.tracestate(),
            Some("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
        );
        // Spans started inside are in the same trace: it stays.
        let child = SpanContext {
            span_id: SpanId::random(),
            ..parent
        };
        remote.run(|| {
            Context::with_span(Some(child)).run(|| {
                assert_eq!(Context::current().tracestate(), None, "with_span drops it");
            });
            let _g = crate::context::replace_span(Some(child));
            assert_eq!(
                Context::current().tracestate(),
                Some("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
            );
            // A new trace started here does not inherit another trace's state.
            crate::context::replace_span(Some(SpanContext {
                trace_id: TraceId::random(),
                ..child
            }));
            assert_eq!(Context::current().tracestate(), None);
        });
        assert_eq!(Context::current().tracestate(), None);
        assert_eq!(Context::current().span(), None);
    }

    #[test]
    fn an_empty_tracestate_is_none_and_a_bad_one_an_error() {
        let parent = ok(&format!("00-{TRACE}-{SPAN}-00"));
        assert_eq!(
            Context::remote(parent, Some("")).unwrap().tracestate(),
            None
        );
        assert_eq!(
            Context::remote(parent, Some(" \t")).unwrap().tracestate(),
            None
        );
        assert_eq!(Context::remote(parent, None).unwrap().tracestate(), None);
        let err = Context::remote(parent, Some("a=1\nb=2")).unwrap_err();
        assert!(matches!(err, Error::InvalidTracestate(_)), "{err}");
    }
}
