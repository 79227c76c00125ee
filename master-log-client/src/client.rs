//! The [`Client`] handle and its [`ClientBuilder`].
//!
//! # Delivery
//!
//! In asynchronous mode (the default) [`Client::log`] puts the event on a bounded queue and
//! returns; a worker task, spawned on the tokio runtime the client was built in, encodes
//! events into `POST {endpoint}/api/v1/logs/batch` requests with the body `{"logs":[...]}`.
//! A batch is sent when it holds `batch_size` events (at once), when its oldest event is
//! `flush_interval` old, on [`Client::flush`] and on [`Client::shutdown`]. Batches are sent
//! one at a time, in order, at least `min_request_interval` apart.
//!
//! Answers with status 5xx, 408 or 429, connection errors and timeouts are retried with
//! exponential backoff from 100 ms to 10 s and jitter (or after the server's `Retry-After`,
//! capped at 5 minutes) for as long as the retry budget `max_retry_elapsed` (60 s) allows,
//! counted from the batch's first attempt: an outage shorter than the budget loses nothing.
//! (`max_retries` can cap the count as well; by default it does not. The original client's
//! fixed 8 retries gave up after about 23 s.) Each attempt's timeout is `timeout` times 3 per
//! earlier attempt, capped at 30 s, so a server slower than `timeout` is still answered.
//!
//! A 413 answer splits the batch in halves, each sent on its own (and split again if needed),
//! so only an event that is alone over the server's limit is given up on, reported with its
//! size ([`FailureKind::TooLarge`]). Other statuses (401, 403, 422, ...) are not retried.
//!
//! A batch given up on is dropped so the ones behind it go through, counted in
//! [`ClientStats::failed_batches`], logged as a `tracing` error, and reported by the next
//! flush or shutdown as [`Error::Undelivered`], each with its [`FailureKind`].
//!
//! Delivery is at least once. A request that timed out may have reached the server, so its
//! outcome is unknown ([`FlushReport::unknown_outcome_events`]; a batch given up after
//! such an attempt is [`FailureKind::Unknown`], not failed) and the retry may store a second
//! copy. To let the server or a reader drop such copies, every request carries the batch's
//! id in an `Idempotency-Key` header (the same for every attempt at one batch; the halves
//! of a split batch get new ids), and every event carries an id in `metadata.event_id`
//! (see [`Event::with_id`]).
//!
//! A success answer whose body is not `{"accepted": n}` counts the whole batch as accepted.
//!
//! With a spool ([`ClientBuilder::spool_dir`]), a batch whose attempt fails in a way that may
//! succeed later goes to disk at once instead of being retried in memory and then dropped;
//! the spool's oldest batch is the one retried, and everything spooled is sent once the
//! server answers again, by this process or the next. See [`crate::spool`].
//!
//! In direct mode (`async_mode(false)`) every [`Client::log`] sends its own
//! `POST {endpoint}/api/v1/logs` request and returns the server's answer; nothing is retried.
//!
//! # Backpressure
//!
//! With backpressure on (the default), each accepted enqueue by [`Client::log`] takes the next
//! slot of one pace shared by every handle and task of the client, a slot as long as the
//! moving average of seconds per accepted log over successful batch sends (weight 0.2; the
//! first measured batch replaces the `initial_send_seconds_per_log` seed, a change from the
//! original client), and waits until the slot has passed (at most `max_enqueue_sleep`). So the
//! client's producers together, however many, settle at the rate the server takes logs
//! instead of filling the queue. Sub-millisecond slots add up until they reach tokio's 1 ms
//! timer resolution. [`Client::try_log`] never pauses.
//!
//! When the queue is full, [`Client::log`] waits up to `queue_timeout` (5 s) for space by
//! default, then refuses the event with [`Error::QueueFull`]; with `drop_when_full` it
//! refuses at once (the original client's default). Refused events are counted in
//! [`ClientStats::dropped_full`]. A request handler should not propagate `log` errors with
//! `?`: a logging hiccup would fail the request.
//!
//! [`Client::health`] tells at once when the server refuses the key or a batch was given up
//! after the retry budget, with one rate-limited `tracing` warning.
//!
//! # Shutdown
//!
//! [`Client::shutdown`] sends everything queued, stops the worker and returns the report;
//! calling it again returns an empty report. Events logged afterwards fail with
//! [`Error::Closed`].
//!
//! `Drop` cannot wait. When the last handle of a client is dropped without a shutdown, the
//! worker still sends what is queued and then exits, best effort: this only happens if the
//! runtime keeps running long enough, so a program that returns from `main` right away loses
//! those events. Call [`Client::shutdown`] (or [`crate::shutdown`] for the default client)
//! before exiting.

