//! Whether the client is delivering: [`Health`], set by the worker as answers come in and
//! read by [`Client::health`](crate::Client::health) at any time, so a wrong key or a dead
//! endpoint shows at once rather than at the next flush or at shutdown.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// Least time between two warnings about the client turning unhealthy.
pub const HEALTH_WARNING_INTERVAL: Duration = Duration::from_secs(60);

/// What the last answers say about delivery; see [`Client::health`](crate::Client::health).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Health {
    /// The last batch was delivered, or none has been answered yet.
    Healthy,
    /// The server refused the API key (401 or 403): nothing gets through until the key is
    /// fixed. Batches are given up on (and reported) meanwhile.
    Unauthorized {
        /// The status the server answered with.
        status: u16,
    },
    /// A batch was given up on after the retry budget: the endpoint is down, unreachable,
    /// failing or busy. New batches keep being tried; the first delivered one makes the
    /// client healthy again.
    Unreachable {
        /// The last attempt's error, e.g. `connection failed: ...` or `status 503: ...`.
        reason: String,
    },
}

impl Health {
    /// `true` for [`Health::Healthy`].
    pub fn is_healthy(&self) -> bool {
        matches!(self, Health::Healthy)
    }
}

/// The shared health state: a flag for the cheap check, the details behind a lock that only
/// the worker takes when the state changes.
#[derive(Debug)]
pub(crate) struct HealthCell {
    healthy: AtomicBool,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    health: Health,
    last_warning: Option<Instant>,
}

impl Default for HealthCell {
    fn default() -> Self {
        HealthCell {
            healthy: AtomicBool::new(true),
            state: Mutex::new(State {
                health: Health::Healthy,
                last_warning: None,
            }),
        }
    }
}

impl HealthCell {
    pub(crate) fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    pub(crate) fn get(&self) -> Health {
        self.lock().health.clone()
    }

    /// Worker side, after a delivered batch: a flag read unless the client was unhealthy.
    pub(crate) fn delivered(&self) {
        if !self.is_healthy() {
            self.lock().health = Health::Healthy;
            self.healthy.store(true, Ordering::Release);
            tracing::info!(target: "master_log_client", "log server is delivering again");
        }
    }

    /// Worker side: records a failure; the first one, and then at most one per
    /// [`HEALTH_WARNING_INTERVAL`], is a `tracing` warning.
    pub(crate) fn failed(&self, health: Health) {
        let mut state = self.lock();
        let now = Instant::now();
        let due = state
            .last_warning
            .is_none_or(|at| now.duration_since(at) >= HEALTH_WARNING_INTERVAL);
        if due {
            state.last_warning = Some(now);
            tracing::warn!(target: "master_log_client", health = ?health, "log client is unhealthy");
        }
        state.health = health;
        self.healthy.store(false, Ordering::Release);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state stays consistent even if a holder panicked: it is replaced whole.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
