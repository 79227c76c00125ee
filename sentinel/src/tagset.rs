//! The merged tags a record carries: a leaf shared by the context (which
//! holds the tags in scope), the tag scopes, and the encoder.

use std::borrow::Cow;

use serde_json::Value;

/// An immutable, merged set of tags, shared by every record in its scope.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TagSet {
    pub(crate) entries: Vec<(Cow<'static, str>, Value)>,
    /// Length of the encoded `"tags":{…}` part, charged to each record
    /// against the queue's byte budget.
    pub(crate) encoded_len: usize,
}

impl TagSet {
    /// Tags in insertion order, outer scope first.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(k, v)| (k.as_ref(), v))
    }

    /// Whether there are no tags.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn merged(outer: Option<&TagSet>, inner: &[(Cow<'static, str>, Value)]) -> TagSet {
        let mut entries = outer.map(|o| o.entries.clone()).unwrap_or_default();
        for (k, v) in inner {
            match entries.iter_mut().find(|(ek, _)| ek == k) {
                Some(slot) => slot.1 = v.clone(),
                None => entries.push((k.clone(), v.clone())),
            }
        }
        let encoded_len = entries
            .iter()
            .map(|(k, v)| k.len() + 4 + serde_json::to_vec(v).map_or(0, |bytes| bytes.len()))
            .sum::<usize>()
            + 10;
        TagSet {
            entries,
            encoded_len,
        }
    }
}

/// Tags fixed at compile time by `#[trace(tags(..))]`: keys and values,
/// each value already JSON text. Made by the macro as a `static`, so a span
/// carries one pointer to them.
#[doc(hidden)]
#[derive(Debug)]
pub struct ConstTags {
    tags: &'static [(&'static str, &'static str)],
    encoded_len: usize,
}

impl ConstTags {
    /// `tags` as `(key, value as JSON text)` pairs; the macro checks both.
    pub const fn new(tags: &'static [(&'static str, &'static str)]) -> Self {
        let mut encoded_len = 0;
        let mut i = 0;
        while i < tags.len() {
            encoded_len += tags[i].0.len() + tags[i].1.len() + 4;
            i += 1;
        }
        ConstTags { tags, encoded_len }
    }

    /// The pairs, in the attribute's order.
    pub(crate) fn pairs(&self) -> &'static [(&'static str, &'static str)] {
        self.tags
    }
}

/// One tag a span recorded: key and JSON value.
pub(crate) type Tag = (Cow<'static, str>, Value);

/// A span's own tags, which its children do not inherit: the constants of
/// `#[trace(tags(..))]`, then what `args(..)` captured and
/// [`record`](fn@crate::record) added, in that order (a later key wins, and
/// is written where it comes last).
#[derive(Debug, Default)]
pub(crate) struct OwnTags {
    pub(crate) consts: Option<&'static ConstTags>,
    pub(crate) values: Option<Box<[Tag]>>,
}

impl OwnTags {
    /// Whether the span has no tags of its own.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.consts.is_none() && self.values.is_none()
    }

    /// An estimate of the encoded length, made without encoding anything.
    pub(crate) fn approx_len(&self) -> usize {
        self.consts.map_or(0, |c| c.encoded_len)
            + self
                .values
                .iter()
                .flatten()
                .map(|(k, v)| k.len() + 4 + approx_json_len(v))
                .sum::<usize>()
    }
}

/// A cheap estimate of `value`'s JSON length (strings without escapes).
fn approx_json_len(value: &Value) -> usize {
    match value {
        Value::Null => 4,
        Value::Bool(_) => 5,
        Value::Number(_) => 20,
        Value::String(s) => s.len() + 2,
        Value::Array(items) => 2 + items.iter().map(|v| approx_json_len(v) + 1).sum::<usize>(),
        Value::Object(map) => {
            2 + map
                .iter()
                .map(|(k, v)| k.len() + 4 + approx_json_len(v))
                .sum::<usize>()
        }
    }
}
