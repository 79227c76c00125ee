//! `--format otlp-json`: OpenTelemetry `ExportTraceServiceRequest`s in the OTLP/JSON encoding,
//! one request per line, as the collector's `otlpjsonfile` receiver reads them and as an
//! OTLP/HTTP endpoint accepts them (`Content-Type: application/json`).
//!
//! - One `resourceSpans` per input, whose resource has `service.name` (the `--service` flag,
//!   else the input's file name without extension, else `sentinel`); one `scopeSpans` with
//!   scope `sentinel`.
//! - `traceId` is 32 hex digits (a 16-hex id of an older file is left-padded with zeros),
//!   `spanId`/`parentSpanId` 16; hex, not base64, as OTLP/JSON requires. A root has no
//!   `parentSpanId`.
//! - `startTimeUnixNano` = end − duration, `endTimeUnixNano` = the record's `timestamp`, as
//!   decimal strings (the JSON mapping of 64-bit integers).
//! - `kind` is `SPAN_KIND_INTERNAL` (1): the records do not say which spans served requests.
//! - `status.code` is `STATUS_CODE_ERROR` (2) with the error as message for a failed span, else
//!   unset (0); a failed span also has an `exception` event with `exception.type` and
//!   `exception.message`.
//! - `attributes` are the tags (strings, booleans, integers as `intValue` strings, other
//!   numbers as `doubleValue`, arrays and objects as `arrayValue`/`kvlistValue`, null as an
//!   empty value), then `sentinel.status`, `sentinel.cpu_time_ms` and `sentinel.slow`.

use std::io::{self, Write};

use serde::Serialize;

use crate::spans::{Span, SpanSet, Status};

/// Spans per request (per line) unless `--batch-spans` says otherwise.
pub const DEFAULT_BATCH_SPANS: usize = 512;

/// `SPAN_KIND_INTERNAL`.
const KIND_INTERNAL: u8 = 1;
/// `STATUS_CODE_ERROR`.
const STATUS_ERROR: u8 = 2;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Request<'a> {
    resource_spans: Vec<ResourceSpans<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ResourceSpans<'a> {
    resource: Resource<'a>,
    scope_spans: [ScopeSpans<'a>; 1],
}

#[derive(Debug, Serialize)]
struct Resource<'a> {
    attributes: [KeyValue<'a>; 1],
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ScopeSpans<'a> {
    scope: Scope,
    spans: Vec<OtlpSpan<'a>>,
}

#[derive(Debug, Serialize)]
struct Scope {
    name: &'static str,
    version: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct OtlpSpan<'a> {
    trace_id: String,
    span_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_span_id: Option<String>,
    name: &'a str,
    kind: u8,
    start_time_unix_nano: String,
    end_time_unix_nano: String,
    attributes: Vec<KeyValue<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    events: Vec<Event<'a>>,
    status: SpanStatus,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Event<'a> {
    time_unix_nano: String,
    name: &'static str,
    attributes: Vec<KeyValue<'a>>,
}

#[derive(Debug, Serialize)]
struct SpanStatus {
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    code: u8,
}

#[derive(Debug, Serialize)]
struct KeyValue<'a> {
    key: &'a str,
    value: AnyValue<'a>,
}