use std::fmt;
use std::future::Future;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::backpressure::Pace;
use crate::batch::Batch;
use crate::config::{self, ClientBuilder, Config};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::health::Health;
use crate::http::Http;
use crate::spool::{Inbox, Replays, Spool};
#[cfg(doc)]
use crate::stats::FailureKind;
use crate::stats::{ClientStats, Counters, FlushReport, Receipt, SpoolCounters};
use crate::worker::{self, Attempt, Msg, Shared};

/// Why [`Client::try_log`] did not take an event; the event is handed back.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TryLogError {
    /// The queue is full; counted in [`ClientStats::dropped_full`].
    #[error("queue is full")]
    Full(Event),
    /// The client has been shut down.
    #[error("client is shut down")]
    Closed(Event),
    /// The client is in direct mode, where sending needs `.await`; use [`Client::log`].
    #[error("direct mode cannot send without waiting")]
    Direct(Event),
}

impl TryLogError {
    /// The event that was not taken.
    pub fn into_event(self) -> Event {
        match self {
            TryLogError::Full(e) | TryLogError::Closed(e) | TryLogError::Direct(e) => e,
        }
    }
}

/// A handle to a Master Log client. Cloning is cheap and shares the queue and worker.
///
/// See the [module documentation](crate::client) for delivery, backpressure and shutdown
/// semantics.
///
/// # Examples
///
/// ```
/// use master_log_client::{Client, Event};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> master_log_client::Result<()> {
/// let client = Client::builder()
///     .api_key("dev-key")
///     .endpoint("http://127.0.0.1:9")
///     .backpressure(false)
///     .build()?;
/// client.log(Event::info("Mount tracking enabled").tag("mount")).await?;
/// assert_eq!(client.stats().dropped_full, 0);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    // Field order matters: `mode` (the queue's sender) drops before `_wake_on_drop` runs, so
    // the woken worker finds the queue closed.
    mode: Mode,
    _wake_on_drop: WakeOnDrop,
    config: Config,
    shared: Arc<Shared>,
    /// Where `log` puts an event that found no room in the queue, with a spool.
    spool: Option<Inbox>,
    pace: Pace,
    shutdown_started: AtomicBool,
}

/// Wakes the worker when the last handle goes, so it sends what is queued and exits.
struct WakeOnDrop(Arc<Shared>);

impl Drop for WakeOnDrop {
    fn drop(&mut self) {
        self.0.wake.notify_one();
    }
}

enum Mode {
    Queue {
        tx: mpsc::Sender<Msg>,
        worker_done: watch::Receiver<()>,
    },
    Direct {
        http: Http,
    },
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.inner.config;
        f.debug_struct("Client")
            .field("batch_url", &c.urls.shown_batch())
            .field("async_mode", &c.async_mode)
            .field("config", c)
            .field("stats", &self.stats())
            .finish()
    }
}

macro_rules! client_helpers {
    ($($variant:ident $name:ident $doc:literal;)*) => {$(
        #[doc = concat!(
            "Logs `body` at [`Severity::", stringify!($variant), "`](crate::Severity::",
            stringify!($variant), "); see [`Client::log`].\n\n# Errors\n\nAs [`Client::log`].",
        )]
        pub async fn $name(&self, body: impl Into<String>) -> Result<Receipt> {
            self.log(Event::$name(body)).await
        }
    )*};
}

impl Client {
    /// Starts a builder; unset options fall back to the `MASTER_LOG_*` environment variables,
    /// then to the defaults in [`config`].
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Builds a client from the environment alone; same as `Client::builder().build()`.
    ///
    /// # Errors
    ///
    /// See [`ClientBuilder::build`].
    pub fn from_env() -> Result<Client> {
        Self::builder().build()
    }

