//! [`WebhookStats`]: a webhook notifier's figures, as `/metrics` shows them.

/// What a webhook notifier (`WebhookNotifier`, feature `http-client`) has done so far.
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
    /// Events another replica of the fleet posted for all (a shared outage's, with
    /// `FleetBuilder::webhook`).
    pub skipped_events: u64,
    /// Requests sent, retries included.
    pub attempts: u64,
    /// Changes waiting in the queue now.
    pub queued: u64,
    /// How many changes the queue holds at most.
    pub queue_capacity: u64,
}
