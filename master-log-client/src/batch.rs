//! Batching rules: a batch is cut when it holds `batch_size` events or when its oldest event
//! is `flush_interval` old, and whatever is pending is cut on flush and shutdown.
//!
//! Events are encoded once, straight into the request body `{"logs":[...]}`, so sending a
//! batch (and retrying it) copies nothing. A batch remembers where each event lies in its
//! body, so a batch the server finds too large can be split without decoding it.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use crate::event::{Event, generated_id};

const PREFIX: &[u8] = b"{\"logs\":[";
const SUFFIX: &[u8] = b"]}";

/// An encoded batch request body and the number of events in it. Cloning is cheap.
#[derive(Debug, Clone)]
pub(crate) struct Batch {
    pub(crate) body: Bytes,
    pub(crate) len: usize,
    /// Sent as `Idempotency-Key`: the same for every attempt at this batch, so a server can
    /// drop a repeat of a request whose answer was lost.
    pub(crate) id: [u8; 32],
    /// Where each event's JSON object lies in `body`.
    events: Arc<[Range<usize>]>,
}

impl Batch {
    /// Builds a batch from encoded event objects.
    pub(crate) fn from_events<'a>(events: impl IntoIterator<Item = &'a [u8]>) -> Batch {
        Batch::with_id(generated_id(), events)
    }

    /// Builds a batch from encoded event objects, keeping the id of the batch they came from
    /// (read back from the spool).
    pub(crate) fn with_id<'a>(id: [u8; 32], events: impl IntoIterator<Item = &'a [u8]>) -> Batch {
        let mut body = PREFIX.to_vec();
        let mut ranges = Vec::new();
        for (i, event) in events.into_iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            let start = body.len();
            body.extend_from_slice(event);
            ranges.push(start..body.len());
        }
        body.extend_from_slice(SUFFIX);
        Batch {
            body: Bytes::from(body),
            len: ranges.len(),
            id,
            events: ranges.into(),
        }
    }

    /// The encoded events, in order.
    pub(crate) fn events(&self) -> impl Iterator<Item = &[u8]> {
        self.events.iter().map(|r| &self.body[r.clone()])
    }

    /// Splits the batch into two halves (each with its own id); `None` for one event.
    pub(crate) fn split(&self) -> Option<(Batch, Batch)> {
        if self.len < 2 {
            return None;
        }
        let events: Vec<&[u8]> = self.events().collect();
        let (a, b) = events.split_at(self.len / 2);
        Some((
            Batch::from_events(a.iter().copied()),
            Batch::from_events(b.iter().copied()),
        ))
    }
}

/// Accumulates encoded events until a batch is due.
#[derive(Debug)]
pub(crate) struct Batcher {
    buf: Vec<u8>,
    len: usize,
    batch_size: usize,
    flush_interval: Duration,
    oldest: Option<Instant>,
    size_hint: usize,
    ranges: Vec<Range<usize>>,
}

impl Batcher {
    pub(crate) fn new(batch_size: usize, flush_interval: Duration) -> Self {
        Batcher {
            buf: Vec::new(),
            len: 0,
            batch_size,
            flush_interval,
            oldest: None,
            size_hint: 0,
            ranges: Vec::new(),
        }
    }

    /// Adds one event; returns `true` when the batch is now full.
    pub(crate) fn push(&mut self, event: &Event) -> bool {
        if self.len == 0 {
            self.buf.reserve(self.size_hint.max(PREFIX.len() + 512));
            self.buf.extend_from_slice(PREFIX);
            self.oldest = Some(Instant::now());
        } else {
            self.buf.push(b',');
        }
        let start = self.buf.len();
        event.encode_into(&mut self.buf);
        self.ranges.push(start..self.buf.len());
        self.len += 1;
        self.is_full()
    }

    /// Events that still fit in the current batch.
    pub(crate) fn room(&self) -> usize {
        self.batch_size.saturating_sub(self.len)
    }

