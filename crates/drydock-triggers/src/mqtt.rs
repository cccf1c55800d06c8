//! The MQTT channel (rumqttc): each container's state, flattened to snake_case keys as drydock and
//! What's Up Docker publish it, retained on `<TOPIC>/<watcher>/<name>`; with `HASS_ENABLED`,
//! Home Assistant discovery of an `update` entity per container. `ALLOWMETADATA` opts in to a
//! link-local or cloud-metadata broker, as for the HTTP channels.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use drydock_core::ports::{Notification, Notifier, NotifyError};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, Transport};
use serde_json::{Value, json};

use crate::channels::ChannelConfigError;
use crate::egress;
use drydock_core::compat::{Compat, flatten_container};

/// A [`Notifier`] publishing to an MQTT broker.
pub struct MqttNotifier {
    id: String,
    host: String,
    port: u16,
    tls: bool,
    topic: String,
    client_id: String,
    credentials: Option<(String, String)>,
    hass: Option<String>,
    compat: Compat,
    /// `ALLOWMETADATA`: the egress guard's opt-in, as for the HTTP channels.
    allow_metadata: bool,
    /// One connection at a time: brokers drop a session when another connects with its client
    /// id, so concurrent publications would knock each other out.
    connection: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for MqttNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttNotifier")
            .field("id", &self.id)
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

fn error(key: &str, reason: impl Into<String>) -> ChannelConfigError {
    ChannelConfigError {
        key: key.into(),
        reason: reason.into(),
    }
}

impl MqttNotifier {
    /// An MQTT trigger from its keys (`URL` required: `mqtt://host[:port]` or `mqtts://`), with
    /// drydock's names (topic `dd/container`, device `drydock`).
    pub fn new(id: &str, keys: &BTreeMap<String, String>) -> Result<Self, ChannelConfigError> {
        Self::with_compat(id, keys, Compat::Drydock)
    }

    /// An MQTT trigger whose defaults follow `compat`: with [`Compat::Wud`], What's Up Docker's
    /// topic `wud/container`, client id `wud_…`, Home Assistant device `wud`, and container
    /// names with `.` as `-` in topics. An explicit `TOPIC` or `CLIENTID` still wins.
    pub fn with_compat(
        id: &str,
        keys: &BTreeMap<String, String>,
        compat: Compat,
    ) -> Result<Self, ChannelConfigError> {
        let get = |k: &str| {
            keys.get(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let flag = |k: &str| {
            get(k)
                .and_then(|v| drydock_core::discovery::parse_bool(&v))
                .unwrap_or(false)
        };
        let url = get("URL").ok_or_else(|| error("URL", "is required"))?;
        let parsed = reqwest::Url::parse(&url).map_err(|e| error("URL", e.to_string()))?;
        let tls = match parsed.scheme() {
            "mqtt" | "tcp" => false,
            "mqtts" | "tls" | "ssl" => true,
            other => {
                return Err(error(
                    "URL",
                    format!("scheme `{other}` is not one of mqtt, mqtts, tcp, tls"),
                ));
            }
        };
        let host = parsed
            .host_str()
            .ok_or_else(|| error("URL", "has no host"))?
            .trim_matches(['[', ']'])
            .to_owned();
        Ok(Self {
            id: id.to_owned(),
            port: parsed.port().unwrap_or(if tls { 8883 } else { 1883 }),
            host,
            tls,
            topic: get("TOPIC")
                .unwrap_or_else(|| format!("{}/container", compat.prefix()))
                .trim_end_matches('/')
                .to_owned(),
            client_id: get("CLIENTID").unwrap_or_else(|| {
                format!("{}_{:08x}", compat.prefix(), std::process::id() ^ 0x5eed)
            }),
            credentials: get("USER").map(|u| (u, get("PASSWORD").unwrap_or_default())),
            hass: (flag("HASS_ENABLED") || flag("HASS_DISCOVERY"))
                .then(|| get("HASS_PREFIX").unwrap_or_else(|| "homeassistant".into())),
            compat,
            allow_metadata: flag("ALLOWMETADATA"),
            connection: tokio::sync::Mutex::new(()),
        })
    }

    /// The configuration with the password masked.
    pub fn masked_configuration(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        out.insert(
            "url".into(),
            format!(
                "{}://{}:{}",
                if self.tls { "mqtts" } else { "mqtt" },
                self.host,
                self.port
            ),
        );
        out.insert("topic".into(), self.topic.clone());
        if let Some((user, _)) = &self.credentials {
            out.insert("user".into(), user.clone());
            out.insert("password".into(), "[REDACTED]".into());
        }
        if let Some(prefix) = &self.hass {
            out.insert("hass.prefix".into(), prefix.clone());
        }
        out
    }

    /// The retained messages announcing these containers: (topic, payload).
    pub fn messages(&self, containers: &[Value]) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        let device = self.compat.device();
        for container in containers {
            let watcher = container["watcher"].as_str().unwrap_or("local");
            let mut name = sanitise(container["name"].as_str().unwrap_or_default());
            if self.compat == Compat::Wud {
                name = name.replace('.', "-");
            }
            let state_topic = format!("{}/{watcher}/{name}", self.topic);
            let flat = flatten_container(container);
            out.push((state_topic.clone(), Value::Object(flat)));
            if let Some(prefix) = &self.hass {
                let object_id = state_topic.replace('/', "_");
                out.push((
                    format!("{prefix}/update/{object_id}/config"),
                    json!({
                        "unique_id": object_id,
                        "object_id": object_id,
                        "name": container["displayName"].as_str().unwrap_or(container["name"].as_str().unwrap_or_default()),
                        "state_topic": state_topic,
                        "value_template": "{{ value_json.image_tag_value }}",
                        "latest_version_topic": state_topic,
                        "latest_version_template": "{{ value_json.result_tag if value_json.result_tag is defined else value_json.image_tag_value }}",
                        "json_attributes_topic": state_topic,
                        "force_update": true,
                        "device": {
                            "identifiers": [device],
                            "manufacturer": device,
                            "model": device,
                            "name": device,
                            "sw_version": env!("CARGO_PKG_VERSION"),
                        },
                    }),
                ));
            }
        }
        out
    }
}

/// Topic levels may not hold `+`, `#` or `/`.
fn sanitise(name: &str) -> String {
    name.chars()
        .map(|c| if matches!(c, '+' | '#' | '/') { '_' } else { c })
        .collect()
}

#[async_trait]
impl Notifier for MqttNotifier {
    fn id(&self) -> &str {
        &self.id
    }