    /// Sends an event: in asynchronous mode enqueues it and then applies backpressure; in
    /// direct mode sends it and returns the server's answer.
    ///
    /// # Errors
    ///
    /// [`Error::QueueFull`] when the queue is full (at once with `drop_when_full`, else after
    /// `queue_timeout`), [`Error::Closed`] after shutdown; in direct mode [`Error::Status`]
    /// or [`Error::Http`].
    ///
    /// # Cancel safety
    ///
    /// Once the event is queued, cancelling only skips the rest of the backpressure pause. A
    /// cancelled direct-mode send may or may not have reached the server.
    pub async fn log(&self, event: Event) -> Result<Receipt> {
        let inner = &*self.inner;
        inner.echo(&event);
        let tx = match &inner.mode {
            Mode::Direct { http } => {
                let mut body = Vec::with_capacity(512);
                event.encode_into(&mut body);
                return crate::quiet::Quiet::new(http.send_one(body)).await;
            }
            Mode::Queue { tx, .. } => tx,
        };
        // Try without a timer first: the queue is rarely full.
        let sent = match tx.try_send(Msg::Event(event)) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Error::Closed),
            Err(mpsc::error::TrySendError::Full(_)) if inner.config.drop_when_full => {
                Err(Error::QueueFull)
            }
            Err(mpsc::error::TrySendError::Full(msg)) => {
                match tx.send_timeout(msg, inner.config.queue_timeout).await {
                    Ok(()) => Ok(()),
                    Err(mpsc::error::SendTimeoutError::Timeout(Msg::Event(event))) => {
                        // No room in time: the spool takes it, if there is one.
                        match &inner.spool {
                            Some(spool) if spool.store(event) => {
                                return Ok(Receipt {
                                    spooled: true,
                                    ..Receipt::default()
                                });
                            }
                            _ => Err(Error::QueueFull),
                        }
                    }
                    Err(mpsc::error::SendTimeoutError::Timeout(_)) => Err(Error::QueueFull),
                    Err(mpsc::error::SendTimeoutError::Closed(_)) => Err(Error::Closed),
                }
            }
        };
        if let Err(err) = sent {
            if matches!(err, Error::QueueFull) {
                inner.count_drop();
            }
            return Err(err);
        }
        inner.shared.enqueued(tx);
        if inner.config.backpressure {
            inner.pause(tx).await;
        }
        Ok(Receipt {
            queued: true,
            ..Receipt::default()
        })
    }

    /// Enqueues an event without waiting, ever: no backpressure pause, no wait for space.
    ///
    /// Meant for synchronous code such as a `tracing` layer. Honours `echo`.
    ///
    /// # Errors
    ///
    /// Hands the event back in [`TryLogError::Full`] (counted as dropped),
    /// [`TryLogError::Closed`] or, in direct mode, [`TryLogError::Direct`].
    pub fn try_log(&self, event: Event) -> Result<(), TryLogError> {
        let inner = &*self.inner;
        let tx = match &inner.mode {
            Mode::Queue { tx, .. } => tx,
            Mode::Direct { .. } => return Err(TryLogError::Direct(event)),
        };
        inner.echo(&event);
        match tx.try_send(Msg::Event(event)) {
            Ok(()) => {
                inner.shared.enqueued(tx);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(Msg::Event(e))) => {
                inner.count_drop();
                Err(TryLogError::Full(e))
            }
            Err(mpsc::error::TrySendError::Closed(Msg::Event(e))) => Err(TryLogError::Closed(e)),
            // Only events were sent above.
            Err(_) => Ok(()),
        }
    }

    crate::event::with_severities!(client_helpers);

    /// Waits until every event enqueued before this call has been answered by the server
    /// (sent, or given up on) or, with a spool, written to the spool, and reports on all
    /// batches answered since the previous flush ([`FlushReport::spooled_events`] counts the
    /// spooled ones, which do not make it fail).
    ///
    /// Pending events are sent at once; no flush interval is waited out. In direct mode
    /// there is nothing to flush and the report is empty.
    ///
    /// # Errors
    ///
    /// [`Error::Undelivered`] with the report when some batches were given up on;
    /// [`Error::Timeout`] when `timeout` passed first (the events are still sent later);
    /// [`Error::Closed`] after shutdown.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a cancelled or timed-out flush loses nothing, and its counts go to the
    /// next flush's report.
    pub async fn flush(&self, timeout: Duration) -> Result<FlushReport> {
        let Mode::Queue { tx, .. } = &self.inner.mode else {
            return Ok(FlushReport::default());
        };
        let deadline = Instant::now() + timeout;
        let (reply, answer) = oneshot::channel();
        match tokio::time::timeout_at(deadline, tx.send(Msg::Flush(reply))).await {
            Err(_) => return Err(Error::Timeout),
            Ok(Err(_)) => return Err(Error::Closed),
            Ok(Ok(())) => self.inner.shared.wake.notify_one(),
        }
        match tokio::time::timeout_at(deadline, answer).await {
            Err(_) => Err(Error::Timeout),
            Ok(Err(_)) => Err(Error::Closed),
            Ok(Ok(report)) => report.into_result(),
        }
    }

    /// Sends everything queued, stops the worker and reports on the batches answered since the
    /// previous flush. Idempotent: later calls wait for the worker to stop and return an empty
    /// report.
    ///
    /// # Errors
    ///
    /// As [`Client::flush`], except that it never returns [`Error::Closed`]. On
    /// [`Error::Timeout`] the worker keeps sending in the background.
    pub async fn shutdown(&self, timeout: Duration) -> Result<FlushReport> {
        let Mode::Queue { tx, worker_done } = &self.inner.mode else {
            return Ok(FlushReport::default());
        };
        let deadline = Instant::now() + timeout;
        if self.inner.shutdown_started.swap(true, Ordering::AcqRel) {
            let mut done = worker_done.clone();
            return match tokio::time::timeout_at(deadline, async {
                while done.changed().await.is_ok() {}
            })
            .await
            {
                Ok(()) => Ok(FlushReport::default()),
                Err(_) => Err(Error::Timeout),
            };
        }
        let (reply, answer) = oneshot::channel();
        match tokio::time::timeout_at(deadline, tx.send(Msg::Shutdown(reply, deadline))).await {
            Err(_) => return Err(Error::Timeout),
            Ok(Err(_)) => return Ok(FlushReport::default()),
            Ok(Ok(())) => self.inner.shared.wake.notify_one(),
        }
        tracing::debug!(target: "master_log_client", reason = "shutdown", "stopping worker");
        match tokio::time::timeout_at(deadline, answer).await {
            Err(_) => Err(Error::Timeout),
            Ok(Err(_)) => Ok(FlushReport::default()),
            Ok(Ok(report)) => report.into_result(),
        }
    }

    /// What the last answers say about delivery: [`Health::Unauthorized`] as soon as the
    /// server refuses the key (401, 403), [`Health::Unreachable`] as soon as a batch is given
    /// up after the retry budget, [`Health::Healthy`] again once a batch is delivered. Turning
    /// unhealthy is also a `tracing` warning, at most one per
    /// [`HEALTH_WARNING_INTERVAL`](crate::HEALTH_WARNING_INTERVAL). Always healthy in direct
    /// mode, where each call returns its own error.
    pub fn health(&self) -> Health {
        self.inner.shared.health.get()
    }

    /// `true` unless [`Client::health`] says otherwise; a single atomic load.
    pub fn is_healthy(&self) -> bool {
        self.inner.shared.health.is_healthy()
    }

    /// A snapshot of the client's counters.
    pub fn stats(&self) -> ClientStats {
        let queued = match &self.inner.mode {
            Mode::Queue { tx, .. } => tx.max_capacity() - tx.capacity(),
            Mode::Direct { .. } => 0,
        };
        self.inner
            .shared
            .counters
            .snapshot(queued, self.inner.shared.rate.get())
    }
}

