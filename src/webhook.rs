//! [`WebhookNotifier`]: status changes POSTed as JSON to a URL, batched, with retries.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Uri, header};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use parking_lot::Mutex;
use serde::Serialize;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::checker::StatusChange;
use crate::error::ConfigError;
use crate::redact::redact;
use crate::uri::http_uri;
use crate::validate;

/// The allowed request timeouts.
const TIMEOUT: validate::Range<Duration> = (
    Duration::from_millis(1)..=Duration::from_secs(60),
    "1 ms to 60 s",
);

/// Sends status changes to a webhook: `POST` of `{"source":"tower-vitals","events":[…]}`
/// (`application/json`), the events of up to `max_wait` gathered into one request of at most
/// `max_batch`, retried with exponential backoff on connection errors, timeouts, 429 and 5xx.
/// Changes wait in a bounded queue; when it is full they are dropped and counted, never
/// blocking a check.
///
/// ```no_run
/// use tower_vitals::{HealthChecker, WebhookNotifier};
///
/// # #[tokio::main] async fn main() -> Result<(), tower_vitals::ConfigError> {
/// let webhook = WebhookNotifier::builder("http://alerts.internal:8080/hooks/health").build()?;
/// let checker = HealthChecker::builder()
///     .check("db", || async {})
///     .on_change(webhook.listener())
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct WebhookNotifier {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    sender: mpsc::Sender<StatusChange>,
    /// Taken by the delivery task when the first change arrives (on a runtime).
    receiver: Mutex<Option<mpsc::Receiver<StatusChange>>>,
    started: AtomicBool,
    settings: Settings,
    stats: Arc<Counters>,
}

#[derive(Debug, Clone)]
struct Settings {
    uri: Uri,
    timeout: Duration,
    retries: u32,
    backoff: Duration,
    max_batch: usize,
    max_wait: Duration,
}

#[derive(Debug, Default)]
struct Counters {
    delivered_batches: AtomicU64,
    delivered_events: AtomicU64,
    failed_batches: AtomicU64,
    dropped_events: AtomicU64,
    attempts: AtomicU64,
}

/// What a [`WebhookNotifier`] has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhookStats {
    /// Requests that the receiver accepted (2xx).
    pub delivered_batches: u64,
    /// Events in those requests.
    pub delivered_events: u64,
    /// Batches given up after the last retry.
    pub failed_batches: u64,
    /// Events dropped because the queue was full.
    pub dropped_events: u64,
    /// Requests sent, retries included.
    pub attempts: u64,
}

/// Settings of a [`WebhookNotifier`].
#[derive(Debug, Clone)]
#[must_use]
pub struct WebhookBuilder {
    uri: String,
    timeout: Duration,
    retries: u32,
    backoff: Duration,
    max_batch: usize,
    max_wait: Duration,
    queue: usize,
}

impl WebhookNotifier {
    /// Settings for a notifier posting to `uri`, an absolute `http://` URI (checked by
    /// [`build`](WebhookBuilder::build)). Defaults: 2 s per request, 3 retries from 200 ms
    /// doubling, batches of up to 50 events gathered for up to 1 s, a queue of 1024 changes.
    pub fn builder(uri: &str) -> WebhookBuilder {
        WebhookBuilder {
            uri: uri.to_owned(),
            timeout: Duration::from_secs(2),
            retries: 3,
            backoff: Duration::from_millis(200),
            max_batch: 50,
            max_wait: Duration::from_secs(1),
            queue: 1024,
        }
    }

    /// A listener for [`HealthCheckerBuilder::on_change`](crate::HealthCheckerBuilder::on_change).
    pub fn listener(&self) -> impl Fn(&StatusChange) + Send + Sync + 'static {
        let shared = self.shared.clone();
        move |change| shared.enqueue(change)
    }

    /// What it has done so far.
    pub fn stats(&self) -> WebhookStats {
        let stats = &self.shared.stats;
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        WebhookStats {
            delivered_batches: read(&stats.delivered_batches),
            delivered_events: read(&stats.delivered_events),
            failed_batches: read(&stats.failed_batches),
            dropped_events: read(&stats.dropped_events),
            attempts: read(&stats.attempts),
        }
    }
}

impl WebhookBuilder {
    /// How long one request may take (default 2 s; 1 ms to 60 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Retries of a failed request (default 3; 0 to 10), waiting `backoff`, then twice that,
    /// and so on (default 200 ms; up to 60 s).
    pub fn retries(mut self, retries: u32, backoff: Duration) -> Self {
        self.retries = retries;
        self.backoff = backoff;
        self
    }

    /// Events per request at most (default 50; 1 to 10 000), and how long the first event of a
    /// batch waits for others (default 1 s; up to 60 s).
    pub fn batch(mut self, max_events: usize, max_wait: Duration) -> Self {
        self.max_batch = max_events;
        self.max_wait = max_wait;
        self
    }

    /// Changes waiting to be sent at most (default 1024; 1 to 1 000 000); more are dropped and
    /// counted.
    pub fn queue(mut self, capacity: usize) -> Self {
        self.queue = capacity;
        self
    }

