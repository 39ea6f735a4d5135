//! [`WebhookNotifier`]: status changes POSTed to a URL — the crate's JSON, or a Slack or Teams
//! message — batched, signed, with retries and a minimum interval per component.

use super::format::{self, WebhookFormat};
use super::sign;
use super::stats::WebhookStats;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::join_all;
use std::collections::HashMap;

use http::header::{HeaderName, HeaderValue};
use http::{Request, Uri, header};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use parking_lot::Mutex;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::format::Event;
use crate::checker::StatusChange;
use crate::error::{ConfigError, causes};
use crate::health_report::HealthStatus;
use crate::redact::redact;
use crate::tls::{Connector, ExtraRoots};
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
///
#[doc = include_str!("../../docs/webhooks.md")]
#[derive(Clone, Debug)]
pub struct WebhookNotifier {
    shared: Arc<Shared>,
}

/// Whether this replica posts a change: a [fleet](crate::fleet) posts a shared outage's
/// changes from one replica only.
pub(crate) trait Admission: Send + Sync {
    fn admit<'a>(
        &'a self,
        change: &'a StatusChange,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>>;
}

/// The notifier's admission, set once a fleet takes it (weakly: the fleet outlives no handle).
#[derive(Default)]
struct AdmissionCell(parking_lot::RwLock<Option<Weak<dyn Admission>>>);

impl std::fmt::Debug for AdmissionCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.read().is_some() {
            "fleet"
        } else {
            "none"
        })
    }
}

impl AdmissionCell {
    /// The changes of `batch` this replica posts; the others are counted as skipped.
    async fn admitted(&self, batch: Vec<StatusChange>, stats: &Counters) -> Vec<StatusChange> {
        let admission = self.0.read().as_ref().and_then(Weak::upgrade);
        let Some(admission) = admission else {
            return batch;
        };
        let verdicts = join_all(batch.iter().map(|change| admission.admit(change))).await;
        let skipped = verdicts.iter().filter(|posted| !**posted).count();
        stats
            .skipped_events
            .fetch_add(skipped as u64, Ordering::Relaxed);
        batch
            .into_iter()
            .zip(verdicts)
            .filter_map(|(change, posted)| posted.then_some(change))
            .collect()
    }
}

#[derive(Debug)]
struct Shared {
    sender: mpsc::Sender<StatusChange>,
    admission: Arc<AdmissionCell>,
    /// Taken by the delivery task when the first change arrives (on a runtime).
    receiver: Mutex<Option<mpsc::Receiver<StatusChange>>>,
    started: AtomicBool,
    settings: Settings,
    stats: Arc<Counters>,
}

#[derive(Clone)]
struct Settings {
    uri: Uri,
    timeout: Duration,
    retries: u32,
    backoff: Duration,
    max_batch: usize,
    max_wait: Duration,
    format: WebhookFormat,
    /// Sent with every request; values marked sensitive (never in `Debug` or logs).
    headers: Vec<(HeaderName, HeaderValue)>,
    signing_secret: Option<Arc<[u8]>>,
    min_interval: Duration,
    roots: ExtraRoots,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("host", &self.uri.host())
            .field("format", &self.format)
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("signed", &self.signing_secret.is_some())
            .field("min_interval", &self.min_interval)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct Counters {
    delivered_batches: AtomicU64,
    delivered_events: AtomicU64,
    failed_batches: AtomicU64,
    dropped_events: AtomicU64,
    skipped_events: AtomicU64,
    attempts: AtomicU64,
}

/// Settings of a [`WebhookNotifier`].
#[derive(Clone)]
#[must_use]
pub struct WebhookBuilder {
    uri: String,
    timeout: Duration,
    retries: u32,
    backoff: Duration,
    max_batch: usize,
    max_wait: Duration,
    queue: usize,
    format: WebhookFormat,
    headers: Vec<(String, String)>,
    signing_secret: Option<String>,
    min_interval: Duration,
    ca_pem: Vec<Vec<u8>>,
}

impl std::fmt::Debug for WebhookBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookBuilder")
            .field("format", &self.format)
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("signed", &self.signing_secret.is_some())
            .finish_non_exhaustive()
    }
}

