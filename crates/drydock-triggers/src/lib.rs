//! drydock's notification channels: the [`Notifier`] port for the HTTP-based services users
//! configure (ntfy, Discord, Slack, Gotify, Mattermost, Google Chat, Teams, Apprise, any HTTP
//! endpoint), SMTP, MQTT and a command, one egress guard for every destination, and
//! [`build_channel`], which makes any of them from its configuration keys.
//!
//! # Example
//!
//! ```no_run
//! use std::collections::BTreeMap;
//! use drydock_core::ports::{Notification, NotificationEvent, Notifier};
//! use drydock_triggers::{HttpNotifier, channels::ChannelKind};
//!
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! let keys = BTreeMap::from([("TOPIC".to_owned(), "updates".to_owned())]);
//! let ntfy = HttpNotifier::new("ntfy.one", ChannelKind::Ntfy, keys)?;
//! ntfy.notify(&Notification {
//!     event: NotificationEvent::UpdateAvailable,
//!     title: "New tag".into(),
//!     body: "web can be updated to 1.2.0".into(),
//!     containers: Vec::new(),
//! })
//! .await?;
//! # Ok(()) }
//! ```

pub mod channels;
mod command;
pub mod egress;
mod mqtt;
mod smtp;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use drydock_core::compat::Compat;
use drydock_core::notification::TriggerId;
use drydock_core::ports::{Notification, Notifier, NotifyError};

use crate::channels::{Channel, ChannelConfigError, ChannelKind};
pub use crate::command::CommandNotifier;
pub use crate::mqtt::MqttNotifier;
pub use crate::smtp::SmtpNotifier;

/// A channel built from its configuration: the notifier, and its configuration as it may be
/// shown (secrets masked).
pub struct BuiltChannel {
    /// The notifier.
    pub notifier: Arc<dyn Notifier>,
    /// The channel's keys, lower case, secrets masked.
    pub configuration: BTreeMap<String, String>,
}

impl std::fmt::Debug for BuiltChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuiltChannel")
            .field("notifier", &self.notifier.id())
            .field("configuration", &self.configuration)
            .finish()
    }
}

/// Builds the channel of trigger `id` from its channel keys (upper case, the trigger's common
/// keys left out); `compat` sets the MQTT defaults. `Ok(None)` when this version has no channel
/// of `id.kind`.
///
/// # Errors
///
/// [`ChannelConfigError`] naming the key that is missing or invalid.
pub fn build_channel(
    id: &TriggerId,
    keys: &BTreeMap<String, String>,
    compat: Compat,
) -> Result<Option<BuiltChannel>, ChannelConfigError> {
    let name = id.to_string();
    let built = match id.kind.as_str() {
        "command" => {
            let notifier = CommandNotifier::new(&name, keys)?;
            // The command line may hold secrets: it is never shown.
            let configuration = keys
                .iter()
                .map(|(k, v)| {
                    let shown = if k == "CMD" { "[REDACTED]" } else { v.as_str() };
                    (k.to_ascii_lowercase(), shown.to_owned())
                })
                .collect();
            BuiltChannel {
                notifier: Arc::new(notifier),
                configuration,
            }
        }
        "mqtt" => {
            let notifier = MqttNotifier::with_compat(&name, keys, compat)?;
            BuiltChannel {
                configuration: notifier.masked_configuration(),
                notifier: Arc::new(notifier),
            }
        }
        "smtp" => {
            let notifier = SmtpNotifier::new(&name, keys)?;
            BuiltChannel {
                configuration: notifier.masked_configuration(),
                notifier: Arc::new(notifier),
            }
        }
        kind => match ChannelKind::parse(kind) {
            Some(channel) => {
                let notifier = HttpNotifier::new(&name, channel, keys.clone())?;
                BuiltChannel {
                    configuration: notifier.masked_configuration(),
                    notifier: Arc::new(notifier),
                }
            }
            None => return Ok(None),
        },
    };
    Ok(Some(built))
}

/// A [`Notifier`] for an HTTP-based channel.
#[derive(Debug)]
pub struct HttpNotifier {
    id: String,
    channel: Channel,
    timeout: Duration,
}

impl HttpNotifier {
    /// A notifier with trigger id `id` (`ntfy.one`) and the channel's keys (upper case).
    pub fn new(
        id: &str,
        kind: ChannelKind,
        keys: BTreeMap<String, String>,
    ) -> Result<Self, ChannelConfigError> {
        Ok(Self {
            id: id.to_owned(),
            channel: Channel::new(kind, keys)?,
            timeout: Duration::from_secs(30),
        })
    }

    /// The configuration, secrets masked, for the API.
    pub fn masked_configuration(&self) -> BTreeMap<String, String> {
        self.channel.masked()
    }
}

#[async_trait]
impl Notifier for HttpNotifier {
    fn id(&self) -> &str {
        &self.id
    }

    async fn notify(&self, notification: &Notification) -> Result<(), NotifyError> {
        let containers: Vec<serde_json::Value> = notification
            .containers
            .iter()
            .filter_map(|c| serde_json::to_value(c).ok())
            .collect();
        let outgoing = self.channel.request(notification, &containers);
        let refused = |reason: String| NotifyError::Refused {
            trigger: self.id.clone(),
            reason,
        };
        let url = reqwest::Url::parse(&outgoing.url).map_err(|e| refused(format!("URL: {e}")))?;
        let (host, address) = egress::check(&url, self.channel.allow_metadata())
            .await
            .map_err(|e| refused(e.to_string()))?;
        // Connect to the address the guard checked, whatever DNS says next; never follow a redirect.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.timeout)
            .resolve(&host, address)
            .build()
            .map_err(|e| refused(format!("HTTP client: {e}")))?;
        let mut request = client.request(outgoing.method, url);
        for (name, value) in &outgoing.headers {
            request = request.header(name, value);
        }
        if let Some(body) = &outgoing.body {
            request = request.json(body);
        }
        let unavailable = |reason: String| NotifyError::Unavailable {
            trigger: self.id.clone(),
            reason,
        };
        let response = request
            .send()
            .await
            .map_err(|e| unavailable(e.without_url().to_string()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text: String = response
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect();
        Err(match status.as_u16() {
            429 => NotifyError::RateLimited {
                trigger: self.id.clone(),
                retry_after,
            },
            code if code >= 500 => unavailable(format!("HTTP {code}: {text}")),
            code => NotifyError::Rejected {
                trigger: self.id.clone(),
                status: code,
                reason: text,
            },
        })
    }
}
