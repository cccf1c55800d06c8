//! The HTTP-based channels: configuration keys (as drydock names them) and the exact request
//! each service expects.

use std::collections::BTreeMap;

use drydock_core::ports::Notification;
use serde_json::{Value, json};

/// The HTTP channel types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelKind {
    /// ntfy: `POST <URL>` JSON `{topic, title, message, priority}`.
    Ntfy,
    /// Discord webhook: an embed with the title and a field holding the body.
    Discord,
    /// Slack: an incoming webhook (`URL`), or `chat.postMessage` with `TOKEN` and `CHANNEL`.
    Slack,
    /// Gotify: `POST <URL>/message` with the app token.
    Gotify,
    /// Mattermost incoming webhook.
    Mattermost,
    /// Google Chat webhook.
    GoogleChat,
    /// Microsoft Teams workflow webhook: an Adaptive Card.
    Teams,
    /// Apprise API: `POST <URL>/notify[/<CONFIG>]`.
    Apprise,
    /// Any HTTP endpoint: the container (simple) or containers (batch) as JSON.
    Http,
    /// Telegram bot API `sendMessage`.
    Telegram,
    /// Pushover messages API.
    Pushover,
    /// Matrix client-server API: an `m.room.message` event.
    Matrix,
    /// Rocket.Chat `chat.postMessage`.
    RocketChat,
    /// IFTTT Maker webhook: `value1` name, `value2` tag, `value3` the container JSON.
    Ifttt,
}

impl ChannelKind {
    /// The type name used in `DD_NOTIFICATION_{TYPE}_{NAME}_*`.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "ntfy" => Self::Ntfy,
            "discord" => Self::Discord,
            "slack" => Self::Slack,
            "gotify" => Self::Gotify,
            "mattermost" => Self::Mattermost,
            "googlechat" => Self::GoogleChat,
            "teams" => Self::Teams,
            "apprise" => Self::Apprise,
            "http" => Self::Http,
            "telegram" => Self::Telegram,
            "pushover" => Self::Pushover,
            "matrix" => Self::Matrix,
            "rocketchat" => Self::RocketChat,
            "ifttt" => Self::Ifttt,
            _ => return None,
        })
    }
}

/// An HTTP request a channel sends.
#[derive(Clone, Debug, PartialEq)]
pub struct Outgoing {
    /// The method.
    pub method: reqwest::Method,
    /// The URL.
    pub url: String,
    /// Extra headers (credentials among them: never logged).
    pub headers: Vec<(String, String)>,
    /// The JSON body.
    pub body: Option<Value>,
}

/// A channel configuration error, naming the key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct ChannelConfigError {
    /// The key (`URL`, `TOPIC`).
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

/// A configured HTTP channel.
#[derive(Clone, Debug)]
pub struct Channel {
    kind: ChannelKind,
    keys: BTreeMap<String, String>,
}