    /// Number of events in the partial batch.
    pub(crate) fn pending(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn is_full(&self) -> bool {
        self.len >= self.batch_size
    }

    /// When the pending events must be sent even though the batch is not full.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.oldest.map(|t| t + self.flush_interval)
    }

    /// Cuts the pending events into a batch, if there are any.
    pub(crate) fn take(&mut self) -> Option<Batch> {
        if self.len == 0 {
            return None;
        }
        self.buf.extend_from_slice(SUFFIX);
        // Remember the size so the next batch allocates once.
        self.size_hint = self.buf.len();
        let body = Bytes::from(std::mem::take(&mut self.buf));
        let len = std::mem::take(&mut self.len);
        self.oldest = None;
        let events = Arc::from(std::mem::take(&mut self.ranges));
        Some(Batch {
            body,
            len,
            id: generated_id(),
            events,
        })
    }
}

/// Encodes `events` as one batch request body; used by benchmarks and tests.
#[doc(hidden)]
pub fn encode_batch<'a>(events: impl IntoIterator<Item = &'a Event>) -> Vec<u8> {
    let mut b = Batcher::new(usize::MAX, Duration::MAX);
    for e in events {
        b.push(e);
    }
    b.take()
        .map(|batch| batch.body.to_vec())
        .unwrap_or_else(|| [PREFIX, SUFFIX].concat())
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    #[test]
    fn batch_is_full_at_batch_size() {
        let mut b = Batcher::new(2, Duration::from_secs(1));
        assert!(!b.push(&Event::info("a")));
        assert!(b.push(&Event::info("b")));
        let batch = b.take().unwrap();
        assert_eq!(batch.len, 2);
        assert!(b.is_empty() && b.take().is_none());
    }

    #[test]
    fn split_halves_keep_the_events_in_order_with_new_ids() {
        let mut b = Batcher::new(10, Duration::from_secs(1));
        for body in ["a", "b", "c"] {
            b.push(&Event::info(body));
        }
        let batch = b.take().unwrap();
        let bodies = |batch: &Batch| -> Vec<String> {
            let v: Value = serde_json::from_slice(&batch.body).unwrap();
            v["logs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["body"].as_str().unwrap().to_owned())
                .collect()
        };
        let (left, right) = batch.split().unwrap();
        assert_eq!(
            (bodies(&left), bodies(&right)),
            (vec!["a".to_owned()], vec!["b".to_owned(), "c".to_owned()])
        );
        assert_eq!((left.len, right.len), (1, 2));
        assert_ne!(left.id, batch.id);
        assert!(left.split().is_none());
        let (b1, c1) = right.split().unwrap();
        assert_eq!(bodies(&b1).concat() + &bodies(&c1).concat(), "bc");
    }

    #[tokio::test(start_paused = true)]
    async fn deadline_follows_the_oldest_event() {
        let mut b = Batcher::new(10, Duration::from_secs(1));
        assert_eq!(b.deadline(), None);
        let t0 = Instant::now();
        b.push(&Event::info("a"));
        tokio::time::sleep(Duration::from_millis(500)).await;
        b.push(&Event::info("b"));
        assert_eq!(b.deadline(), Some(t0 + Duration::from_secs(1)));
        b.take();
        assert_eq!(b.deadline(), None);
    }

    #[test]
    fn body_is_a_logs_array_in_order() {
        let body = encode_batch(&[Event::info("one"), Event::warn("two")]);
        let v: Value = serde_json::from_slice(&body).unwrap();
        let logs = v["logs"].as_array().unwrap();
        assert_eq!(logs.len(), 2);
        assert_eq!(logs[0]["body"], "one");
        assert_eq!(logs[1]["severity"], "warn");
        let empty: Value = serde_json::from_slice(&encode_batch(&[])).unwrap();
        assert_eq!(empty["logs"], serde_json::json!([]));
    }
}
