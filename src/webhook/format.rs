//! What a webhook posts: the crate's own JSON, or a message shaped for Slack or Microsoft Teams.

use std::time::Duration;

use serde::Serialize;

use crate::checker::StatusChange;
use crate::health_report::HealthStatus;

/// The payload a [`WebhookNotifier`](super::WebhookNotifier) posts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebhookFormat {
    /// `{"source":"tower-vitals","events":[…]}`, each event a status change (plus
    /// `restored_after_ms` when a component recovered).
    #[default]
    Json,
    /// A Slack incoming-webhook message: `{"text": …}`, one line per change.
    Slack,
    /// A Microsoft Teams workflow message: an Adaptive Card with one text block per change.
    Teams,
}

/// One change to post, with how long the incident lasted when it ended one.
#[derive(Debug, Serialize)]
pub(crate) struct Event<'a> {
    #[serde(flatten)]
    pub(crate) change: &'a StatusChange,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) restored_after_ms: Option<u64>,
}

impl Event<'_> {
    /// `db is unhealthy (was healthy): connection refused`, or `db restored after 3 m 12 s`.
    fn line(&self) -> String {
        let change = self.change;
        let icon = match change.to {
            HealthStatus::Healthy => "✅",
            HealthStatus::Degraded => "⚠️",
            HealthStatus::Unknown => "❔",
            HealthStatus::Unhealthy => "🔴",
        };
        if let Some(ms) = self.restored_after_ms {
            let lasted = humantime::format_duration(Duration::from_secs(ms / 1000));
            return format!("{icon} {} restored after {lasted}", change.check);
        }
        let was = change
            .from
            .map_or_else(|| "first result".to_owned(), |from| format!("was {from}"));
        let why = change
            .message
            .as_deref()
            .map(|m| format!(": {m}"))
            .unwrap_or_default();
        format!("{icon} {} is {} ({was}){why}", change.check, change.to)
    }
}

/// The body for `events` in `format`.
pub(crate) fn body(format: WebhookFormat, events: &[Event<'_>]) -> Vec<u8> {
    let value = match format {
        WebhookFormat::Json => serde_json::json!({ "source": "tower-vitals", "events": events }),
        WebhookFormat::Slack => {
            let lines: Vec<String> = events.iter().map(Event::line).collect();
            serde_json::json!({ "text": lines.join("\n") })
        }
        WebhookFormat::Teams => {
            let blocks: Vec<serde_json::Value> = events
                .iter()
                .map(|event| serde_json::json!({ "type": "TextBlock", "text": event.line(), "wrap": true }))
                .collect();
            serde_json::json!({
                "type": "message",
                "attachments": [{
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "contentUrl": null,
                    "content": {
                        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                        "type": "AdaptiveCard",
                        "version": "1.4",
                        "body": blocks,
                    },
                }],
            })
        }
    };
    serde_json::to_vec(&value).expect("a payload serialises")
}
