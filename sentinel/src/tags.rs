//! Scoped tags: key/value pairs attached to every record inside a scope.
//!
//! Tags are merged when a scope opens (inner keys shadow outer ones), so a
//! record only takes a reference-counted pointer to the merged set; they are
//! serialized by the writer, never on the caller's thread.
//!
//! ```
//! use sentinel::{tag, Tags};
//!
//! let _request = Tags::new().with("env", "prod").with("user_id", 1).enter();
//! {
//!     let _inner = tag("user_id", 2); // shadows the outer user_id
//!     assert_eq!(sentinel::tags::current()["user_id"], 2);
//!     assert_eq!(sentinel::tags::current()["env"], "prod");
//! }
//! assert_eq!(sentinel::tags::current()["user_id"], 1);
//! ```
//!
//! Futures carry tags with [`TagsFutureExt::with_tags`], or by capturing the
//! whole context with [`crate::context::FutureExt::in_current_context`].
//!
//! # In async code
//!
//! [`TagGuard`] changes this thread's state, so it is not `Send` and must not
//! be held across `.await`. The `Send` form is a scoped future, which may be
//! opened anywhere, also inside an async fn:
//!
//! ```
//! use sentinel::Tags;
//! use sentinel::tags::TagsFutureExt;
//!
//! #[sentinel::trace]
//! async fn handler(tenant: &'static str) {
//!     async {
//!         tokio::task::yield_now().await;
//!         assert_eq!(sentinel::tags::current()["tenant"], tenant);
//!     }
//!     .with_tags(Tags::new().with("tenant", tenant))
//!     .await;
//! }
//!
//! fn is_send<T: Send>(_: &T) {}
//! is_send(&handler("acme"));
//! ```
//!
//! Its rules: the scope is entered on every poll of the future it wraps,
//! on whichever thread polls it, and left after each poll, so it never
//! leaks to other tasks. It covers the records of spans that run inside it
//! (not the enclosing span's own record, which began outside it: use
//! [`record`](fn@crate::record) for that). A task spawned inside starts
//! without these tags unless its future carries them
//! ([`in_current_context`](crate::context::FutureExt::in_current_context) or
//! `with_tags` where it is spawned).

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::context::{Scope, WithContext, current_tags, replace_tags, sealed};
pub use crate::tagset::TagSet;

/// A builder of tags to open as a scope.
#[derive(Clone, Debug, Default)]
#[must_use = "tags do nothing until entered, run or attached to a future"]
pub struct Tags {
    entries: Vec<(Cow<'static, str>, Value)>,
}

impl Tags {
    /// No tags yet.
    pub fn new() -> Self {
        Tags::default()
    }

    /// Adds a key; any JSON value (`impl Into<serde_json::Value>`) is accepted.
    pub fn with(mut self, key: impl Into<Cow<'static, str>>, value: impl Into<Value>) -> Self {
        let key = key.into();
        let value = value.into();
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.entries.push((key, value)),
        }
        self
    }

    /// Opens the scope on this thread until the guard drops.
    pub fn enter(&self) -> TagGuard {
        let merged = Arc::new(TagSet::merged(current_tags().as_deref(), &self.entries));
        TagGuard {
            previous: replace_tags(Some(merged)),
            _not_send: std::marker::PhantomData,
        }
    }

    /// Runs `f` inside the scope.
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = self.enter();
        f()
    }
}

/// Opens a scope with a single tag; shorthand for `Tags::new().with(k, v).enter()`.
pub fn tag(key: impl Into<Cow<'static, str>>, value: impl Into<Value>) -> TagGuard {
    Tags::new().with(key, value).enter()
}

/// The tags in scope on this thread, as a JSON object (empty outside any scope).
pub fn current() -> Value {
    let mut map = Map::new();
    if let Some(set) = current_tags() {
        for (k, v) in set.iter() {
            map.insert(k.to_owned(), v.clone());
        }
    }
    Value::Object(map)
}

/// Closes a tag scope when dropped, restoring the outer tags.
#[must_use = "the scope closes when the guard drops"]
pub struct TagGuard {
    previous: Option<Arc<TagSet>>,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl fmt::Debug for TagGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TagGuard").finish_non_exhaustive()
    }
}

impl Drop for TagGuard {
    fn drop(&mut self) {
        replace_tags(self.previous.take());
    }
}

/// A future that runs inside a tag scope on every poll: the one
/// context-carrying adapter, carrying [`Tags`].
///
/// Created by [`TagsFutureExt::with_tags`].
pub type WithTags<F> = WithContext<F, Tags>;

impl sealed::Sealed for Tags {}

impl Scope for Tags {
    type Guard = TagGuard;

    fn enter_scope(&self) -> TagGuard {
        self.enter()
    }
}

/// Attaches tags to a future.
pub trait TagsFutureExt: Future + Sized {
    /// Every record produced while `self` is polled carries these tags (merged
    /// over the tags in scope at each poll).
    fn with_tags(self, tags: Tags) -> WithTags<Self> {
        WithContext::new(self, tags)
    }
}

impl<F: Future> TagsFutureExt for F {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inner_scope_shadows_outer_and_restores_on_exit() {
        let _a = Tags::new().with("env", "prod").with("user_id", 1).enter();
        {
            let _b = tag("user_id", 2);
            let set = current_tags().unwrap();
            let keys: Vec<_> = set.iter().map(|(k, v)| (k.to_owned(), v.clone())).collect();
            assert_eq!(
                keys,
                vec![
                    ("env".into(), Value::from("prod")),
                    ("user_id".into(), Value::from(2))
                ]
            );
        }
        assert_eq!(current()["user_id"], 1);
    }

    #[test]
    fn no_scope_means_no_tags() {
        assert!(current_tags().is_none());
        assert_eq!(current(), Value::Object(Map::new()));
    }
}