impl Inner {
    fn echo(&self, event: &Event) {
        if event.echo_override().unwrap_or(self.config.echo) {
            // Echo is best effort: a closed stdout must not fail the log call.
            let _ = writeln!(std::io::stdout().lock(), "{}", event.body());
        }
    }

    fn count_drop(&self) {
        Counters::add(&self.shared.counters.dropped_full, 1);
        // The queue was full: a peak the worker, busy elsewhere, may not see.
        if let Mode::Queue { tx, .. } = &self.mode {
            self.shared
                .counters
                .observe_queue_len(tx.max_capacity() - tx.capacity());
        }
        tracing::debug!(
            target: "master_log_client",
            count = 1u64,
            reason = "queue full",
            "event dropped",
        );
    }

    /// Waits for this log's slot in the client-wide pace.
    ///
    /// The slot is the measured seconds per log, scaled by how many events wait for a batch
    /// against one batch's worth: with less waiting the producers speed up (down to half the
    /// slot), with more they slow down (up to twice it). The measured time only covers the
    /// requests themselves, so on its own it paces a little under what the server takes; the
    /// correction keeps about one batch ready when the previous request returns, and the
    /// queue short.
    async fn pause(&self, tx: &mpsc::Sender<Msg>) {
        let target = self
            .config
            .batch_size
            .min(self.config.max_queue_size / 4)
            .max(1);
        let backlog = self.shared.backlog(tx);
        let scale = (backlog as f64 / target as f64).clamp(0.5, 2.0);
        let per_log = self.shared.rate.get().max(0.0) * scale;
        let per_log = Duration::try_from_secs_f64(per_log)
            .unwrap_or(Duration::MAX)
            .min(self.config.max_enqueue_sleep);
        if let Some(at) = self.pace.reserve(per_log, self.config.max_enqueue_sleep) {
            tokio::time::sleep_until(at).await;
        }
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("overrides", &self.overrides)
            .field("custom_environment", &self.env.is_some())
            .field("custom_http_client", &self.http_client.is_some())
            .finish()
    }
}