impl WebhookNotifier {
    /// Settings for a notifier posting to `uri`, an absolute `http://` URI, or `https://` with
    /// the `tls` feature (checked by
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
            format: WebhookFormat::Json,
            headers: Vec::new(),
            signing_secret: None,
            min_interval: Duration::ZERO,
            ca_pem: Vec::new(),
        }
    }

    /// A listener for [`HealthCheckerBuilder::on_change`](crate::HealthCheckerBuilder::on_change).
    pub fn listener(&self) -> impl Fn(&StatusChange) + Send + Sync + 'static {
        let shared = self.shared.clone();
        move |change| shared.enqueue(change)
    }

    /// Lets `admission` decide which changes this replica posts.
    pub(crate) fn set_admission(&self, admission: Weak<dyn Admission>) {
        *self.shared.admission.0.write() = Some(admission);
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
            skipped_events: read(&stats.skipped_events),
            attempts: read(&stats.attempts),
            queued: (self.shared.sender.max_capacity() - self.shared.sender.capacity()) as u64,
            queue_capacity: self.shared.sender.max_capacity() as u64,
        }
    }

    /// The receiver's host (and port, when the URI names one): what the notifier's figures
    /// are labelled with. Never the path or query, which are a Slack or Teams webhook's secret.
    pub fn receiver(&self) -> String {
        let uri = &self.shared.settings.uri;
        let host = uri.host().unwrap_or("?");
        match uri.port_u16() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
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

    /// The payload's shape (default [`WebhookFormat::Json`]; `Slack` and `Teams` post a message
    /// their incoming webhooks accept).
    pub fn format(mut self, format: WebhookFormat) -> Self {
        self.format = format;
        self
    }

    /// A header sent with every request, e.g. `Authorization` for a receiver that wants one.
    /// Its value never appears in logs or `Debug` output.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Signs every request: `X-Vitals-Timestamp` (Unix seconds) and `X-Vitals-Signature:
    /// sha256=<hex>`, the HMAC-SHA256 of `"{timestamp}.{body}"` under `secret`. The receiver
    /// recomputes it, compares in constant time and rejects old timestamps.
    pub fn signing_secret(mut self, secret: impl Into<String>) -> Self {
        self.signing_secret = Some(secret.into());
        self
    }

    /// Also trusts the CA certificates in `pem` for an `https://` receiver (feature `tls`;
    /// checked by [`build`](Self::build)).
    pub fn root_certificate_pem(mut self, pem: &[u8]) -> Self {
        self.ca_pem.push(pem.to_vec());
        self
    }

    /// At most one post per component in this interval (default 0; up to 1 h): a flapping
    /// check's changes in between are held and the latest is sent when the interval has passed.
    pub fn min_interval(mut self, interval: Duration) -> Self {
        self.min_interval = interval;
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
    /// assert!(WebhookNotifier::builder("ftp://example.com").build().is_err());
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
            format: WebhookFormat::Json,
            headers: Vec::new(),
            signing_secret: None,
            min_interval: Duration::ZERO,
            roots: ExtraRoots::default(),
        };
        let queue = validate::count("webhook queue", self.queue, (1..=1_000_000, "1 to 1000000"))?;
        let min_interval = (Duration::ZERO..=Duration::from_secs(3600), "0 to 1 h");
        let settings = Settings {
            format: self.format,
            headers: headers(&self.headers)?,
            signing_secret: match self.signing_secret {
                Some(secret) if secret.is_empty() => {
                    return Err(ConfigError::InvalidToken(
                        "a signing secret must not be empty",
                    ));
                }
                secret => secret.map(|s| Arc::from(s.into_bytes())),
            },
            min_interval: validate::duration(
                "webhook min interval",
                self.min_interval,
                min_interval,
            )?,
            roots: {
                let mut roots = ExtraRoots::default();
                for pem in &self.ca_pem {
                    roots.add_pem(pem)?;
                }
                roots
            },
            ..settings
        };
        Ok(Self::start(settings, queue))
    }

    fn start(settings: Settings, queue: usize) -> WebhookNotifier {
        let (sender, receiver) = mpsc::channel(queue);
        WebhookNotifier {
            shared: Arc::new(Shared {
                sender,
                receiver: Mutex::new(Some(receiver)),
                started: AtomicBool::new(false),
                admission: Arc::default(),
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
        let admission = self.admission.clone();
        let task = deliver(
            receiver,
            self.settings.clone(),
            self.stats.clone(),
            admission,
        );
        runtime.spawn(task);
    }
}

/// One POST of `body`, with the settings' headers and, when signing, the signature headers.
fn request(settings: &Settings, body: &Bytes) -> Request<Full<Bytes>> {
    let mut request = Request::post(settings.uri.clone())
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(body.clone()))
        .expect("a valid request");
    let headers = request.headers_mut();
    for (name, value) in &settings.headers {
        headers.insert(name.clone(), value.clone());
    }
    if let Some(secret) = &settings.signing_secret {
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let signature = sign::signature(secret, timestamp, body);
        headers.insert("x-vitals-timestamp", HeaderValue::from(timestamp));
        if let Ok(value) = HeaderValue::try_from(signature) {
            headers.insert("x-vitals-signature", value);
        }
    }
    request
}

/// The builder's headers, parsed; values marked sensitive.
fn headers(given: &[(String, String)]) -> Result<Vec<(HeaderName, HeaderValue)>, ConfigError> {
    given
        .iter()
        .map(|(name, value)| crate::uri::header(name, value, true))
        .collect()
}

/// Gathers changes into batches and sends them until every sender is gone.
async fn deliver(
    mut receiver: mpsc::Receiver<StatusChange>,
    settings: Settings,
    stats: Arc<Counters>,
    admission: Arc<AdmissionCell>,
) {
    let client: Client<Connector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build(settings.roots.connector());
    let mut pace = Pace::new(settings.min_interval);
    loop {
        // The first change, or a held one falling due.
        let first = match pace.next_due() {
            Some(due) => match tokio::time::timeout_at(due, receiver.recv()).await {
                Ok(Some(change)) => Some(change),
                Ok(None) => None,
                Err(_) => {
                    let batch = pace.release(Instant::now());
                    send(&client, &settings, &stats, &batch, &mut pace).await;
                    continue;
                }
            },
            None => receiver.recv().await,
        };
        let Some(first) = first else {
            // Every sender is gone: what is held goes out now.
            let batch = pace.release_all();
            if !batch.is_empty() {
                send(&client, &settings, &stats, &batch, &mut pace).await;
            }
            return;
        };
        let mut batch = vec![first];
        let until = Instant::now() + settings.max_wait;
        while batch.len() < settings.max_batch {
            match tokio::time::timeout_at(until, receiver.recv()).await {
                Ok(Some(change)) => batch.push(change),
                _ => break,
            }
        }
        let batch = admission.admitted(batch, &stats).await;
        let now = Instant::now();
        let mut batch = pace.admit(batch, now);
        batch.extend(pace.release(now));
        if !batch.is_empty() {
            send(&client, &settings, &stats, &batch, &mut pace).await;
        }
    }
}

/// The minimum interval per component, and when each component's incident began.
struct Pace {
    interval: Duration,
    last_sent: HashMap<String, Instant>,
    /// The latest change of a component still inside its interval, and when it falls due.
    held: HashMap<String, (StatusChange, Instant)>,
    /// When each failing component stopped being healthy.
    incidents: HashMap<String, std::time::SystemTime>,
}

impl Pace {
    fn new(interval: Duration) -> Self {
        Self {
            interval,
            last_sent: HashMap::new(),
            held: HashMap::new(),
            incidents: HashMap::new(),
        }
    }

    fn next_due(&self) -> Option<Instant> {
        self.held.values().map(|(_, due)| *due).min()
    }

    /// The changes that may go now; the others are held (the latest per component wins).
    fn admit(&mut self, batch: Vec<StatusChange>, now: Instant) -> Vec<StatusChange> {
        let mut ready: Vec<StatusChange> = Vec::new();
        for change in batch {
            let due = self
                .last_sent
                .get(&change.check)
                .map(|sent| *sent + self.interval)
                .filter(|due| *due > now);
            let in_batch = ready.iter().any(|c| c.check == change.check);
            match due {
                Some(due) => {
                    self.held.insert(change.check.clone(), (change, due));
                }
                None if in_batch && !self.interval.is_zero() => {
                    self.held
                        .insert(change.check.clone(), (change, now + self.interval));
                }
                None => ready.push(change),
            }
        }
        ready
    }

    /// The held changes that fell due.
    fn release(&mut self, now: Instant) -> Vec<StatusChange> {
        let due: Vec<String> = self
            .held
            .iter()
            .filter(|(_, (_, due))| *due <= now)
            .map(|(check, _)| check.clone())
            .collect();
        due.into_iter()
            .filter_map(|check| self.held.remove(&check).map(|(change, _)| change))
            .collect()
    }

    fn release_all(&mut self) -> Vec<StatusChange> {
        self.held.drain().map(|(_, (change, _))| change).collect()
    }

    /// Records a sent change: its time, and the incident it starts or ends (the duration).
    fn sent(&mut self, change: &StatusChange, now: Instant) -> Option<u64> {
        if !self.interval.is_zero() {
            self.last_sent.insert(change.check.clone(), now);
        }
        if change.to == HealthStatus::Healthy {
            let began = self.incidents.remove(&change.check)?;
            let lasted = change.at.duration_since(began).unwrap_or_default();
            return Some(u64::try_from(lasted.as_millis()).unwrap_or(u64::MAX));
        }
        self.incidents
            .entry(change.check.clone())
            .or_insert(change.at);
        None
    }
}

async fn send(
    client: &Client<Connector, Full<Bytes>>,
    settings: &Settings,
    stats: &Counters,
    batch: &[StatusChange],
    pace: &mut Pace,
) {
    let now = Instant::now();
    let events: Vec<Event<'_>> = batch
        .iter()
        .map(|change| Event {
            change,
            restored_after_ms: pace.sent(change, now),
        })
        .collect();
    let body = Bytes::from(format::body(settings.format, &events));
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
        let request = request(settings, &body);
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
            Ok(Err(error)) => last_error = causes(&error),
            Err(_) => last_error = format!("no answer within {} ms", settings.timeout.as_millis()),
        }
    }
    stats.failed_batches.fetch_add(1, Ordering::Relaxed);
    // The host only: a webhook URL's path often is its secret (Slack, Teams).
    let host = settings.uri.host().unwrap_or("?");
    let error = redact(&last_error);
    tracing::warn!(host, events = batch.len(), %error, "webhook delivery failed");
}
