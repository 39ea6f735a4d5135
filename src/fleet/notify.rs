//! One notification per incident for the fleet: a shared outage's webhook events are posted
//! by one replica — the first to announce the check's new status in the store — while a
//! local fault's are still posted by the replica it is on.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::store::Announce;
use super::{FleetBuilder, Inner, Judgement};
use crate::checker::StatusChange;
use crate::health_report::HealthStatus;
use crate::webhook::{Admission, WebhookNotifier};

/// How long the status last posted for the fleet is kept in the store.
const ANNOUNCED_FOR: Duration = Duration::from_secs(86_400);
/// Exchanges a change to unhealthy waits for its judgement before it is taken as the fleet's.
const SETTLE_EXCHANGES: u32 = 5;

impl FleetBuilder {
    /// Posts the changes of a [shared](crate::Check::shared) check once for the fleet through
    /// `notifier` (also given to the checker with `on_change`): a change to `unhealthy` waits
    /// for its judgement (at most five exchanges) — a local fault, or no fresh view, is posted
    /// by this replica as before; a shared outage, and the recovery from one, by the first
    /// replica to tell the store (`SET … GET` of the check's status), the others count it as
    /// skipped (`vitals_webhook_events_total{outcome="skipped"}`). With the store out of reach
    /// every replica posts: a duplicate rather than silence. Other checks' changes are this
    /// replica's own and always posted.
    pub fn webhook(mut self, notifier: &WebhookNotifier) -> Self {
        self.webhooks.push(notifier.clone());
        self
    }
}

/// Lets the fleet decide what `notifiers` post.
pub(super) fn admit_through(inner: &Arc<Inner>, notifiers: &[WebhookNotifier]) {
    for notifier in notifiers {
        let admission: Weak<dyn Admission> = Arc::downgrade(inner) as _;
        notifier.set_admission(admission);
    }
}

impl Admission for Inner {
    fn admit<'a>(
        &'a self,
        change: &'a StatusChange,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>> {
        Box::pin(async move {
            if !self.checker.is_shared(&change.check) {
                return true;
            }
            let fleets = match change.to {
                HealthStatus::Unhealthy => self.settled(&change.check).await,
                // A recovery is the fleet's if the failure was: a shared outage, or still
                // undecided (as the last replica to see a shared outage end may be).
                _ => matches!(
                    self.last_failing(&change.check),
                    Judgement::Shared | Judgement::Pending
                ),
            };
            if !fleets {
                return true;
            }
            let announce = Announce {
                fleet: &self.name,
                key: &change.check,
                value: change.to.as_str(),
                ttl: ANNOUNCED_FOR,
            };
            let told = tokio::time::timeout(self.interval, self.store.announce(announce)).await;
            match told {
                Ok(Ok(before)) => before.as_deref() != Some(change.to.as_str()),
                // The store out of reach: post rather than stay silent.
                _ => true,
            }
        })
    }
}

impl Inner {
    /// Whether a failure of `check` is the fleet's: a shared outage, or not judged within
    /// [`SETTLE_EXCHANGES`] (then it is announced, so at least one replica posts it).
    async fn settled(&self, check: &str) -> bool {
        for _ in 0..SETTLE_EXCHANGES {
            let judged = self.view.read().shared(check).map(|s| s.judgement);
            match judged {
                Some(Judgement::Shared) => return true,
                Some(Judgement::Local | Judgement::Alone) => return false,
                _ => tokio::time::sleep(self.interval).await,
            }
        }
        true
    }
}
