//! Webhooks: status changes POSTed to a URL (the notifier, feature `http-client`), and the
//! figures of a notifier that `/metrics` shows.

#[cfg(feature = "http-client")]
mod format;
#[cfg(feature = "http-client")]
mod notifier;
#[cfg(feature = "http-client")]
mod sign;
mod stats;

#[cfg(feature = "http-client")]
pub use format::WebhookFormat;
#[cfg(feature = "http-client")]
pub(crate) use notifier::Admission;
#[cfg(feature = "http-client")]
pub use notifier::{WebhookBuilder, WebhookNotifier};
pub use stats::WebhookStats;
