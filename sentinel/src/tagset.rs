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
