//! drydock's notification channels: the [`Notifier`] port for the HTTP-based services users
//! configure (ntfy, Discord, Slack, Gotify, Mattermost, Google Chat, Teams, Apprise, any HTTP
//! endpoint), one egress guard for every destination, and delivery retried with back-off.
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
mod delivery;
pub mod egress;
mod mqtt;
mod smtp;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use drydock_core::ports::{Notification, Notifier, NotifyError};

use crate::channels::{Channel, ChannelConfigError, ChannelKind};
pub use crate::command::CommandNotifier;
pub use crate::delivery::{Delivery, RetryPolicy, deliver};
pub use crate::mqtt::{MqttNotifier, flatten_container};
pub use crate::smtp::SmtpNotifier;

/// Whose names drydock uses where dashboards and Home Assistant look for them (`DD_COMPAT`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compat {
    /// drydock's own: metrics `dd_*`, MQTT topic `dd/container`, Home Assistant device `drydock`.
    #[default]
    Drydock,
    /// What's Up Docker's: metrics `wud_*`, MQTT topic `wud/container`, client id `wud_…`,
    /// Home Assistant device `wud`.
    Wud,
}

impl Compat {
    /// `dd` or `wud`: the prefix of metric names, of the MQTT topic and of the client id.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Drydock => "dd",
            Self::Wud => "wud",
        }
    }

    /// The Home Assistant device: `drydock` or `wud`.
    pub fn device(self) -> &'static str {
        match self {
            Self::Drydock => "drydock",
            Self::Wud => "wud",
        }
    }
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