    /// Checks the settings and makes the notifier; its delivery task starts with the first
    /// change, on that change's runtime.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_vitals::WebhookNotifier;
    ///
    /// let error = WebhookNotifier::builder("http://127.0.0.1:9/hooks")
    ///     .timeout(Duration::ZERO)
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(error.to_string(), "webhook timeout of 0 ms is out of range (1 ms to 60 s)");
    /// assert!(WebhookNotifier::builder("https://example.com").build().is_err());
    /// ```
    pub fn build(self) -> Result<WebhookNotifier, ConfigError> {
        let up_to_a_minute = (Duration::ZERO..=Duration::from_secs(60), "0 to 60 s");
        let settings = Settings {
            uri: http_uri(&self.uri)?,
            timeout: validate::duration("webhook timeout", self.timeout, TIMEOUT)?,
            retries: validate::count("webhook retries", self.retries, (0..=10, "0 to 10"))?,
            backoff: validate::duration("webhook backoff", self.backoff, up_to_a_minute.clone())?,
            max_batch: validate::count(
                "webhook batch",
                self.max_batch,
                (1..=10_000, "1 to 10000"),
            )?,
            max_wait: validate::duration("webhook batch wait", self.max_wait, up_to_a_minute)?,
        };
        let queue = validate::count("webhook queue", self.queue, (1..=1_000_000, "1 to 1000000"))?;
        Ok(Self::start(settings, queue))
    }

    fn start(settings: Settings, queue: usize) -> WebhookNotifier {
        let (sender, receiver) = mpsc::channel(queue);
        WebhookNotifier {
            shared: Arc::new(Shared {
                sender,
                receiver: Mutex::new(Some(receiver)),
                started: AtomicBool::new(false),
                settings,
                stats: Arc::default(),
            }),
        }
    }
}

impl Shared {
    fn enqueue(&self, change: &StatusChange) {
        if !self.started.load(Ordering::Acquire) {
            self.start();
        }
        if self.sender.try_send(change.clone()).is_err() {
            self.stats.dropped_events.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(check = %change.check, "webhook queue full: status change dropped");
        }
    }

    fn start(&self) {
        let Ok(runtime) = Handle::try_current() else {
            return;
        };
        let Some(receiver) = self.receiver.lock().take() else {
            return;
        };
        self.started.store(true, Ordering::Release);
        runtime.spawn(deliver(receiver, self.settings.clone(), self.stats.clone()));
    }
}

/// Gathers changes into batches and sends them until every sender is gone.
async fn deliver(
    mut receiver: mpsc::Receiver<StatusChange>,
    settings: Settings,
    stats: Arc<Counters>,
) {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    while let Some(first) = receiver.recv().await {
        let mut batch = vec![first];
        let until = Instant::now() + settings.max_wait;
        while batch.len() < settings.max_batch {
            match tokio::time::timeout_at(until, receiver.recv()).await {
                Ok(Some(change)) => batch.push(change),
                _ => break,
            }
        }
        send(&client, &settings, &stats, &batch).await;
    }
}

#[derive(Serialize)]
struct Payload<'a> {
    source: &'static str,
    events: &'a [StatusChange],
}

async fn send(
    client: &Client<HttpConnector, Full<Bytes>>,
    settings: &Settings,
    stats: &Counters,
    batch: &[StatusChange],
) {
    let body = Bytes::from(
        serde_json::to_vec(&Payload {
            source: "tower-vitals",
            events: batch,
        })
        .expect("status changes serialise"),
    );
    let mut last_error = String::new();
    for attempt in 0..=settings.retries {
        if attempt > 0 {
            let factor = 1u32.checked_shl(attempt - 1).unwrap_or(u32::MAX);
            let pause = settings
                .backoff
                .saturating_mul(factor)
                .min(Duration::from_secs(60));
            tokio::time::sleep(pause).await;
        }
        stats.attempts.fetch_add(1, Ordering::Relaxed);
        let request = Request::post(settings.uri.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(body.clone()))
            .expect("a valid request");
        match tokio::time::timeout(settings.timeout, client.request(request)).await {
            Ok(Ok(response)) if response.status().is_success() => {
                stats.delivered_batches.fetch_add(1, Ordering::Relaxed);
                stats
                    .delivered_events
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                return;
            }
            Ok(Ok(response)) => {
                let status = response.status();
                last_error = format!("answered {status}");
                if !(status.is_server_error() || status.as_u16() == 429) {
                    break; // the receiver refuses this payload: retrying will not help
                }
            }
            Ok(Err(error)) => last_error = error.to_string(),
            Err(_) => last_error = format!("no answer within {} ms", settings.timeout.as_millis()),
        }
    }
    stats.failed_batches.fetch_add(1, Ordering::Relaxed);
    // The host only: a webhook URL's path often is its secret (Slack, Teams).
    let host = settings.uri.host().unwrap_or("?");
    let error = redact(&last_error);
    tracing::warn!(host, events = batch.len(), %error, "webhook delivery failed");
}
