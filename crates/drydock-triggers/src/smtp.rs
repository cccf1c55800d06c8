//! The SMTP channel (lettre): `HOST`, `PORT`, `USER`, `PASS`, `FROM`, `TO` (comma-separated),
//! `TLS_ENABLED` (implicit TLS; otherwise STARTTLS when the server offers it), `TLS_VERIFY`,
//! `ALLOWMETADATA` (the egress guard's opt-in, as for the HTTP channels).

use std::collections::BTreeMap;

use async_trait::async_trait;
use drydock_core::ports::{Notification, Notifier, NotifyError};
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::channels::ChannelConfigError;
use crate::egress;

/// A [`Notifier`] sending mail.
pub struct SmtpNotifier {
    id: String,
    host: String,
    port: u16,
    credentials: Option<(String, String)>,
    from: Mailbox,
    to: Vec<Mailbox>,
    implicit_tls: bool,
    verify: bool,
    allow_metadata: bool,
}

impl std::fmt::Debug for SmtpNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpNotifier")
            .field("id", &self.id)
            .field("host", &self.host)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

fn error(key: &str, reason: impl Into<String>) -> ChannelConfigError {
    ChannelConfigError {
        key: key.into(),
        reason: reason.into(),
    }
}

impl SmtpNotifier {
    /// An SMTP trigger from its keys.
    pub fn new(id: &str, keys: &BTreeMap<String, String>) -> Result<Self, ChannelConfigError> {
        let get = |k: &str| {
            keys.get(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let required = |k: &str| get(k).ok_or_else(|| error(k, "is required"));
        let flag = |k: &str, default: bool| match get(k) {
            None => Ok(default),
            Some(v) => drydock_core::discovery::parse_bool(&v)
                .ok_or_else(|| error(k, format!("`{v}` is not true or false"))),
        };
        let port = required("PORT")?
            .parse::<u16>()
            .map_err(|_| error("PORT", "is not a TCP port"))?;
        let from: Mailbox = required("FROM")?
            .parse()
            .map_err(|e| error("FROM", format!("{e}")))?;
        let to = required("TO")?
            .split(',')
            .filter(|a| !a.trim().is_empty())
            .map(|a| {
                a.trim()
                    .parse::<Mailbox>()
                    .map_err(|e| error("TO", format!("`{a}`: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            id: id.to_owned(),
            host: required("HOST")?,
            port,
            credentials: get("USER").map(|user| (user, get("PASS").unwrap_or_default())),
            from,
            to,
            implicit_tls: flag("TLS_ENABLED", false)?,
            verify: flag("TLS_VERIFY", true)?,
            allow_metadata: flag("ALLOWMETADATA", false)?,
        })
    }

    /// The configuration with the password masked.
    pub fn masked_configuration(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        out.insert("host".into(), self.host.clone());
        out.insert("port".into(), self.port.to_string());
        out.insert("from".into(), self.from.to_string());
        out.insert(
            "to".into(),
            self.to
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(","),
        );
        if let Some((user, _)) = &self.credentials {
            out.insert("user".into(), user.clone());
            out.insert("pass".into(), "[REDACTED]".into());
        }
        out
    }
}

#[async_trait]
impl Notifier for SmtpNotifier {
    fn id(&self) -> &str {
        &self.id
    }

    async fn notify(&self, notification: &Notification) -> Result<(), NotifyError> {
        let refused = |reason: String| NotifyError::Refused {
            trigger: self.id.clone(),
            reason,
        };
        let mut message = Message::builder()
            .from(self.from.clone())
            .subject(notification.title.clone());
        for to in &self.to {
            message = message.to(to.clone());
        }
        let message = message
            .body(notification.body.clone())
            .map_err(|e| refused(format!("message: {e}")))?;
        // The egress guard, as for the HTTP channels: the server must not be a link-local or
        // cloud-metadata address. The connection goes to the address checked; TLS still verifies
        // the configured host name.
        let address = egress::check_host(&self.host, self.port, self.allow_metadata)
            .await
            .map_err(|e| egress::notify_error(&self.id, e))?;
        let parameters = TlsParameters::builder(self.host.clone())
            .dangerous_accept_invalid_certs(!self.verify)
            .build()
            .map_err(|e| refused(format!("TLS: {e}")))?;
        let tls = if self.implicit_tls {
            Tls::Wrapper(parameters)
        } else {
            Tls::Opportunistic(parameters)
        };
        let mut transport =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(address.ip().to_string())
                .port(address.port())
                .tls(tls)
                .timeout(Some(std::time::Duration::from_secs(30)));
        if let Some((user, pass)) = &self.credentials {
            transport = transport.credentials(Credentials::new(user.clone(), pass.clone()));
        }
        match transport.build().send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(NotifyError::Rejected {
                trigger: self.id.clone(),
                status: e.status().map_or(550, u16::from),
                reason: e.to_string(),
            }),
            Err(e) => Err(NotifyError::Unavailable {
                trigger: self.id.clone(),
                reason: e.to_string(),
            }),
        }
    }
}