/// `AnyValue`: exactly one of its fields, or none for null.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
enum AnyValue<'a> {
    StringValue(&'a str),
    BoolValue(bool),
    IntValue(String),
    DoubleValue(f64),
    ArrayValue(Values<AnyValue<'a>>),
    KvlistValue(Values<KeyValue<'a>>),
    #[serde(serialize_with = "empty_object")]
    Empty,
}

#[derive(Debug, Serialize)]
struct Values<T> {
    values: Vec<T>,
}

fn empty_object<S: serde::Serializer>(s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    s.serialize_map(Some(0))?.end()
}

impl<'a> AnyValue<'a> {
    fn from_json(v: &'a serde_json::Value) -> AnyValue<'a> {
        use serde_json::Value;
        match v {
            Value::String(s) => AnyValue::StringValue(s),
            Value::Bool(b) => AnyValue::BoolValue(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => AnyValue::IntValue(i.to_string()),
                None => AnyValue::DoubleValue(n.as_f64().unwrap_or_default()),
            },
            Value::Array(items) => AnyValue::ArrayValue(Values {
                values: items.iter().map(AnyValue::from_json).collect(),
            }),
            Value::Object(map) => AnyValue::KvlistValue(Values {
                values: attributes(map),
            }),
            Value::Null => AnyValue::Empty,
        }
    }
}

fn attributes(map: &serde_json::Map<String, serde_json::Value>) -> Vec<KeyValue<'_>> {
    map.iter()
        .map(|(k, v)| KeyValue {
            key: k,
            value: AnyValue::from_json(v),
        })
        .collect()
}

fn otlp_span(s: &Span) -> OtlpSpan<'_> {
    let mut attrs = attributes(&s.tags);
    attrs.push(KeyValue {
        key: "sentinel.status",
        value: AnyValue::StringValue(s.status.as_str()),
    });
    if let Some(cpu) = s.cpu_ms {
        attrs.push(KeyValue {
            key: "sentinel.cpu_time_ms",
            value: AnyValue::DoubleValue(cpu),
        });
    }
    if s.slow {
        attrs.push(KeyValue {
            key: "sentinel.slow",
            value: AnyValue::BoolValue(true),
        });
    }
    let failed = s.status == Status::Error;
    let mut events = Vec::new();
    if failed {
        let mut e = Vec::new();
        if let Some(t) = &s.error_type {
            e.push(KeyValue {
                key: "exception.type",
                value: AnyValue::StringValue(t),
            });
        }
        if let Some(m) = &s.error {
            e.push(KeyValue {
                key: "exception.message",
                value: AnyValue::StringValue(m),
            });
        }
        events.push(Event {
            time_unix_nano: s.end_ns.to_string(),
            name: "exception",
            attributes: e,
        });
    }
    OtlpSpan {
        trace_id: s.trace_hex(),
        span_id: s.span_hex(),
        parent_span_id: s.parent_hex(),
        name: &s.name,
        kind: KIND_INTERNAL,
        start_time_unix_nano: s.start_ns.to_string(),
        end_time_unix_nano: s.end_ns.to_string(),
        attributes: attrs,
        events,
        status: SpanStatus {
            message: if failed { s.error_text() } else { None },
            code: if failed { STATUS_ERROR } else { 0 },
        },
    }
}

/// The spans of `set` as OTLP/JSON requests of at most `batch` spans each, one JSON document
/// per item; `services` names each input's `service.name`.
pub fn requests<'a>(
    set: &'a SpanSet,
    services: &'a [String],
    batch: usize,
) -> impl Iterator<Item = (usize, Vec<u8>)> + 'a {
    set.spans.chunks(batch.max(1)).map(move |chunk| {
        let mut by_source: Vec<ResourceSpans<'a>> = Vec::new();
        let mut slot: Vec<Option<usize>> = vec![None; services.len()];
        for s in chunk {
            let at = *slot[s.source].get_or_insert_with(|| {
                by_source.push(ResourceSpans {
                    resource: Resource {
                        attributes: [KeyValue {
                            key: "service.name",
                            value: AnyValue::StringValue(&services[s.source]),
                        }],
                    },
                    scope_spans: [ScopeSpans {
                        scope: Scope {
                            name: "sentinel",
                            version: env!("CARGO_PKG_VERSION"),
                        },
                        spans: Vec::new(),
                    }],
                });
                by_source.len() - 1
            });
            by_source[at].scope_spans[0].spans.push(otlp_span(s));
        }
        let json = serde_json::to_vec(&Request {
            resource_spans: by_source,
        })
        .expect("OTLP JSON serialises");
        (chunk.len(), json)
    })
}

/// Writes the requests as JSON lines.
///
/// # Errors
///
/// Returns the writer's error.
pub fn write<W: Write + ?Sized>(
    set: &SpanSet,
    services: &[String],
    batch: usize,
    out: &mut W,
) -> io::Result<()> {
    for (_, line) in requests(set, services, batch) {
        out.write_all(&line)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}