    /// Home Assistant shows every container's installed version, update or not.
    fn publishes_state(&self) -> bool {
        true
    }

    async fn notify(&self, notification: &Notification) -> Result<(), NotifyError> {
        let unavailable = |reason: String| NotifyError::Unavailable {
            trigger: self.id.clone(),
            reason,
        };
        let containers: Vec<Value> = notification
            .containers
            .iter()
            .filter_map(|c| serde_json::to_value(c).ok())
            .collect();
        let messages = self.messages(&containers);
        if messages.is_empty() {
            return Ok(());
        }
        // The egress guard, as for the HTTP channels: the broker must not be a link-local or
        // cloud-metadata address. Without TLS the connection goes to the address checked; with
        // TLS to the host name, which the certificate is verified against.
        let address = egress::check_host(&self.host, self.port, self.allow_metadata)
            .await
            .map_err(|e| egress::notify_error(&self.id, e))?;
        let broker = if self.tls {
            self.host.clone()
        } else {
            address.ip().to_string()
        };
        let _one_at_a_time = self.connection.lock().await;
        let mut options = MqttOptions::new(self.client_id.clone(), broker, self.port);
        options.set_keep_alive(Duration::from_secs(30));
        if let Some((user, password)) = &self.credentials {
            options.set_credentials(user.clone(), password.clone());
        }
        if self.tls {
            options.set_transport(Transport::tls_with_default_config());
        }
        let (client, mut events) = AsyncClient::new(options, messages.len() + 4);
        for (topic, payload) in &messages {
            client
                .publish(topic.clone(), QoS::AtLeastOnce, true, payload.to_string())
                .await
                .map_err(|e| unavailable(e.to_string()))?;
        }
        // Drive the connection until the broker acknowledged every message.
        let mut acknowledged = 0;
        let wait = async {
            while acknowledged < messages.len() {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(_))) => acknowledged += 1,
                    Ok(Event::Incoming(Packet::ConnAck(ack)))
                        if ack.code != rumqttc::ConnectReturnCode::Success =>
                    {
                        return Err(NotifyError::Rejected {
                            trigger: self.id.clone(),
                            status: 0,
                            reason: format!("broker refused: {:?}", ack.code),
                        });
                    }
                    Ok(_) => {}
                    Err(e) => return Err(unavailable(e.to_string())),
                }
            }
            Ok(())
        };
        let result = tokio::time::timeout(Duration::from_secs(15), wait)
            .await
            .unwrap_or_else(|_| {
                Err(unavailable(
                    "the broker did not acknowledge within 15 s".into(),
                ))
            });
        let _ = client.disconnect().await;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wud_compat_uses_whats_up_dockers_names_unless_told_otherwise() {
        let keys = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let nginx =
            json!({"name": "nginx", "watcher": "local", "image": {"tag": {"value": "1.25"}}});
        let hass = [("URL", "mqtt://127.0.0.1"), ("HASS_ENABLED", "true")];
        let wud = MqttNotifier::with_compat("mqtt.ha", &keys(&hass), Compat::Wud).unwrap();
        assert!(wud.client_id.starts_with("wud_"), "{}", wud.client_id);
        let messages = wud.messages(std::slice::from_ref(&nginx));
        assert_eq!(messages[0].0, "wud/container/local/nginx");
        assert_eq!(
            messages[1].0,
            "homeassistant/update/wud_container_local_nginx/config"
        );
        let config = &messages[1].1;
        assert_eq!(config["unique_id"], "wud_container_local_nginx");
        assert_eq!(config["state_topic"], "wud/container/local/nginx");
        assert_eq!(config["device"]["identifiers"], json!(["wud"]));
        assert_eq!(config["device"]["name"], "wud");
        assert_eq!(config["device"]["manufacturer"], "wud");
        // WUD writes a dot in a container name as `-` in topics.
        let dotted = json!({"name": "web.1", "watcher": "local"});
        assert_eq!(wud.messages(&[dotted])[0].0, "wud/container/local/web-1");

        // drydock's own names by default; an explicit TOPIC wins in either mode.
        let dd = MqttNotifier::new("mqtt.ha", &keys(&hass)).unwrap();
        assert!(dd.client_id.starts_with("dd_"), "{}", dd.client_id);
        let messages = dd.messages(std::slice::from_ref(&nginx));
        assert_eq!(messages[0].0, "dd/container/local/nginx");
        assert_eq!(messages[1].1["device"]["identifiers"], json!(["drydock"]));
        let explicit = MqttNotifier::with_compat(
            "mqtt.ha",
            &keys(&[("URL", "mqtt://127.0.0.1"), ("TOPIC", "home/updates")]),
            Compat::Wud,
        )
        .unwrap();
        assert_eq!(explicit.messages(&[nginx])[0].0, "home/updates/local/nginx");
    }
}
