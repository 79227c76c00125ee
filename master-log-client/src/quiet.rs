//! Marks code that runs on the client's behalf (its worker task, direct-mode sends), so the
//! `tracing` bridge never forwards what the client itself causes to be logged.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

thread_local! {
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread is polling the client's own work right now.
#[cfg_attr(
    all(not(feature = "tracing"), not(test)),
    expect(dead_code, reason = "read by the tracing layer")
)]
pub(crate) fn is_quiet() -> bool {
    QUIET.try_with(Cell::get).unwrap_or(false)
}

/// Polls `inner` with this thread marked quiet; the mark is undone after each poll, even one
/// that panics.
pub(crate) struct Quiet<F> {
    inner: Pin<Box<F>>,
}

impl<F: Future> Quiet<F> {
    pub(crate) fn new(inner: F) -> Self {
        Quiet {
            inner: Box::pin(inner),
        }
    }
}

struct Restore(bool);

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = QUIET.try_with(|q| q.set(self.0));
    }
}

impl<F: Future> Future for Quiet<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _restore = Restore(QUIET.try_with(|q| q.replace(true)).unwrap_or(false));
        self.inner.as_mut().poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn quiet_mark_holds_inside_polls_only() {
        assert!(!is_quiet());
        let inside = Quiet::new(async {
            let before = is_quiet();
            tokio::task::yield_now().await;
            before && is_quiet()
        })
        .await;
        assert!(inside);
        assert!(!is_quiet());
    }
}