impl ClientBuilder {
    /// Sets the API key, sent as `Authorization: Bearer <key>`. Required; falls back to
    /// `MASTER_LOG_API_KEY`. Never shown in `Debug` output, errors or logs.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.overrides.api_key = Some(key.into());
        self
    }

    /// Sets the endpoint: the server root, `/api/v1`, `/api/v1/logs` or `/api/v1/logs/batch`;
    /// both URLs are derived from any of them. Required; falls back to `MASTER_LOG_ENDPOINT`.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.overrides.endpoint = Some(endpoint.into());
        self
    }

    /// Sends through `client` instead of a client of the crate's own, e.g. for a proxy, extra
    /// root certificates or connection limits. Default: a client with `TCP_NODELAY` and no
    /// redirects.
    ///
    /// The API key, content type, `User-Agent` and timeout are set on each request, so the
    /// given client needs none of them. Keep redirects off: a redirect would carry the key
    /// elsewhere.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// Replaces the process environment as the source of fallback values. Default: the
    /// process environment.
    ///
    /// Useful to read settings from elsewhere, or to ignore the environment entirely:
    ///
    /// ```
    /// use master_log_client::{Client, Error};
    ///
    /// let err = Client::builder().environment(|_| None).build().unwrap_err();
    /// assert!(matches!(err, Error::MissingConfig { setting: "MASTER_LOG_API_KEY" }));
    /// ```
    pub fn environment<F>(mut self, lookup: F) -> Self
    where
        F: Fn(&str) -> Option<String> + Send + Sync + 'static,
    {
        self.env = Some(Arc::new(lookup));
        self
    }

    /// Validates the settings and builds the client; in asynchronous mode, spawns its worker
    /// on the current tokio runtime.
    ///
    /// # Errors
    ///
    /// [`Error::MissingConfig`] without an API key or endpoint, [`Error::InvalidConfig`] or
    /// [`Error::InvalidEndpoint`] for a bad value, [`Error::NoRuntime`] when called outside a
    /// tokio runtime in asynchronous mode (see [`ClientBuilder::build_with_handle`]),
    /// [`Error::Build`] if the HTTP client cannot be set up.
    pub fn build(self) -> Result<Client> {
        let handle = Handle::try_current().ok();
        self.build_inner(handle.as_ref())
    }

    /// Like [`ClientBuilder::build`], but spawns the worker on `handle`, so it may be called
    /// from outside the runtime.
    ///
    /// # Errors
    ///
    /// As [`ClientBuilder::build`], except [`Error::NoRuntime`].
    pub fn build_with_handle(self, handle: &Handle) -> Result<Client> {
        self.build_inner(Some(handle))
    }

    fn build_inner(self, handle: Option<&Handle>) -> Result<Client> {
        let env = self.env.unwrap_or_else(config::process_env);
        let config = Config::resolve(&self.overrides, &*env)?;
        let http = Http::new(&config, self.http_client)?;
        if !config.async_mode {
            return Ok(Client::assemble(config, Mode::Direct { http }, None, None));
        }
        let handle = handle.ok_or(Error::NoRuntime)?;
        let http = Arc::new(http);
        let send = move |batch: Batch, timeout: Duration| {
            let http = Arc::clone(&http);
            async move { http.send_batch(batch, timeout).await }
        };
        let spool = match &config.spool_dir {
            Some(dir) => {
                let counters = Arc::new(SpoolCounters::default());
                let fsync = config.spool_fsync;
                let started =
                    Spool::start(dir, config.spool_max_bytes, fsync, Arc::clone(&counters))?;
                Some((started, counters))
            }
            None => None,
        };
        Ok(Client::spawn_spooled(config, send, handle, spool))
    }
}

impl Client {
    fn assemble(
        config: Config,
        mode: Mode,
        shared: Option<Arc<Shared>>,
        spool: Option<Inbox>,
    ) -> Client {
        let shared = shared.unwrap_or_else(|| {
            Arc::new(Shared::new(
                config.batch_size,
                config.initial_send_seconds_per_log,
            ))
        });
        Client {
            inner: Arc::new(Inner {
                mode,
                _wake_on_drop: WakeOnDrop(Arc::clone(&shared)),
                config,
                shared,
                spool,
                pace: Pace::new(),
                shutdown_started: AtomicBool::new(false),
            }),
        }
    }

    /// Spawns the worker with `send` as the transport.
    #[cfg(test)]
    pub(crate) fn spawn<F, Fut>(config: Config, send: F, handle: &Handle) -> Client
    where
        F: FnMut(Batch, Duration) -> Fut + Send + 'static,
        Fut: Future<Output = Attempt> + Send + 'static,
    {
        Client::spawn_spooled(config, send, handle, None)
    }

