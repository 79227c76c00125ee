//! What a producer hands the writer: plain data, nothing formatted yet. How
//! it becomes a line is [`crate::format`]'s business.

use std::borrow::Cow;
use std::sync::Arc;

use serde::Serialize;

use crate::tagset::{OwnTags, TagSet};

/// How a span ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// Returned normally (for a `Result`, returned `Ok`).
    Success,
    /// Returned `Err`, panicked, or was marked failed.
    Error,
    /// An async call dropped before it completed.
    Cancelled,
}

impl Status {
    /// The value written in the `status` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Success => "success",
            Status::Error => "error",
            Status::Cancelled => "cancelled",
        }
    }
}

/// What went wrong, captured on the caller's thread (the error value itself is
/// returned to the caller, so its `Display` must be rendered there).
#[derive(Clone, Debug, PartialEq, Eq)]
#[doc(hidden)]
pub struct ErrorInfo {
    /// `std::any::type_name` of the error, or a fixed word like `"panic"`;
    /// module paths are stripped by the writer.
    pub(crate) type_name: Cow<'static, str>,
    pub(crate) message: String,
}

/// Whether a span record names a function or a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NameKind {
    Function,
    Label,
}

/// One finished span, as sent from the caller to the writer. Plain data: no
/// formatting has happened yet.
#[derive(Debug)]
pub(crate) struct SpanRecord {
    pub(crate) name: Cow<'static, str>,
    pub(crate) kind: NameKind,
    pub(crate) status: Status,
    /// Duration above which the line gets `"slow": true`; `u64::MAX` for none.
    pub(crate) slow_ns: u64,
    /// Clock ticks (see `clock::now`), converted by the writer.
    pub(crate) start: u64,
    pub(crate) end: u64,
    /// `u64::MAX` when CPU time is switched off.
    pub(crate) cpu_ns: u64,
    /// The trace id's high and low 64 bits: two `u64`s keep the record
    /// 8-byte aligned, and so 16 bytes smaller in the queue than a `u128`.
    pub(crate) trace_id: [u64; 2],
    pub(crate) span_id: u64,
    /// Zero for a root span.
    pub(crate) parent_span_id: u64,
    pub(crate) tags: Option<Arc<TagSet>>,
    /// The span's own tags, written over the scope's `tags`; inline, so a
    /// span with constant tags only allocates nothing for them.
    pub(crate) own: OwnTags,
    pub(crate) error: Option<Box<ErrorInfo>>,
}

pub(crate) const NO_CPU: u64 = u64::MAX;

/// A user record of any serializable type, serialized by the writer.
pub(crate) trait ErasedRecord: Send {
    fn to_value(&self) -> Result<serde_json::Value, serde_json::Error>;
}

impl<T: Serialize + Send> ErasedRecord for T {
    fn to_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::to_value(self)
    }
}

/// What a producer stages for the writer.
pub(crate) enum Entry {
    Span(SpanRecord),
    User {
        /// Clock ticks when the record was logged.
        at: u64,
        record: Box<dyn ErasedRecord>,
    },
    /// Made by the writer where records were dropped: how many, why, when.
    Dropped(DropMarker),
    /// Text formatted by the producer (a `tracing_subscriber::fmt` event),
    /// written as it is; ends with a newline.
    #[cfg_attr(
        not(feature = "tracing"),
        expect(dead_code, reason = "only the tracing MakeWriter makes lines")
    )]
    Line {
        /// Clock ticks when the line was handed over.
        at: u64,
        bytes: Box<[u8]>,
    },
}

/// The marker line the writer leaves where records were dropped:
///
/// ```text
/// {"timestamp":"…","status":"dropped","dropped":{"count":120,
///  "reasons":{"stalled":120},"from":"…","to":"…"}}
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DropMarker {
    /// Drops by reason, in a fixed order, zero counts left out.
    pub(crate) reasons: Vec<(&'static str, u64)>,
    /// Clock ticks of the first and the last drop.
    pub(crate) first: u64,
    pub(crate) last: u64,
}

/// Estimated bytes of a span line besides its name, tags and error.
const SPAN_LINE_BYTES: u64 = 240;
/// Estimated bytes of a user record besides its inline size.
const USER_RECORD_BYTES: u64 = 64;

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Entry::Span(s) => s.fmt(f),
            Entry::User { at, .. } => f.debug_struct("User").field("at", at).finish(),
            Entry::Dropped(m) => m.fmt(f),
            Entry::Line { at, bytes } => f
                .debug_struct("Line")
                .field("at", at)
                .field("len", &bytes.len())
                .finish(),
        }
    }
}

impl Entry {
    /// The tick reading when the entry was produced, used to order a write batch.
    pub(crate) fn at(&self) -> u64 {
        match self {
            Entry::Span(s) => s.end,
            Entry::User { at, .. } => *at,
            Entry::Dropped(m) => m.last,
            Entry::Line { at, .. } => *at,
        }
    }

    /// What the entry is charged against the queue's byte budget: a span's
    /// line length estimated from its parts; a user record's inline size plus
    /// a constant (what it owns on the heap is not seen before it is
    /// serialized on the writer).
    #[inline]
    pub(crate) fn approx_bytes(&self) -> u64 {
        match self {
            Entry::Span(s) => {
                SPAN_LINE_BYTES
                    + s.name.len() as u64
                    + s.tags.as_ref().map_or(0, |t| t.encoded_len as u64)
                    + s.own.approx_len() as u64
                    + s.error
                        .as_ref()
                        .map_or(0, |e| (e.type_name.len() + e.message.len()) as u64)
            }
            Entry::User { record, .. } => {
                USER_RECORD_BYTES + std::mem::size_of_val::<dyn ErasedRecord>(&**record) as u64
            }
            Entry::Dropped(m) => 160 + 24 * m.reasons.len() as u64,
            Entry::Line { bytes, .. } => USER_RECORD_BYTES + bytes.len() as u64,
        }
    }
}

/// The message of a panic payload (`&str` or `String`), else a fixed word.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panicked".to_owned()
    }
}
