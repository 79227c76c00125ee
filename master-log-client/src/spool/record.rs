//! What one spool record holds: a batch's id (its `Idempotency-Key`) and its encoded
//! events, so a replayed batch is the same request as the first attempt and can still be
//! split on a 413.
//!
//! Layout: `id [u8; 32]`, then per event `length u32 (little-endian) | event JSON`.

use crate::batch::Batch;

const ID_LEN: usize = 32;

/// Appends `batch` as a record payload to `out`.
pub(crate) fn encode(batch: &Batch, out: &mut Vec<u8>) {
    out.extend_from_slice(&batch.id);
    for event in batch.events() {
        let len = u32::try_from(event.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(event);
    }
}

/// The batch in a record payload; `None` if the payload does not hold `events` events
/// (only possible if the checksum missed a corruption).
pub(crate) fn decode(payload: &[u8], events: u32) -> Option<Batch> {
    let id: [u8; ID_LEN] = payload.get(..ID_LEN)?.try_into().ok()?;
    let mut rest = &payload[ID_LEN..];
    // The count comes from the file: never trust it for more room than the payload can fill.
    let mut parts = Vec::with_capacity((events as usize).min(rest.len() / 4));
    while !rest.is_empty() {
        let len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        parts.push(rest.get(4..4 + len)?);
        rest = &rest[4 + len..];
    }
    (parts.len() == events as usize).then(|| Batch::with_id(id, parts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_comes_back_with_its_id_body_and_events() {
        let events: [&[u8]; 3] = [b"{\"body\":\"a\"}", b"{\"body\":\"b\"}", b"{}"];
        let batch = Batch::from_events(events);
        let mut payload = Vec::new();
        encode(&batch, &mut payload);
        let back = decode(&payload, 3).unwrap();
        assert_eq!(back.id, batch.id);
        assert_eq!(back.body, batch.body);
        assert_eq!(back.events().collect::<Vec<_>>(), events);
        assert!(back.split().is_some());
    }

    // regression: issue #14
    #[test]
    fn issue_14_a_huge_event_count_is_refused_without_reserving_room_for_it() {
        let batch = Batch::from_events([&b"{}"[..]]);
        let mut payload = Vec::new();
        encode(&batch, &mut payload);
        assert!(decode(&payload, u32::MAX).is_none());
    }

    #[test]
    fn a_payload_that_does_not_add_up_is_refused() {
        let batch = Batch::from_events([&b"{}"[..], b"{}"]);
        let mut payload = Vec::new();
        encode(&batch, &mut payload);
        assert!(decode(&payload, 3).is_none());
        assert!(decode(&payload[..payload.len() - 1], 2).is_none());
        assert!(decode(&payload[..10], 0).is_none());
    }
}