    /// Spawns the worker with `send` as the transport and, if given, a started spool and the
    /// counters its thread writes.
    fn spawn_spooled<F, Fut>(
        config: Config,
        send: F,
        handle: &Handle,
        spool: Option<((Spool, Replays), Arc<SpoolCounters>)>,
    ) -> Client
    where
        F: FnMut(Batch, Duration) -> Fut + Send + 'static,
        Fut: Future<Output = Attempt> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(config.max_queue_size);
        let (done_tx, worker_done) = watch::channel(());
        let mut shared = Shared::new(config.batch_size, config.initial_send_seconds_per_log);
        let spool = spool.map(|(spool, counters)| {
            shared.counters.spool = counters;
            spool
        });
        let shared = Arc::new(shared);
        let inbox = spool.as_ref().map(|(spool, _)| spool.inbox());
        let settings = worker::Settings {
            batch_size: config.batch_size,
            flush_interval: config.flush_interval,
            min_request_interval: config.min_request_interval,
            max_retries: config.max_retries,
            max_retry_elapsed: config.max_retry_elapsed,
            timeout: config.timeout,
        };
        // Quiet: whatever the worker (or reqwest under it) logs is never fed back in by the
        // tracing layer.
        handle.spawn(crate::quiet::Quiet::new(worker::run(
            rx,
            send,
            settings,
            Arc::clone(&shared),
            spool,
            done_tx,
        )));
        Client::assemble(config, Mode::Queue { tx, worker_done }, Some(shared), inbox)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Overrides;

    fn config(overrides: Overrides) -> Config {
        let overrides = Overrides {
            api_key: Some("k".into()),
            endpoint: Some("http://127.0.0.1:9".into()),
            ..overrides
        };
        Config::resolve(&overrides, &|_: &str| None).unwrap()
    }

    /// A client whose "server" takes `latency` per batch and accepts everything.
    fn stub_client(overrides: Overrides, latency: Duration) -> Client {
        let send = move |batch: Batch, _timeout: Duration| async move {
            tokio::time::sleep(latency).await;
            Attempt::Accepted {
                status: 200,
                accepted: batch.len as u64,
                warning: None,
            }
        };
        Client::spawn(config(overrides), send, &Handle::current())
    }

    /// A stub client without backpressure pauses.
    fn unpaced_stub_client(latency: Duration) -> Client {
        let overrides = Overrides {
            backpressure: Some(false),
            ..Overrides::default()
        };
        stub_client(overrides, latency)
    }

    // W5 of issue 6: backpressure on (defaults), a sink taking 20 ms per batch of 100.
    #[tokio::test(start_paused = true)]
    async fn backpressure_settles_at_the_sink_rate() {
        let client = stub_client(Overrides::default(), Duration::from_millis(20));
        let mut marks = Vec::new();
        let start = Instant::now();
        for i in 0..5000 {
            client.log(Event::info(i.to_string())).await.unwrap();
            if i % 500 == 0 {
                marks.push(start.elapsed());
            }
        }
        // The last 2000 events: sink capacity is 100 per 20 ms = 5000/s.
        let window = marks[9] - marks[5];
        let rate = 2000.0 / window.as_secs_f64();
        assert!((4000.0..=6000.0).contains(&rate), "{rate} logs/s");
        let stats = client.stats();
        assert_eq!(stats.dropped_full, 0);
        assert!(stats.queue_high_water < 10_000);
        let report = client.shutdown(Duration::from_secs(10)).await.unwrap();
        assert_eq!(report.accepted, 5000);
    }

    // regression: issue #14
    #[tokio::test(start_paused = true)]
    async fn issue_14_many_producers_share_one_pace() {
        // A sink taking 20 ms per batch of 100: 5000 logs/s, whatever the number of callers.
        let client = stub_client(Overrides::default(), Duration::from_millis(20));
        // Warm up the moving average with one producer.
        for i in 0..1000 {
            client.log(Event::info(i.to_string())).await.unwrap();
        }
        for tasks in [32, 256] {
            let per_task = 12_800 / tasks;
            let start = Instant::now();
            let producers: Vec<_> = (0..tasks)
                .map(|t| {
                    let client = client.clone();
                    tokio::spawn(async move {
                        for i in 0..per_task {
                            client.log(Event::info(format!("{t}-{i}"))).await.unwrap();
                        }
                    })
                })
                .collect();
            for p in producers {
                p.await.unwrap();
            }
            let rate = 12_800.0 / start.elapsed().as_secs_f64();
            assert!(
                (4000.0..=6000.0).contains(&rate),
                "{tasks} tasks: {rate} logs/s"
            );
        }
        let stats = client.stats();
        assert_eq!(stats.dropped_full, 0);
        assert!(stats.queue_high_water < 1000, "{}", stats.queue_high_water);
        let report = client.shutdown(Duration::from_secs(10)).await.unwrap();
        assert_eq!(report.accepted, 1000 + 2 * 12_800);
    }