impl Channel {
    /// Reads a channel's keys (upper case); required keys missing or invalid are errors.
    pub fn new(
        kind: ChannelKind,
        keys: BTreeMap<String, String>,
    ) -> Result<Self, ChannelConfigError> {
        let channel = Self { kind, keys };
        let required: &[&str] = match kind {
            ChannelKind::Ntfy => &["TOPIC"],
            ChannelKind::Gotify => &["URL", "TOKEN"],
            ChannelKind::Slack => &[],
            ChannelKind::Telegram => &["BOTTOKEN", "CHATID"],
            ChannelKind::Pushover => &["USER", "TOKEN"],
            ChannelKind::Matrix => &["URL", "ROOMID", "ACCESSTOKEN"],
            ChannelKind::RocketChat => &["URL", "USER_ID", "AUTH_TOKEN", "CHANNEL"],
            ChannelKind::Ifttt => &["KEY"],
            _ => &["URL"],
        };
        for key in required {
            channel.required(key)?;
        }
        if kind == ChannelKind::Slack && channel.get("URL").is_none() {
            channel.required("TOKEN")?;
            channel.required("CHANNEL")?;
        }
        if let Some(priority) = channel.get("PRIORITY") {
            let valid = if kind == ChannelKind::Pushover {
                priority.parse::<i8>().is_ok_and(|p| (-2..=2).contains(&p))
            } else {
                priority.parse::<u8>().is_ok_and(|p| p <= 10)
            };
            if !valid {
                return Err(ChannelConfigError {
                    key: "PRIORITY".into(),
                    reason: format!("`{priority}` is not a priority"),
                });
            }
        }
        for key in ["URL", "APIURL"] {
            if let Some(url) = channel.get(key) {
                let parsed = reqwest::Url::parse(url).map_err(|e| ChannelConfigError {
                    key: key.into(),
                    reason: e.to_string(),
                })?;
                if !matches!(parsed.scheme(), "http" | "https") {
                    return Err(ChannelConfigError {
                        key: key.into(),
                        reason: "must be an http(s) URL".into(),
                    });
                }
            }
        }
        Ok(channel)
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.keys
            .get(key)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    fn required(&self, key: &str) -> Result<&str, ChannelConfigError> {
        self.get(key).ok_or_else(|| ChannelConfigError {
            key: key.into(),
            reason: "is required".into(),
        })
    }

    /// Whether a key's value is a secret, masked in the API: credentials, and the URL of the
    /// webhook channels (their token is in the URL).
    pub fn is_secret(&self, key: &str) -> bool {
        let key = key.to_ascii_uppercase();
        let webhook = matches!(
            self.kind,
            ChannelKind::Discord
                | ChannelKind::Slack
                | ChannelKind::Teams
                | ChannelKind::GoogleChat
                | ChannelKind::Mattermost
        );
        ["TOKEN", "PASSWORD", "KEY", "SECRET", "BEARER"]
            .iter()
            .any(|s| key.contains(s))
            || (webhook && key == "URL")
    }

    /// The configuration with secrets masked, including a password inside a URL
    /// (`https://user:password@ntfy.example/`).
    pub fn masked(&self) -> BTreeMap<String, String> {
        self.keys
            .iter()
            .map(|(k, v)| {
                (
                    k.to_ascii_lowercase(),
                    if self.is_secret(k) {
                        "[REDACTED]".into()
                    } else {
                        mask_url_password(v)
                    },
                )
            })
            .collect()
    }

    /// The request announcing `notification`; `containers` is its containers as API JSON.
    pub fn request(&self, notification: &Notification, containers: &[Value]) -> Outgoing {
        let title = notification.title.as_str();
        let body = notification.body.as_str();
        let url = self
            .get("URL")
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_owned();
        let post = |url: String, body: Value| Outgoing {
            method: reqwest::Method::POST,
            url,
            headers: Vec::new(),
            body: Some(body),
        };
        match self.kind {
            ChannelKind::Ntfy => {
                let url = self
                    .get("URL")
                    .unwrap_or("https://ntfy.sh")
                    .trim_end_matches('/')
                    .to_owned();
                let mut out = post(
                    url,
                    json!({
                        "topic": self.get("TOPIC").unwrap_or_default(),
                        "title": title,
                        "message": body,
                        "priority": self.get("PRIORITY").and_then(|p| p.parse::<u8>().ok()).unwrap_or(3),
                    }),
                );
                if let Some(token) = self.get("AUTH_TOKEN") {
                    out.headers
                        .push(("Authorization".into(), format!("Bearer {token}")));
                } else if let (Some(user), Some(password)) =
                    (self.get("AUTH_USER"), self.get("AUTH_PASSWORD"))
                {
                    out.headers
                        .push(("Authorization".into(), basic(user, password)));
                }
                out
            }
            ChannelKind::Discord => post(
                url,
                json!({
                    "username": self.get("BOTUSERNAME").unwrap_or("drydock"),
                    "embeds": [{
                        "title": title,
                        "color": self.get("CARDCOLOR").and_then(|c| c.parse::<u32>().ok()).unwrap_or(65280),
                        "fields": [{ "name": self.get("CARDLABEL").unwrap_or(""), "value": body }],
                    }],
                }),
            ),
            ChannelKind::Slack => {
                let text = format!("*{title}*\n\n{body}");
                match self.get("URL") {
                    Some(webhook) => post(webhook.to_owned(), json!({ "text": text })),
                    None => {
                        let api = self
                            .get("APIURL")
                            .unwrap_or("https://slack.com/api")
                            .trim_end_matches('/');
                        let mut out = post(
                            format!("{api}/chat.postMessage"),
                            json!({ "channel": self.get("CHANNEL").unwrap_or_default(), "text": text }),
                        );
                        out.headers.push((
                            "Authorization".into(),
                            format!("Bearer {}", self.get("TOKEN").unwrap_or_default()),
                        ));
                        out
                    }
                }
            }
            ChannelKind::Gotify => {
                let mut out = post(
                    format!("{url}/message"),
                    json!({
                        "title": title,
                        "message": body,
                        "priority": self.get("PRIORITY").and_then(|p| p.parse::<u8>().ok()).unwrap_or(5),
                    }),
                );
                out.headers.push((
                    "X-Gotify-Key".into(),
                    self.get("TOKEN").unwrap_or_default().to_owned(),
                ));
                out
            }
            ChannelKind::Mattermost => {
                let mut message = json!({ "text": format!("**{title}**\n\n{body}") });
                for (key, field) in [
                    ("CHANNEL", "channel"),
                    ("USERNAME", "username"),
                    ("ICONEMOJI", "icon_emoji"),
                    ("ICONURL", "icon_url"),
                ] {
                    if let Some(value) = self.get(key) {
                        message[field] = json!(value);
                    }
                }
                post(url, message)
            }
            ChannelKind::GoogleChat => post(url, json!({ "text": format!("*{title}*\n\n{body}") })),
            ChannelKind::Teams => post(
                url,
                json!({
                    "type": "message",
                    "attachments": [{
                        "contentType": "application/vnd.microsoft.card.adaptive",
                        "content": {
                            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                            "type": "AdaptiveCard",
                            "version": self.get("CARDVERSION").unwrap_or("1.4"),
                            "body": [
                                { "type": "TextBlock", "text": title, "weight": "Bolder", "wrap": true },
                                { "type": "TextBlock", "text": body, "wrap": true },
                            ],
                        },
                    }],
                }),
            ),
            ChannelKind::Apprise => {
                let target = match self.get("CONFIG") {
                    Some(config) => format!("{url}/notify/{config}"),
                    None => format!("{url}/notify"),
                };
                let mut message =
                    json!({ "title": title, "body": body, "format": "text", "type": "info" });
                if let Some(urls) = self.get("URLS") {
                    message["urls"] = json!(urls);
                }
                if let Some(tag) = self.get("TAG") {
                    message["tag"] = json!(tag);
                }
                post(target, message)
            }
            ChannelKind::Telegram => {
                let api = self
                    .get("URL")
                    .unwrap_or("https://api.telegram.org")
                    .trim_end_matches('/');
                let html = self
                    .get("MESSAGEFORMAT")
                    .is_some_and(|f| f.eq_ignore_ascii_case("html"));
                let text = if html {
                    format!("<b>{}</b>\n\n{}", escape_html(title), escape_html(body))
                } else {
                    format!("*{}*\n\n{}", escape_markdown(title), escape_markdown(body))
                };
                post(
                    format!(
                        "{api}/bot{}/sendMessage",
                        self.get("BOTTOKEN").unwrap_or_default()
                    ),
                    json!({
                        "chat_id": self.get("CHATID").unwrap_or_default(),
                        "text": text,
                        "parse_mode": if html { "HTML" } else { "MarkdownV2" },
                    }),
                )
            }
            ChannelKind::Pushover => {
                let api = self
                    .get("URL")
                    .unwrap_or("https://api.pushover.net/1/messages.json");
                let mut message = json!({
                    "token": self.get("TOKEN").unwrap_or_default(),
                    "user": self.get("USER").unwrap_or_default(),
                    "title": title,
                    "message": body,
                    "sound": self.get("SOUND").unwrap_or("pushover"),
                    "priority": self.get("PRIORITY").and_then(|p| p.parse::<i8>().ok()).unwrap_or(0),
                });
                for (key, field) in [
                    ("DEVICE", "device"),
                    ("HTML", "html"),
                    ("RETRY", "retry"),
                    ("EXPIRE", "expire"),
                    ("TTL", "ttl"),
                ] {
                    if let Some(value) = self.get(key) {
                        message[field] = value
                            .parse::<i64>()
                            .map_or_else(|_| json!(value), |n| json!(n));
                    }
                }
                post(api.to_owned(), message)
            }
            ChannelKind::Matrix => {
                let txn = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or_default();
                let room: String = self
                    .get("ROOMID")
                    .unwrap_or_default()
                    .chars()
                    .flat_map(|c| match c {
                        '!' => "%21".chars().collect::<Vec<_>>(),
                        ':' => "%3A".chars().collect(),
                        c => vec![c],
                    })
                    .collect();
                Outgoing {
                    method: reqwest::Method::PUT,
                    url: format!(
                        "{url}/_matrix/client/v3/rooms/{room}/send/m.room.message/drydock{txn}"
                    ),
                    headers: vec![(
                        "Authorization".into(),
                        format!("Bearer {}", self.get("ACCESSTOKEN").unwrap_or_default()),
                    )],
                    body: Some(json!({
                        "msgtype": self.get("MSGTYPE").unwrap_or("m.notice"),
                        "body": format!("{title}\n\n{body}"),
                    })),
                }
            }
            ChannelKind::RocketChat => {
                let mut message = json!({
                    "channel": self.get("CHANNEL").unwrap_or_default(),
                    "text": format!("*{title}*\n\n{body}"),
                });
                for (key, field) in [("ALIAS", "alias"), ("AVATAR", "avatar"), ("EMOJI", "emoji")] {
                    if let Some(value) = self.get(key) {
                        message[field] = json!(value);
                    }
                }
                let mut out = post(format!("{url}/api/v1/chat.postMessage"), message);
                out.headers.push((
                    "X-User-Id".into(),
                    self.get("USER_ID").unwrap_or_default().to_owned(),
                ));
                out.headers.push((
                    "X-Auth-Token".into(),
                    self.get("AUTH_TOKEN").unwrap_or_default().to_owned(),
                ));
                out
            }
            ChannelKind::Ifttt => {
                let api = self
                    .get("URL")
                    .unwrap_or("https://maker.ifttt.com")
                    .trim_end_matches('/');
                let first = containers.first().cloned().unwrap_or(Value::Null);
                let (value1, value2, value3) = if containers.len() > 1 {
                    (
                        Value::String(Value::Array(containers.to_vec()).to_string()),
                        Value::Null,
                        Value::Null,
                    )
                } else {
                    (
                        first["name"].clone(),
                        first["result"]["tag"].clone(),
                        Value::String(first.to_string()),
                    )
                };
                post(
                    format!(
                        "{api}/trigger/{}/with/key/{}",
                        self.get("EVENT").unwrap_or("dd-image"),
                        self.get("KEY").unwrap_or_default()
                    ),
                    json!({ "value1": value1, "value2": value2, "value3": value3 }),
                )
            }
            ChannelKind::Http => {
                let method = match self.get("METHOD").map(str::to_ascii_uppercase).as_deref() {
                    Some("GET") => reqwest::Method::GET,
                    _ => reqwest::Method::POST,
                };
                let payload = match containers {
                    [one] => one.clone(),
                    many => Value::Array(many.to_vec()),
                };
                let mut out = Outgoing {
                    method,
                    url,
                    headers: Vec::new(),
                    body: Some(payload),
                };
                match self
                    .get("AUTH_TYPE")
                    .map(str::to_ascii_uppercase)
                    .as_deref()
                {
                    Some("BEARER") => out.headers.push((
                        "Authorization".into(),
                        format!("Bearer {}", self.get("AUTH_BEARER").unwrap_or_default()),
                    )),
                    Some("BASIC") => out.headers.push((
                        "Authorization".into(),
                        basic(
                            self.get("AUTH_USER").unwrap_or_default(),
                            self.get("AUTH_PASSWORD").unwrap_or_default(),
                        ),
                    )),
                    _ => {}
                }
                out
            }
        }
    }

    /// Whether the trigger allows link-local and metadata destinations (`ALLOWMETADATA`).
    pub fn allow_metadata(&self) -> bool {
        self.get("ALLOWMETADATA")
            .and_then(drydock_core::discovery::parse_bool)
            .unwrap_or(false)
    }
}

/// Telegram MarkdownV2 reserves these characters outside entities.
fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "_*[]()~`>#+-=|{}.!\\".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn basic(user: &str, password: &str) -> String {
    let encoded = base64_encode(format!("{user}:{password}").as_bytes());
    format!("Basic {encoded}")
}

/// Standard base64, to avoid a dependency for one header.
fn base64_encode(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `value` with the password of a URL's user information replaced by `[REDACTED]`; any other
/// value as it is.
pub fn mask_url_password(value: &str) -> String {
    let Some((scheme, rest)) = value.split_once("://") else {
        return value.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    // The last `@` ends the user information: a password may itself contain `@`.
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return value.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:[REDACTED]@{host}{path}"),
        None => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64_encode(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64_encode(b"a"), "YQ==");
        assert_eq!(base64_encode(b"ab"), "YWI=");
        assert_eq!(base64_encode(b""), "");
    }

    #[test]
    fn required_keys_are_named() {
        let err = Channel::new(
            ChannelKind::Gotify,
            BTreeMap::from([("URL".into(), "http://x".into())]),
        )
        .unwrap_err();
        assert_eq!(err.key, "TOKEN");
        let err = Channel::new(ChannelKind::Slack, BTreeMap::new()).unwrap_err();
        assert_eq!(err.key, "TOKEN");
        let err = Channel::new(
            ChannelKind::Discord,
            BTreeMap::from([("URL".into(), "file:///etc/passwd".into())]),
        )
        .unwrap_err();
        assert_eq!(err.key, "URL");
        let channel = Channel::new(
            ChannelKind::Ntfy,
            BTreeMap::from([
                ("TOPIC".into(), "t".into()),
                ("AUTH_TOKEN".into(), "tk".into()),
            ]),
        )
        .unwrap();
        assert_eq!(channel.masked()["auth_token"], "[REDACTED]");
        assert_eq!(channel.masked()["topic"], "t");
    }
    #[test]
    fn passwords_inside_urls_are_masked() {
        assert_eq!(
            mask_url_password("https://bob:s3cr@t@ntfy.example:8443/topic?x=1"),
            "https://bob:[REDACTED]@ntfy.example:8443/topic?x=1"
        );
        assert_eq!(
            mask_url_password("https://bob@ntfy.example/"),
            "https://bob@ntfy.example/"
        );
        assert_eq!(
            mask_url_password("https://ntfy.example/a@b"),
            "https://ntfy.example/a@b"
        );
        assert_eq!(mask_url_password("updates"), "updates");
        let channel = Channel::new(
            ChannelKind::Ntfy,
            [
                (
                    "URL".to_owned(),
                    "http://watcher:hunter2@127.0.0.1:9/".to_owned(),
                ),
                ("TOPIC".to_owned(), "updates".to_owned()),
            ]
            .into_iter()
            .collect(),
        )
        .unwrap();
        let masked = channel.masked();
        assert_eq!(masked["url"], "http://watcher:[REDACTED]@127.0.0.1:9/");
    }
}
