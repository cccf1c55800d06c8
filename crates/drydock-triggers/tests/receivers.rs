//! Each channel against a real HTTP receiver on loopback that records what arrives; retries,
//! dead letters and the egress guard.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use drydock_core::model::Container;
use drydock_core::ports::{Notification, NotificationEvent, Notifier, NotifyError};
use drydock_testkit::contract::{NotifierFixture, notifier_contract};
use drydock_testkit::engine::{TestService, unique};
use drydock_triggers::HttpNotifier;
use drydock_triggers::channels::ChannelKind;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Clone, Debug)]
struct Received {
    method: String,
    path: String,
    headers: BTreeMap<String, String>,
    body: Value,
}

/// A receiver answering `statuses` in turn (the last one repeats), recording every request.
struct Receiver {
    base: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(statuses: Vec<(u16, Vec<(&'static str, &'static str)>)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let log = received.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    continue;
                };
                let log = log.clone();
                let statuses = statuses.clone();
                tokio::spawn(async move {
                    let mut buffer = Vec::new();
                    let mut chunk = [0u8; 8192];
                    let (head_end, length) = loop {
                        let n = stream.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buffer.extend_from_slice(&chunk[..n]);
                        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buffer[..end]).to_string();
                            let length = head
                                .lines()
                                .find_map(|l| {
                                    l.to_ascii_lowercase()
                                        .strip_prefix("content-length:")
                                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                                })
                                .unwrap_or(0);
                            break (end + 4, length);
                        }
                    };
                    while buffer.len() < head_end + length {
                        let n = stream.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        buffer.extend_from_slice(&chunk[..n]);
                    }
                    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
                    let mut lines = head.lines();
                    let mut first = lines.next().unwrap_or_default().split(' ');
                    let method = first.next().unwrap_or_default().to_owned();
                    let path = first.next().unwrap_or_default().to_owned();
                    let headers = lines
                        .filter_map(|l| l.split_once(':'))
                        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                        .collect();
                    let body = serde_json::from_slice(&buffer[head_end..]).unwrap_or(Value::Null);
                    let index = {
                        let mut log = log.lock().unwrap();
                        log.push(Received {
                            method,
                            path,
                            headers,
                            body,
                        });
                        log.len() - 1
                    };
                    let (status, extra) = statuses.get(index).or(statuses.last()).cloned().unwrap();
                    let mut response = format!(
                        "HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n"
                    );
                    for (name, value) in extra {
                        response.push_str(&format!("{name}: {value}\r\n"));
                    }
                    response.push_str("\r\n{}");
                    let _ = stream.write_all(response.as_bytes()).await;
                });
            }
        });
        Self { base, received }
    }

    fn ok() -> Vec<(u16, Vec<(&'static str, &'static str)>)> {
        vec![(200, Vec::new())]
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

fn notification() -> Notification {
    let container = Container {
        id: "abc".into(),
        name: "web".into(),
        watcher: "local".into(),
        ..Container::default()
    };
    Notification {
        event: NotificationEvent::UpdateAvailable,
        title: "New tag found for container web".into(),
        body: "Container web running with tag 1.0.0 can be updated to tag 1.1.0".into(),
        containers: vec![container],
    }
}

fn keys(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

const TITLE: &str = "New tag found for container web";
const BODY: &str = "Container web running with tag 1.0.0 can be updated to tag 1.1.0";

async fn send(kind: ChannelKind, pairs: &[(&str, &str)]) -> Received {
    let receiver = Receiver::start(Receiver::ok()).await;
    let mut pairs: Vec<(&str, String)> = pairs
        .iter()
        .map(|(k, v)| (*k, v.replace("{base}", &receiver.base)))
        .collect();
    if !pairs.iter().any(|(k, _)| *k == "URL") && kind != ChannelKind::Slack {
        pairs.push(("URL", receiver.base.clone()));
    }
    let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let notifier = HttpNotifier::new("test.one", kind, keys(&refs)).unwrap();
    notifier.notify(&notification()).await.unwrap();
    let mut received = receiver.received();
    assert_eq!(received.len(), 1, "exactly one request");
    received.remove(0)
}

#[tokio::test]
async fn each_channel_sends_what_its_service_expects() {
    let ntfy = send(
        ChannelKind::Ntfy,
        &[
            ("TOPIC", "updates"),
            ("PRIORITY", "4"),
            ("AUTH_TOKEN", "tk_secret"),
        ],
    )
    .await;
    assert_eq!((ntfy.method.as_str(), ntfy.path.as_str()), ("POST", "/"));
    assert_eq!(
        ntfy.body,
        json!({"topic": "updates", "title": TITLE, "message": BODY, "priority": 4})
    );
    assert_eq!(ntfy.headers["authorization"], "Bearer tk_secret");

    let discord = send(ChannelKind::Discord, &[("CARDLABEL", "Update")]).await;
    assert_eq!(
        discord.body,
        json!({"username": "drydock", "embeds": [{"title": TITLE, "color": 65280, "fields": [{"name": "Update", "value": BODY}]}]})
    );

    let slack = send(ChannelKind::Slack, &[("URL", "{base}/services/T/B/X")]).await;
    assert_eq!(slack.path, "/services/T/B/X");
    assert_eq!(slack.body, json!({"text": format!("*{TITLE}*\n\n{BODY}")}));
    let slack_api = send(
        ChannelKind::Slack,
        &[
            ("TOKEN", "xoxb-1"),
            ("CHANNEL", "#ops"),
            ("APIURL", "{base}/api"),
        ],
    )
    .await;
    assert_eq!(slack_api.path, "/api/chat.postMessage");
    assert_eq!(slack_api.headers["authorization"], "Bearer xoxb-1");
    assert_eq!(slack_api.body["channel"], "#ops");

    let gotify = send(ChannelKind::Gotify, &[("TOKEN", "app-token")]).await;
    assert_eq!(gotify.path, "/message");
    assert_eq!(gotify.headers["x-gotify-key"], "app-token");
    assert_eq!(
        gotify.body,
        json!({"title": TITLE, "message": BODY, "priority": 5})
    );

    let mattermost = send(ChannelKind::Mattermost, &[("CHANNEL", "town-square")]).await;
    assert_eq!(
        mattermost.body,
        json!({"text": format!("**{TITLE}**\n\n{BODY}"), "channel": "town-square"})
    );

    let chat = send(ChannelKind::GoogleChat, &[]).await;
    assert_eq!(chat.body, json!({"text": format!("*{TITLE}*\n\n{BODY}")}));

    let teams = send(ChannelKind::Teams, &[]).await;
    assert_eq!(
        teams.body["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(
        teams.body["attachments"][0]["content"]["body"][1]["text"],
        BODY
    );

    let apprise = send(ChannelKind::Apprise, &[("CONFIG", "mycfg"), ("TAG", "ops")]).await;
    assert_eq!(apprise.path, "/notify/mycfg");
    assert_eq!(
        apprise.body,
        json!({"title": TITLE, "body": BODY, "format": "text", "type": "info", "tag": "ops"})
    );

    let telegram = send(
        ChannelKind::Telegram,
        &[("BOTTOKEN", "123:abc"), ("CHATID", "42")],
    )
    .await;
    assert_eq!(telegram.path, "/bot123:abc/sendMessage");
    assert_eq!(telegram.body["chat_id"], "42");
    assert_eq!(telegram.body["parse_mode"], "MarkdownV2");
    assert_eq!(
        telegram.body["text"],
        "*New tag found for container web*\n\nContainer web running with tag 1\\.0\\.0 can be updated to tag 1\\.1\\.0"
    );

    let pushover = send(
        ChannelKind::Pushover,
        &[
            ("USER", "u1"),
            ("TOKEN", "t1"),
            ("PRIORITY", "-1"),
            ("URL", "{base}/1/messages.json"),
        ],
    )
    .await;
    assert_eq!(pushover.path, "/1/messages.json");
    assert_eq!(
        pushover.body,
        json!({"token": "t1", "user": "u1", "title": TITLE, "message": BODY, "sound": "pushover", "priority": -1})
    );

    let matrix = send(
        ChannelKind::Matrix,
        &[("ROOMID", "!room:example.org"), ("ACCESSTOKEN", "syt_x")],
    )
    .await;
    assert_eq!(matrix.method, "PUT");
    assert!(
        matrix
            .path
            .starts_with("/_matrix/client/v3/rooms/%21room%3Aexample.org/send/m.room.message/"),
        "{}",
        matrix.path
    );
    assert_eq!(matrix.headers["authorization"], "Bearer syt_x");
    assert_eq!(
        matrix.body,
        json!({"msgtype": "m.notice", "body": format!("{TITLE}\n\n{BODY}")})
    );

    let rocket = send(
        ChannelKind::RocketChat,
        &[
            ("USER_ID", "uid"),
            ("AUTH_TOKEN", "tok"),
            ("CHANNEL", "#ops"),
        ],
    )
    .await;
    assert_eq!(rocket.path, "/api/v1/chat.postMessage");
    assert_eq!(
        (
            rocket.headers["x-user-id"].as_str(),
            rocket.headers["x-auth-token"].as_str()
        ),
        ("uid", "tok")
    );
    assert_eq!(rocket.body["channel"], "#ops");

    let ifttt = send(ChannelKind::Ifttt, &[("KEY", "k1")]).await;
    assert_eq!(ifttt.path, "/trigger/dd-image/with/key/k1");
    assert_eq!(ifttt.body["value1"], "web");
    assert!(
        ifttt.body["value3"]
            .as_str()
            .unwrap()
            .contains("\"id\":\"abc\"")
    );

    let http = send(
        ChannelKind::Http,
        &[
            ("AUTH_TYPE", "BASIC"),
            ("AUTH_USER", "u"),
            ("AUTH_PASSWORD", "p"),
        ],
    )
    .await;
    assert_eq!(http.body["name"], "web");
    assert_eq!(http.body["updateKind"]["kind"], "unknown");
    assert_eq!(http.headers["authorization"], "Basic dTpw");
}

/// What each receiver answer means for delivery: a server error is worth retrying, a rate limit
/// carries its `Retry-After`, a client error is final, and a success is once. (The retries
/// themselves are `drydock-notify`'s.)
#[tokio::test]
async fn receiver_answers_become_the_errors_delivery_retries_on() {
    let receiver = Receiver::start(vec![
        (500, Vec::new()),
        (429, vec![("Retry-After", "7")]),
        (400, Vec::new()),
        (200, Vec::new()),
    ])
    .await;
    let notifier = HttpNotifier::new(
        "ntfy.answers",
        ChannelKind::Ntfy,
        keys(&[("TOPIC", "t"), ("URL", &receiver.base)]),
    )
    .unwrap();
    let message = notification();
    assert!(matches!(
        notifier.notify(&message).await,
        Err(NotifyError::Unavailable { .. })
    ));
    assert_eq!(
        notifier.notify(&message).await,
        Err(NotifyError::RateLimited {
            trigger: "ntfy.answers".into(),
            retry_after: Some(Duration::from_secs(7)),
        })
    );
    assert!(matches!(
        notifier.notify(&message).await,
        Err(NotifyError::Rejected { status: 400, .. })
    ));
    assert_eq!(notifier.notify(&message).await, Ok(()));
    assert_eq!(receiver.received().len(), 4, "one request per call");
}

#[tokio::test]
async fn metadata_addresses_are_refused_unless_allowed() {
    let notifier = HttpNotifier::new(
        "http.evil",
        ChannelKind::Http,
        keys(&[(
            "URL",
            "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        )]),
    )
    .unwrap();
    match notifier.notify(&notification()).await {
        Err(NotifyError::Refused { reason, .. }) => assert!(
            reason.contains("169.254.169.254") && reason.contains("ALLOWMETADATA"),
            "{reason}"
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let mapped = HttpNotifier::new(
        "http.mapped",
        ChannelKind::Http,
        keys(&[("URL", "http://[::ffff:169.254.169.254]/")]),
    )
    .unwrap();
    assert!(matches!(
        mapped.notify(&notification()).await,
        Err(NotifyError::Refused { .. })
    ));
}

#[tokio::test]
async fn webhook_urls_and_credentials_are_masked() {
    let discord = HttpNotifier::new(
        "discord.ops",
        ChannelKind::Discord,
        keys(&[("URL", "https://discord.com/api/webhooks/1/secret")]),
    )
    .unwrap();
    assert_eq!(discord.masked_configuration()["url"], "[REDACTED]");
    let http = HttpNotifier::new(
        "http.hook",
        ChannelKind::Http,
        keys(&[("URL", "https://example.com/hook"), ("AUTH_PASSWORD", "pw")]),
    )
    .unwrap();
    assert_eq!(
        http.masked_configuration()["url"],
        "https://example.com/hook"
    );
    assert_eq!(http.masked_configuration()["auth_password"], "[REDACTED]");
}

#[tokio::test]
async fn a_command_gets_the_update_in_its_environment_and_stdin() {
    let dir = std::env::temp_dir().join(format!("drydock-cmd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("out");
    let cmd = format!(
        "echo \"$container_name $image_tag_value\" > {0}; cat >> {0}",
        out.display()
    );
    let notifier =
        drydock_triggers::CommandNotifier::new("command.log", &keys(&[("CMD", &cmd)])).unwrap();
    let mut message = notification();
    message.containers[0].image.tag.value = "1.0.0$(reboot)".into();
    notifier.notify(&message).await.unwrap();
    let written = std::fs::read_to_string(&out).unwrap();
    assert!(
        written.starts_with("web 1.0.0__reboot_\n"),
        "metacharacters neutralised: {written}"
    );
    assert!(
        written.contains("\"title\":\"New tag found for container web\""),
        "{written}"
    );

    let failing =
        drydock_triggers::CommandNotifier::new("command.fail", &keys(&[("CMD", "exit 3")]))
            .unwrap();
    assert!(matches!(
        failing.notify(&message).await,
        Err(NotifyError::Rejected { status: 3, .. })
    ));
    let slow = drydock_triggers::CommandNotifier::new(
        "command.slow",
        &keys(&[("CMD", "sleep 30"), ("TIMEOUT", "200")]),
    )
    .unwrap();
    assert!(matches!(
        slow.notify(&message).await,
        Err(NotifyError::Unavailable { .. })
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A real SMTP server (Python's aiosmtpd, installed by scripts/test-env.sh) delivering to a
/// maildir, killed on drop.
struct SmtpServer {
    port: u16,
    maildir: std::path::PathBuf,
    _service: TestService,
}

impl SmtpServer {
    fn start() -> Self {
        let maildir = std::env::temp_dir().join(unique("drydock-maildir"));
        let service = TestService::aiosmtpd(&maildir);
        Self {
            port: service.port,
            maildir,
            _service: service,
        }
    }

    fn messages(&self) -> Vec<String> {
        std::fs::read_dir(self.maildir.join("new"))
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.maildir);
    }
}

#[tokio::test]
async fn smtp_delivers_to_a_real_mail_server() {
    let server = SmtpServer::start();
    let port = server.port.to_string();
    let notifier = drydock_triggers::SmtpNotifier::new(
        "smtp.ops",
        &keys(&[
            ("HOST", "127.0.0.1"),
            ("PORT", &port),
            ("FROM", "drydock <drydock@example.org>"),
            ("TO", "ops@example.org, dev@example.org"),
        ]),
    )
    .unwrap();
    notifier.notify(&notification()).await.unwrap();
    let messages = server.messages();
    assert_eq!(messages.len(), 1, "one message for both recipients");
    let mail = &messages[0];
    assert!(
        mail.contains("Subject: New tag found for container web"),
        "{mail}"
    );
    assert!(
        mail.contains("From: drydock <drydock@example.org>"),
        "{mail}"
    );
    assert!(
        mail.contains("ops@example.org") && mail.contains("dev@example.org"),
        "{mail}"
    );
    assert!(mail.contains(BODY), "{mail}");

    // Nothing listens: a retryable error, not a panic.
    drop(server);
    assert!(matches!(
        notifier.notify(&notification()).await,
        Err(NotifyError::Unavailable { .. })
    ));
    assert!(
        drydock_triggers::SmtpNotifier::new(
            "smtp.bad",
            &keys(&[
                ("HOST", "h"),
                ("PORT", "25"),
                ("FROM", "not an address"),
                ("TO", "a@b.c")
            ])
        )
        .is_err()
    );
}

/// A real MQTT broker (Debian's mosquitto) on a free loopback port, killed on drop.
struct Broker {
    port: u16,
    _service: TestService,
}

impl Broker {
    fn start() -> Self {
        let service = TestService::mosquitto();
        Self {
            port: service.port,
            _service: service,
        }
    }

    /// The retained messages under `filter`, as a subscriber arriving now sees them.
    async fn retained(&self, filter: &str) -> BTreeMap<String, Value> {
        let options =
            rumqttc::MqttOptions::new(format!("reader-{}", self.port), "127.0.0.1", self.port);
        let (client, mut events) = rumqttc::AsyncClient::new(options, 16);
        client
            .subscribe(filter, rumqttc::QoS::AtLeastOnce)
            .await
            .unwrap();
        let mut seen = BTreeMap::new();
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Ok(event) = events.poll().await {
                if let rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)) = event {
                    seen.insert(
                        p.topic.clone(),
                        serde_json::from_slice(&p.payload).unwrap_or(Value::Null),
                    );
                }
            }
        })
        .await;
        seen
    }
}

#[tokio::test]
async fn mqtt_publishes_retained_state_and_home_assistant_discovery() {
    let broker = Broker::start();
    let url = format!("mqtt://127.0.0.1:{}", broker.port);
    let notifier = drydock_triggers::MqttNotifier::new(
        "mqtt.home",
        &keys(&[("URL", &url), ("HASS_ENABLED", "true")]),
    )
    .unwrap();
    let mut message = notification();
    message.containers[0].image.tag.value = "1.0.0".into();
    message.containers[0].result = Some(drydock_core::model::UpdateResult {
        tag: Some("1.1.0".into()),
        ..Default::default()
    });
    notifier.notify(&message).await.unwrap();

    let state = broker.retained("dd/#").await;
    let web = &state["dd/container/local/web"];
    assert_eq!(web["image_tag_value"], "1.0.0");
    assert_eq!(web["result_tag"], "1.1.0");
    assert_eq!(web["update_kind_kind"], "unknown");
    let discovery = broker.retained("homeassistant/#").await;
    let config = &discovery["homeassistant/update/dd_container_local_web/config"];
    assert_eq!(config["state_topic"], "dd/container/local/web");
    assert_eq!(config["value_template"], "{{ value_json.image_tag_value }}");
    assert_eq!(config["device"]["identifiers"], json!(["drydock"]));

    drop(broker);
    assert!(
        matches!(
            notifier.notify(&message).await,
            Err(NotifyError::Unavailable { .. })
        ),
        "no broker: retryable"
    );
    assert!(
        drydock_triggers::MqttNotifier::new("mqtt.bad", &keys(&[("URL", "http://x")])).is_err()
    );
}

/// Regression: concurrent publications shared one client id and the broker dropped all but one.
#[tokio::test]
async fn concurrent_mqtt_publications_all_arrive() {
    let broker = Broker::start();
    let url = format!("mqtt://127.0.0.1:{}", broker.port);
    let notifier = std::sync::Arc::new(
        drydock_triggers::MqttNotifier::new("mqtt.many", &keys(&[("URL", &url)])).unwrap(),
    );
    let mut tasks = Vec::new();
    for i in 0..20 {
        let notifier = notifier.clone();
        tasks.push(tokio::spawn(async move {
            let mut message = notification();
            message.containers[0].name = format!("app{i}");
            notifier.notify(&message).await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(broker.retained("dd/#").await.len(), 20);
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn every_channel_keeps_the_notifier_contract() {
    const TOKEN: &str = "contract-canary-token-77f1";
    // HTTP (ntfy with an access token), against a receiver and a closed port.
    let receiver = Receiver::start(Receiver::ok()).await;
    let down = format!("http://127.0.0.1:{}", closed_port());
    let http = |id: &str, url: &str| {
        HttpNotifier::new(
            id,
            ChannelKind::Ntfy,
            keys(&[("TOPIC", "t"), ("URL", url), ("AUTH_TOKEN", TOKEN)]),
        )
        .unwrap()
    };
    notifier_contract(NotifierFixture {
        accepting: &http("ntfy.up", &receiver.base),
        unreachable: &http("ntfy.down", &down),
        secret: TOKEN,
    })
    .await;
    let received = receiver.received();
    assert_eq!(received.len(), 2, "both deliveries arrived");
    assert!(
        received.iter().all(|r| r
            .headers
            .get("authorization")
            .is_some_and(|a| a.contains(TOKEN))),
        "the token went where it belongs"
    );

    // SMTP, against a real mail server and a closed port.
    let server = SmtpServer::start();
    let smtp = |id: &str, port: u16| {
        drydock_triggers::SmtpNotifier::new(
            id,
            &keys(&[
                ("HOST", "127.0.0.1"),
                ("PORT", &port.to_string()),
                ("FROM", "drydock@example.org"),
                ("TO", "ops@example.org"),
            ]),
        )
        .unwrap()
    };
    notifier_contract(NotifierFixture {
        accepting: &smtp("smtp.up", server.port),
        unreachable: &smtp("smtp.down", closed_port()),
        secret: "",
    })
    .await;
    assert_eq!(server.messages().len(), 2);

    // MQTT, against a real broker and a closed port.
    let broker = Broker::start();
    let mqtt = |id: &str, port: u16| {
        drydock_triggers::MqttNotifier::new(
            id,
            &keys(&[("URL", &format!("mqtt://127.0.0.1:{port}"))]),
        )
        .unwrap()
    };
    notifier_contract(NotifierFixture {
        accepting: &mqtt("mqtt.up", broker.port),
        unreachable: &mqtt("mqtt.down", closed_port()),
        secret: "",
    })
    .await;

    // A command; one that outlives its timeout is the one that cannot deliver.
    let command = |id: &str, cmd: &str| {
        drydock_triggers::CommandNotifier::new(id, &keys(&[("CMD", cmd), ("TIMEOUT", "300")]))
            .unwrap()
    };
    notifier_contract(NotifierFixture {
        accepting: &command("command.up", "true"),
        unreachable: &command("command.down", "sleep 30"),
        secret: "",
    })
    .await;
}