    #[tokio::test(start_paused = true)]
    async fn dropping_the_last_handle_wakes_the_worker_to_send_the_rest() {
        let (seen_tx, mut seen) = mpsc::unbounded_channel();
        let send = move |batch: Batch, _timeout: Duration| {
            let _ = seen_tx.send(batch.len);
            async move {
                Attempt::Accepted {
                    status: 200,
                    accepted: batch.len as u64,
                    warning: None,
                }
            }
        };
        let client = Client::spawn(
            config(Overrides {
                backpressure: Some(false),
                flush_interval: Some(Duration::from_secs(3600)),
                ..Overrides::default()
            }),
            send,
            &Handle::current(),
        );
        client.log(Event::info("a")).await.unwrap();
        client.log(Event::info("b")).await.unwrap();
        let start = Instant::now();
        drop(client);
        assert_eq!(seen.recv().await, Some(2));
        assert_eq!(
            start.elapsed(),
            Duration::ZERO,
            "sent on drop, not at the deadline"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn backpressure_pause_is_capped() {
        let overrides = Overrides {
            initial_send_seconds_per_log: Some(5.0),
            max_enqueue_sleep: Some(Duration::from_millis(10)),
            ..Overrides::default()
        };
        let client = stub_client(overrides, Duration::ZERO);
        let start = Instant::now();
        client.log(Event::info("x")).await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_millis(10));
    }

    #[tokio::test(start_paused = true)]
    async fn sub_millisecond_pauses_are_paid_in_whole_milliseconds() {
        let overrides = Overrides {
            initial_send_seconds_per_log: Some(0.0002),
            batch_size: Some(100_000),
            flush_interval: Some(Duration::from_secs(3600)),
            ..Overrides::default()
        };
        let client = stub_client(overrides, Duration::ZERO);
        let start = Instant::now();
        for i in 0..1000 {
            client.log(Event::info(i.to_string())).await.unwrap();
        }
        // Fewer than half a batch (target: a quarter of the 10 000 queue) ever waits, so
        // each slot is half the 0.2 ms: 1000 × 0.1 ms = 100 ms, not 1000 × 1 ms.
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(99) && took <= Duration::from_millis(105),
            "{took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn drop_when_full_refuses_at_once_and_counts() {
        let overrides = Overrides {
            max_queue_size: Some(2),
            drop_when_full: Some(true),
            backpressure: Some(false),
            ..Overrides::default()
        };
        // The stub never answers, so the worker holds one batch and the queue fills.
        let send = |_batch: Batch, _timeout: Duration| std::future::pending::<Attempt>();
        let client = Client::spawn(
            config(Overrides {
                batch_size: Some(1),
                ..overrides
            }),
            send,
            &Handle::current(),
        );
        let mut refused = 0;
        for i in 0..10 {
            match client.try_log(Event::info(i.to_string())) {
                Ok(()) => {}
                Err(TryLogError::Full(e)) => {
                    assert_eq!(e.body(), i.to_string());
                    refused += 1;
                }
                Err(other) => panic!("{other:?}"),
            }
            tokio::task::yield_now().await;
        }
        assert!(refused > 0);
        let start = Instant::now();
        assert!(matches!(
            client.log(Event::info("more")).await,
            Err(Error::QueueFull)
        ));
        assert_eq!(start.elapsed(), Duration::ZERO);
        let stats = client.stats();
        assert_eq!(stats.dropped_full, refused + 1);
        assert_eq!(stats.queue_high_water, 2);
    }

    // regression: issue #14
    #[tokio::test(start_paused = true)]
    async fn issue_14_log_waits_for_room_by_default_then_fails_at_the_deadline() {
        let (release_tx, release) = watch::channel(false);
        // The sink answers only once released, so the queue (1 slot) fills up.
        let send = move |batch: Batch, _timeout: Duration| {
            let mut release = release.clone();
            async move {
                let _ = release.wait_for(|r| *r).await;
                Attempt::Accepted {
                    status: 200,
                    accepted: batch.len as u64,
                    warning: None,
                }
            }
        };
        let client = Client::spawn(
            config(Overrides {
                batch_size: Some(1),
                max_queue_size: Some(1),
                backpressure: Some(false),
                ..Overrides::default()
            }),
            send,
            &Handle::current(),
        );
        // One in flight, one held as the next batch, one queued: the fourth waits.
        for i in 0..3 {
            client.log(Event::info(i.to_string())).await.unwrap();
            tokio::task::yield_now().await;
        }
        let waiter = {
            let client = client.clone();
            tokio::spawn(async move { client.log(Event::info("waits")).await })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        release_tx.send_replace(true);
        assert!(waiter.await.unwrap().is_ok());
        assert_eq!(client.stats().dropped_full, 0);
        // With the sink stuck again, a waiting log gives up at the stated deadline.
        release_tx.send_replace(false);
        let report = client.flush(Duration::from_secs(1)).await.unwrap();
        assert_eq!(report.accepted, 4);
        for i in 0..3 {
            client.log(Event::info(i.to_string())).await.unwrap();
            tokio::task::yield_now().await;
        }
        let start = Instant::now();
        let late = client.log(Event::info("late")).await;
        assert!(matches!(late, Err(Error::QueueFull)), "{late:?}");
        assert_eq!(start.elapsed(), config::DEFAULT_QUEUE_TIMEOUT);
        assert_eq!(client.stats().dropped_full, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn full_queue_waits_up_to_queue_timeout() {
        let send = |_batch: Batch, _timeout: Duration| std::future::pending::<Attempt>();
        let client = Client::spawn(
            config(Overrides {
                batch_size: Some(1),
                max_queue_size: Some(1),
                drop_when_full: Some(false),
                queue_timeout: Some(Duration::from_millis(300)),
                backpressure: Some(false),
                ..Overrides::default()
            }),
            send,
            &Handle::current(),
        );
        let start = Instant::now();
        let mut outcome = Ok(Receipt::default());
        for i in 0..10 {
            outcome = client.log(Event::info(i.to_string())).await;
            if outcome.is_err() {
                break;
            }
        }
        assert!(matches!(outcome, Err(Error::QueueFull)), "{outcome:?}");
        assert_eq!(start.elapsed(), Duration::from_millis(300));
        assert_eq!(client.stats().dropped_full, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_is_idempotent_and_closes_the_client() {
        let client = unpaced_stub_client(Duration::from_millis(5));
        client.log(Event::info("a")).await.unwrap();
        let first = client.shutdown(Duration::from_secs(1)).await.unwrap();
        assert_eq!(first.accepted, 1);
        let second = client.shutdown(Duration::from_secs(1)).await.unwrap();
        assert_eq!(second, FlushReport::default());
        assert!(matches!(
            client.log(Event::info("b")).await,
            Err(Error::Closed)
        ));
        assert!(matches!(
            client.try_log(Event::info("c")),
            Err(TryLogError::Closed(_))
        ));
        assert!(matches!(
            client.flush(Duration::from_secs(1)).await,
            Err(Error::Closed)
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn flush_times_out_when_the_server_is_slow() {
        let client = unpaced_stub_client(Duration::from_secs(30));
        client.log(Event::info("a")).await.unwrap();
        assert!(matches!(
            client.flush(Duration::from_secs(1)).await,
            Err(Error::Timeout)
        ));
        // The late answer lands in the next report.
        let report = client.flush(Duration::from_secs(60)).await.unwrap();
        assert_eq!(report.accepted, 1);
    }

    #[test]
    fn build_outside_a_runtime_is_an_error_not_a_panic() {
        let err = Client::builder()
            .environment(|_| None)
            .api_key("k")
            .endpoint("http://127.0.0.1:9")
            .build()
            .unwrap_err();
        assert!(matches!(err, Error::NoRuntime), "{err:?}");
        // Direct mode needs no worker, so it builds anywhere.
        let client = Client::builder()
            .environment(|_| None)
            .api_key("k")
            .endpoint("http://127.0.0.1:9")
            .async_mode(false)
            .build();
        assert!(client.is_ok());
    }

    #[test]
    fn build_with_handle_works_outside_the_runtime() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = Client::builder()
            .environment(|_| None)
            .api_key("k")
            .endpoint("http://127.0.0.1:9")
            .build_with_handle(rt.handle())
            .unwrap();
        assert!(client.try_log(Event::info("x")).is_ok());
    }

    #[test]
    fn debug_output_never_shows_the_key() {
        let builder = Client::builder()
            .api_key("hunter2-secret")
            .environment(|_| None);
        assert!(!format!("{builder:?}").contains("hunter2"));
        let client = builder
            .endpoint("http://127.0.0.1:9")
            .async_mode(false)
            .build()
            .unwrap();
        let debug = format!("{client:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("127.0.0.1:9"));
    }
}
