//! Notifications end to end: real updates found by real watch cycles reach a real HTTP receiver
//! on loopback, in simple and batch mode, once per update across cycles and restarts.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use drydock_testkit::engine::{TestContainer, TestImage, TestService, unique};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::server::{Server, client, promtool};

/// One request the receiver recorded.
#[derive(Clone, Debug)]
struct Request {
    method: String,
    path: String,
    /// Header names in lower case, values as sent.
    headers: BTreeMap<String, String>,
    body: Value,
}

type Log = Arc<Mutex<Vec<Request>>>;

/// Records every request it receives (method, path, headers, JSON body); always answers 200.
async fn receiver() -> (String, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let log: Log = Arc::default();
    let seen = log.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                let mut chunk = [0u8; 16384];
                loop {
                    let n = stream.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buffer.extend_from_slice(&chunk[..n]);
                    let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
                    let mut lines = head.lines();
                    let mut first = lines.next().unwrap_or_default().split(' ');
                    let method = first.next().unwrap_or_default().to_owned();
                    let path = first.next().unwrap_or_default().to_owned();
                    let headers: BTreeMap<String, String> = lines
                        .filter_map(|l| l.split_once(':'))
                        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                        .collect();
                    let length: usize = headers
                        .get("content-length")
                        .map_or(0, |v| v.parse().unwrap_or(0));
                    if buffer.len() < end + 4 + length {
                        continue;
                    }
                    let body = serde_json::from_slice(&buffer[end + 4..end + 4 + length])
                        .unwrap_or(Value::Null);
                    seen.lock().unwrap().push(Request {
                        method,
                        path,
                        headers,
                        body,
                    });
                    let _ = stream
                        .write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
                        )
                        .await;
                    return;
                }
            });
        }
    });
    (base, log)
}

/// The JSON bodies received on `path`.
fn messages(log: &Log, path: &str) -> Vec<Value> {
    requests(log, |p| p == path)
        .into_iter()
        .map(|r| r.body)
        .collect()
}

/// The requests whose path passes `path`.
fn requests(log: &Log, path: impl Fn(&str) -> bool) -> Vec<Request> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|r| path(&r.path))
        .cloned()
        .collect()
}

/// Waits until `count` has not changed for 5 s (the dispatcher gathers a cycle's events for 2 s,
/// then delivers): a late duplicate arrives before this returns. At most 90 s, a bound against
/// a channel that never stops sending.
async fn quiet(count: impl Fn() -> usize) {
    let quiet_for = Duration::from_secs(5);
    let started = Instant::now();
    let (mut last, mut since) = (count(), Instant::now());
    while since.elapsed() < quiet_for {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "deliveries never stopped"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = count();
        if now != last {
            (last, since) = (now, Instant::now());
        }
    }
}

/// The number of requests `log` holds.
fn received(log: &Log) -> usize {
    log.lock().unwrap().len()
}

#[tokio::test]
async fn updates_found_by_a_watch_reach_the_channels_once() {
    let prefix = unique("notify");
    let images = TestImage::pushed(&prefix, &["1.0.0", "2.0.0"]);
    let label = ("dd.watch", "true");
    let a = TestContainer::run(
        &format!("{prefix}-a"),
        &images[0].reference,
        &[label],
        "sleep 3600",
    );
    let b = TestContainer::run(
        &format!("{prefix}-b"),
        &images[0].reference,
        &[label, ("dd.notification.exclude", "ntfy.one")],
        "sleep 3600",
    );
    let (base, log) = receiver().await;
    let ntfy_url = format!("{base}/ntfy");
    let http_url = format!("{base}/batch");
    let env = [
        ("DD_ANONYMOUS_AUTH_CONFIRM", "true"),
        ("DD_WATCHER_LOCAL_WATCHBYDEFAULT", "false"),
        ("DD_NOTIFICATION_NTFY_ONE_URL", ntfy_url.as_str()),
        ("DD_NOTIFICATION_NTFY_ONE_TOPIC", "updates"),
        (
            "DD_NOTIFICATION_NTFY_ONE_SIMPLEBODY",
            "${container.name} ${container.updateKind.localValue} -> ${container.updateKind.remoteValue} (${container.updateKind.semverDiff})",
        ),
        ("DD_TRIGGER_HTTP_ALL_URL", http_url.as_str()),
        ("DD_TRIGGER_HTTP_ALL_MODE", "batch"),
    ];
    let server = Server::start(&env);
    let http = client();
    let triggers: Value = server.get_json("/api/triggers").await;
    assert_eq!(triggers.as_array().unwrap().len(), 2, "{triggers}");

    // The start-up watch finds both updates: the message about a, the batch about both, then
    // nothing more.
    let ours_in = |log: &Log| {
        messages(log, "/ntfy")
            .into_iter()
            .filter(|m| {
                m["message"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with(&prefix)
            })
            .collect::<Vec<Value>>()
    };
    let mentioning = |m: &Value| {
        m.as_array()
            .map(|a| {
                a.iter()
                    .filter(|c| c["name"].as_str().unwrap_or_default().starts_with(&prefix))
                    .count()
            })
            .unwrap_or(0)
    };
    wait_for(90, || {
        !ours_in(&log).is_empty() && messages(&log, "/batch").iter().any(|m| mentioning(m) == 2)
    })
    .await;
    quiet(|| received(&log)).await;
    let for_b: Value = server
        .get_json(&format!("/api/containers/{}/triggers", b.id))
        .await;
    let ids: Vec<&str> = for_b
        .as_array()
        .expect("b is watched")
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["http.all"], "b excludes ntfy.one");
    let ours = ours_in(&log);
    assert_eq!(ours.len(), 1, "only a (b excludes ntfy.one): {ours:?}");
    assert_eq!(
        ours[0]["message"],
        format!("{prefix}-a 1.0.0 -> 2.0.0 (major)")
    );
    assert_eq!(ours[0]["topic"], "updates");
    let batches = messages(&log, "/batch");
    assert_eq!(
        batches.iter().filter(|m| mentioning(m) > 0).count(),
        1,
        "one batch lists both: {batches:?}"
    );

    // ONCE: more cycles and a restart announce nothing new. What they would send goes out before
    // the announcement of a newer candidate, found after them: wait for that one, then for quiet,
    // and only then count.
    for _ in 0..3 {
        server.post("/api/containers/watch").await;
    }
    let store = server.kill();
    let server = Server::start_with_store(&env, store);
    server.post("/api/containers/watch").await;
    let newest = TestImage::build(&prefix, "3.0.0");
    newest.push();
    server.post("/api/containers/watch").await;
    let newer = format!("{prefix}-a 1.0.0 -> 3.0.0 (major)");
    wait_for(90, || {
        ours_in(&log).iter().any(|m| m["message"] == newer.as_str())
    })
    .await;
    quiet(|| received(&log)).await;
    let announced: Vec<Value> = ours_in(&log)
        .into_iter()
        .map(|m| m["message"].clone())
        .collect();
    assert_eq!(
        announced,
        [
            json!(format!("{prefix}-a 1.0.0 -> 2.0.0 (major)")),
            json!(newer),
        ],
        "2.0.0 announced once across cycles and a restart, then the newer candidate"
    );
    let count = |log: &Log| ours_in(log).len();

    // Running a trigger by hand sends now; an unknown trigger is 404.
    let response = http
        .post(server.url(&format!("/api/containers/{}/triggers/ntfy/one", a.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "{}");
    assert_eq!(count(&log), 3);
    let outbox: Value = server
        .get_json("/api/notifications/outbox?status=delivered")
        .await;
    assert!(
        outbox["counts"]["delivered"].as_u64().unwrap() >= 3,
        "{outbox}"
    );
    assert_eq!(outbox["counts"]["deadLetter"], 0);
    assert!(
        outbox["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["status"] == "delivered")
    );
    assert_eq!(
        http.get(server.url("/api/notifications/outbox?status=lost"))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    // Each trigger has a test action.
    let before = count(&log);
    let tested = http
        .post(server.url("/api/triggers/ntfy/one"))
        .send()
        .await
        .unwrap();
    assert_eq!(tested.status(), 200);
    let sample = messages(&log, "/ntfy").into_iter().last().unwrap();
    assert_eq!(sample["message"], "drydock-test 1.0.0 -> 1.1.0 (minor)");
    assert_eq!(count(&log), before, "the sample is not one of ours");
    let bad = http
        .post(server.url("/api/triggers/ntfy/one"))
        .header("Content-Type", "application/json")
        .body("[1]")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(
        http.post(server.url("/api/triggers/ntfy/nope"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let missing = http
        .post(server.url(&format!("/api/containers/{}/triggers/ntfy/nope", a.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    drop(newest);
    drop(server);
}

#[tokio::test]
async fn mqtt_publishes_every_watched_container_for_home_assistant() {
    let prefix = unique("mqtt");
    let current = TestImage::build(&prefix, "1.0.0");
    current.push();
    let _container = TestContainer::run(
        &format!("{prefix}-app"),
        &current.reference,
        &[("dd.watch", "true")],
        "sleep 3600",
    );

    let broker = TestService::mosquitto();
    let port = broker.port;
    let url = format!("mqtt://127.0.0.1:{port}");
    let server = Server::start(&[
        ("DD_ANONYMOUS_AUTH_CONFIRM", "true"),
        ("DD_WATCHER_LOCAL_WATCHBYDEFAULT", "false"),
        ("DD_NOTIFICATION_MQTT_HA_URL", url.as_str()),
        ("DD_NOTIFICATION_MQTT_HA_HASS_ENABLED", "true"),
    ]);
    // Other tests run at the same time: wait for our container's state rather than a fixed time.
    let wanted = format!("dd/container/local/{prefix}-app ");
    let mut text = String::new();
    for _ in 0..10 {
        let read = std::process::Command::new("mosquitto_sub")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-t",
                "#",
                "-v",
                "-W",
                "2",
            ])
            .output()
            .expect("mosquitto_sub");
        text = String::from_utf8_lossy(&read.stdout).into_owned();
        if text.lines().any(|l| l.starts_with(&wanted)) {
            break;
        }
    }
    let state_line = text
        .lines()
        .find(|l| l.starts_with(&wanted))
        .unwrap_or_else(|| panic!("no state for an up-to-date container: {text}"));
    let payload: Value = serde_json::from_str(state_line.split_once(' ').unwrap().1).unwrap();
    assert_eq!(payload["image_tag_value"], "1.0.0");
    assert_eq!(payload["update_available"], false);
    assert!(
        text.contains(&format!(
            "homeassistant/update/dd_container_local_{prefix}-app/config "
        )),
        "{text}"
    );
    drop(server);
    drop(broker);
}

/// Telegram's MarkdownV2 escaping, as its Bot API documents it.
fn telegram_escaped(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let reserved = "_*[]()~`>#+-=|{}.!\\".contains(c);
            reserved
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

/// A mail's text with quoted-printable soft line breaks and `=XX` escapes decoded.
fn quoted_printable_decoded(mail: &str) -> String {
    let joined = mail.replace("=\r\n", "").replace("=\n", "");
    let mut out = String::with_capacity(joined.len());
    let mut rest = joined.as_str();
    while let Some(at) = rest.find('=') {
        out.push_str(&rest[..at]);
        let hex = rest
            .get(at + 1..at + 3)
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(byte) => {
                out.push(char::from(byte));
                rest = &rest[at + 3..];
            }
            None => {
                out.push('=');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Waits until `done` holds, at most `seconds`.
async fn wait_for(seconds: u64, done: impl Fn() -> bool) {
    for _ in 0..seconds * 4 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn every_channel_receives_the_update_a_real_watch_found() {
    let prefix = unique("channels");
    let images = TestImage::pushed(&prefix, &["1.0.0", "2.0.0"]);
    let label = ("dd.watch", "true");
    let a_name = format!("{prefix}-a");
    let b_name = format!("{prefix}-b");
    let _a = TestContainer::run(&a_name, &images[0].reference, &[label], "sleep 3600");
    let _b = TestContainer::run(&b_name, &images[0].reference, &[label], "sleep 3600");

    let (base, log) = receiver().await;
    let maildir = std::env::temp_dir().join(unique("drydock-e2e-maildir"));
    let smtp = TestService::aiosmtpd(&maildir);
    let smtp_port = smtp.port.to_string();
    let out = std::env::temp_dir().join(unique("drydock-e2e-command"));
    std::fs::create_dir_all(&out).unwrap();
    let command = format!(
        "cat > '{dir}'/\"$container_name\".json && printf '%s|%s|%s' \"$dd_title\" \"$image_tag_value\" \"$update_kind_remote_value\" > '{dir}'/\"$container_name\".env",
        dir = out.display()
    );
    let url = |path: &str| format!("{base}/{path}");
    let owned: Vec<(String, String)> = [
        ("NTFY_E2E_URL", url("ntfy")),
        ("NTFY_E2E_TOPIC", "updates".into()),
        ("NTFY_E2E_AUTH_TOKEN", "ntfy-token".into()),
        ("DISCORD_E2E_URL", url("discord")),
        ("SLACK_E2E_APIURL", url("slack")),
        ("SLACK_E2E_TOKEN", "xoxb-slack".into()),
        ("SLACK_E2E_CHANNEL", "#ops".into()),
        ("SLACK_HOOK_URL", url("slack-hook")),
        ("GOTIFY_E2E_URL", url("gotify")),
        ("GOTIFY_E2E_TOKEN", "gotify-app".into()),
        ("MATTERMOST_E2E_URL", url("mattermost")),
        ("MATTERMOST_E2E_CHANNEL", "town-square".into()),
        ("GOOGLECHAT_E2E_URL", url("googlechat")),
        ("TEAMS_E2E_URL", url("teams")),
        ("APPRISE_E2E_URL", url("apprise")),
        ("APPRISE_E2E_CONFIG", "drydock".into()),
        ("APPRISE_BATCH_URL", url("apprise-batch")),
        ("APPRISE_BATCH_URLS", "json://localhost".into()),
        ("APPRISE_BATCH_MODE", "batch".into()),
        ("HTTP_E2E_URL", url("http")),
        ("HTTP_E2E_AUTH_TYPE", "BASIC".into()),
        ("HTTP_E2E_AUTH_USER", "user".into()),
        ("HTTP_E2E_AUTH_PASSWORD", "pass".into()),
        ("TELEGRAM_E2E_URL", url("telegram")),
        ("TELEGRAM_E2E_BOTTOKEN", "123:abc".into()),
        ("TELEGRAM_E2E_CHATID", "42".into()),
        ("PUSHOVER_E2E_URL", url("pushover")),
        ("PUSHOVER_E2E_USER", "pushover-user".into()),
        ("PUSHOVER_E2E_TOKEN", "pushover-app".into()),
        ("MATRIX_E2E_URL", url("matrix")),
        ("MATRIX_E2E_ROOMID", "!room:example.org".into()),
        ("MATRIX_E2E_ACCESSTOKEN", "matrix-token".into()),
        ("ROCKETCHAT_E2E_URL", url("rocketchat")),
        ("ROCKETCHAT_E2E_USER_ID", "rc-user".into()),
        ("ROCKETCHAT_E2E_AUTH_TOKEN", "rc-token".into()),
        ("ROCKETCHAT_E2E_CHANNEL", "#updates".into()),
        ("IFTTT_E2E_URL", url("ifttt")),
        ("IFTTT_E2E_KEY", "ifttt-key".into()),
        ("SMTP_E2E_HOST", "127.0.0.1".into()),
        ("SMTP_E2E_PORT", smtp_port.clone()),
        ("SMTP_E2E_FROM", "drydock <drydock@example.org>".into()),
        ("SMTP_E2E_TO", "ops@example.org".into()),
        ("COMMAND_E2E_CMD", command),
    ]
    .into_iter()
    .map(|(k, v)| (format!("DD_NOTIFICATION_{k}"), v))
    .collect();
    let mut env: Vec<(&str, &str)> = vec![
        ("DD_ANONYMOUS_AUTH_CONFIRM", "true"),
        ("DD_WATCHER_LOCAL_WATCHBYDEFAULT", "false"),
    ];
    env.extend(owned.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let server = Server::start(&env);
    let triggers: Value = server.get_json("/api/triggers").await;
    assert_eq!(triggers.as_array().unwrap().len(), 18, "{triggers}");

    let title = format!("New tag found for container {a_name}");
    let body = format!("Container {a_name} running with tag 1.0.0 can be updated to tag 2.0.0");
    // A request names container a when its JSON says so anywhere (other tests' containers are
    // watched too: only ours count).
    // Telegram's text escapes the name.
    let names_a = |r: &Request| {
        r.body.to_string().contains(&a_name)
            || r.body["text"]
                .as_str()
                .is_some_and(|t| t.contains(&telegram_escaped(&a_name)))
    };
    let for_a = |path: &str| -> Vec<Request> {
        requests(&log, |p| p == path || p.starts_with(&format!("{path}/")))
            .into_iter()
            .filter(names_a)
            .collect()
    };
    let mail = || -> Vec<String> {
        std::fs::read_dir(maildir.join("new"))
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                    .filter(|m| m.contains(&a_name))
                    .collect()
            })
            .unwrap_or_default()
    };
    let paths = [
        "/ntfy",
        "/discord",
        "/slack",
        "/slack-hook",
        "/gotify",
        "/mattermost",
        "/googlechat",
        "/teams",
        "/apprise",
        "/apprise-batch",
        "/http",
        "/telegram",
        "/pushover",
        "/matrix",
        "/rocketchat",
        "/ifttt",
    ];
    let command_env = out.join(format!("{a_name}.env"));
    wait_for(90, || {
        paths.iter().all(|p| !for_a(p).is_empty())
            && !mail().is_empty()
            && command_env.exists()
            && out.join(format!("{b_name}.json")).exists()
    })
    .await;
    // Let late duplicates, if any, arrive before counting.
    quiet(|| received(&log) + mail().len()).await;
    let missing: Vec<&&str> = paths.iter().filter(|p| for_a(p).is_empty()).collect();
    assert!(
        missing.is_empty(),
        "nothing about {a_name} reached {missing:?}; drydock's warnings:\n{}",
        server
            .logs()
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let one = |path: &str| -> Request {
        let got = for_a(path);
        assert_eq!(
            got.len(),
            1,
            "one message about {a_name} on {path}: {got:?}"
        );
        got.into_iter().next().unwrap()
    };

    let ntfy = one("/ntfy");
    assert_eq!(ntfy.method, "POST");
    assert_eq!(ntfy.headers["authorization"], "Bearer ntfy-token");
    assert_eq!(
        ntfy.body,
        json!({ "topic": "updates", "title": title, "message": body, "priority": 3 })
    );

    let discord = one("/discord");
    assert_eq!(discord.method, "POST");
    assert_eq!(
        discord.body,
        json!({
            "username": "drydock",
            "embeds": [{ "title": title, "color": 65280, "fields": [{ "name": "", "value": body }] }],
        })
    );

    let slack = one("/slack");
    assert_eq!(
        (slack.method.as_str(), slack.path.as_str()),
        ("POST", "/slack/chat.postMessage")
    );
    assert_eq!(slack.headers["authorization"], "Bearer xoxb-slack");
    assert_eq!(
        slack.body,
        json!({ "channel": "#ops", "text": format!("*{title}*\n\n{body}") })
    );
    let hook = one("/slack-hook");
    assert_eq!(hook.body, json!({ "text": format!("*{title}*\n\n{body}") }));
    assert!(!hook.headers.contains_key("authorization"));

    let gotify = one("/gotify");
    assert_eq!(
        (gotify.method.as_str(), gotify.path.as_str()),
        ("POST", "/gotify/message")
    );
    assert_eq!(gotify.headers["x-gotify-key"], "gotify-app");
    assert_eq!(
        gotify.body,
        json!({ "title": title, "message": body, "priority": 5 })
    );

    let mattermost = one("/mattermost");
    assert_eq!(
        mattermost.body,
        json!({ "text": format!("**{title}**\n\n{body}"), "channel": "town-square" })
    );

    let googlechat = one("/googlechat");
    assert_eq!(
        googlechat.body,
        json!({ "text": format!("*{title}*\n\n{body}") })
    );

    let teams = one("/teams");
    assert_eq!(teams.body["type"], "message");
    let card = &teams.body["attachments"][0];
    assert_eq!(
        card["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(card["content"]["type"], "AdaptiveCard");
    assert_eq!(card["content"]["version"], "1.4");
    assert_eq!(card["content"]["body"][0]["text"], title);
    assert_eq!(card["content"]["body"][1]["text"], body);

    let apprise = one("/apprise");
    assert_eq!(
        (apprise.method.as_str(), apprise.path.as_str()),
        ("POST", "/apprise/notify/drydock")
    );
    assert_eq!(
        apprise.body,
        json!({ "title": title, "body": body, "format": "text", "type": "info" })
    );

    // Batch mode: one message for the cycle, listing both of our updates.
    let batch = one("/apprise-batch");
    assert_eq!(batch.path, "/apprise-batch/notify");
    assert_eq!(batch.body["urls"], "json://localhost");
    let lines: Vec<&str> = batch.body["body"].as_str().unwrap().lines().collect();
    assert_eq!(
        batch.body["title"],
        format!("{} updates available", lines.len()),
        "{batch:?}"
    );
    for name in [&a_name, &b_name] {
        let line = format!("- Container {name} running with tag 1.0.0 can be updated to tag 2.0.0");
        assert!(lines.contains(&line.as_str()), "{line} in {lines:?}");
    }

    let http = one("/http");
    assert_eq!(http.method, "POST");
    assert_eq!(http.headers["authorization"], "Basic dXNlcjpwYXNz");
    assert_eq!(http.body["name"], a_name.as_str());
    assert_eq!(http.body["image"]["tag"]["value"], "1.0.0");
    assert_eq!(http.body["result"]["tag"], "2.0.0");
    assert_eq!(http.body["updateAvailable"], true);
    assert_eq!(http.body["updateKind"]["semverDiff"], "major");

    let telegram = one("/telegram");
    assert_eq!(
        (telegram.method.as_str(), telegram.path.as_str()),
        ("POST", "/telegram/bot123:abc/sendMessage")
    );
    assert_eq!(
        telegram.body,
        json!({
            "chat_id": "42",
            "text": format!("*{}*\n\n{}", telegram_escaped(&title), telegram_escaped(&body)),
            "parse_mode": "MarkdownV2",
        })
    );
    assert!(
        telegram.body["text"]
            .as_str()
            .unwrap()
            .contains("tag 1\\.0\\.0 can be updated to tag 2\\.0\\.0")
    );

    let pushover = one("/pushover");
    assert_eq!(
        pushover.body,
        json!({
            "token": "pushover-app",
            "user": "pushover-user",
            "title": title,
            "message": body,
            "sound": "pushover",
            "priority": 0,
        })
    );

    let matrix = one("/matrix");
    assert_eq!(matrix.method, "PUT");
    assert!(
        matrix.path.starts_with(
            "/matrix/_matrix/client/v3/rooms/%21room%3Aexample.org/send/m.room.message/"
        ),
        "{}",
        matrix.path
    );
    assert_eq!(matrix.headers["authorization"], "Bearer matrix-token");
    assert_eq!(
        matrix.body,
        json!({ "msgtype": "m.notice", "body": format!("{title}\n\n{body}") })
    );
    // Each event has its own transaction id (Matrix drops a repeated one).
    let matrix_b: Vec<Request> = requests(&log, |p| p.starts_with("/matrix/"))
        .into_iter()
        .filter(|r| r.body.to_string().contains(&b_name))
        .collect();
    assert_eq!(matrix_b.len(), 1);
    assert_ne!(matrix_b[0].path, matrix.path);

    let rocketchat = one("/rocketchat");
    assert_eq!(rocketchat.path, "/rocketchat/api/v1/chat.postMessage");
    assert_eq!(rocketchat.headers["x-user-id"], "rc-user");
    assert_eq!(rocketchat.headers["x-auth-token"], "rc-token");
    assert_eq!(
        rocketchat.body,
        json!({ "channel": "#updates", "text": format!("*{title}*\n\n{body}") })
    );

    let ifttt = one("/ifttt");
    assert_eq!(ifttt.path, "/ifttt/trigger/dd-image/with/key/ifttt-key");
    assert_eq!(ifttt.body["value1"], a_name.as_str());
    assert_eq!(ifttt.body["value2"], "2.0.0");
    let value3: Value = serde_json::from_str(ifttt.body["value3"].as_str().unwrap()).unwrap();
    assert_eq!(value3["name"], a_name.as_str());
    assert_eq!(value3["image"]["tag"]["value"], "1.0.0");

    let mails = mail();
    assert_eq!(mails.len(), 1, "{mails:?}");
    let message = quoted_printable_decoded(&mails[0]);
    assert!(message.contains(&format!("Subject: {title}")), "{message}");
    assert!(
        message.contains("From: drydock <drydock@example.org>"),
        "{message}"
    );
    assert!(message.contains("To: ops@example.org"), "{message}");
    assert!(message.contains(&body), "{message}");

    // The command ran once per container, with the update in its environment and the
    // notification as JSON on its standard input.
    let env_line = std::fs::read_to_string(&command_env).unwrap();
    assert_eq!(env_line, format!("{title}|1.0.0|2.0.0"));
    let stdin: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join(format!("{a_name}.json"))).unwrap())
            .unwrap();
    assert_eq!(stdin["title"], title.as_str());
    assert_eq!(stdin["body"], body.as_str());
    assert_eq!(stdin["containers"][0]["name"], a_name.as_str());
    assert_eq!(stdin["containers"][0]["result"]["tag"], "2.0.0");

    let outbox: Value = server.get_json("/api/notifications/outbox").await;
    assert_eq!(outbox["counts"]["deadLetter"], 0, "{outbox}");
    drop(server);
    drop(smtp);
    let _ = std::fs::remove_dir_all(&maildir);
    let _ = std::fs::remove_dir_all(&out);
}

#[tokio::test]
async fn wud_compat_serves_whats_up_dockers_metric_and_mqtt_names() {
    let prefix = unique("wudcompat");
    let images: Vec<TestImage> = ["1.0.0", "1.1.0"]
        .iter()
        .map(|t| TestImage::build(&prefix, t))
        .collect();
    for image in &images {
        image.push();
    }
    let name = format!("{prefix}-app");
    let _container = TestContainer::run(
        &name,
        &images[0].reference,
        &[("dd.watch", "true")],
        "sleep 3600",
    );
    let (base, log) = receiver().await;
    let ntfy_url = format!("{base}/ntfy");
    let broker = TestService::mosquitto();
    let mqtt_url = format!("mqtt://127.0.0.1:{}", broker.port);
    let server = Server::start(&[
        ("DD_ANONYMOUS_AUTH_CONFIRM", "true"),
        ("DD_WATCHER_LOCAL_WATCHBYDEFAULT", "false"),
        ("DD_COMPAT", "wud"),
        ("DD_NOTIFICATION_NTFY_ONE_URL", ntfy_url.as_str()),
        ("DD_NOTIFICATION_NTFY_ONE_TOPIC", "updates"),
        ("DD_NOTIFICATION_MQTT_HA_URL", mqtt_url.as_str()),
        ("DD_NOTIFICATION_MQTT_HA_HASS_ENABLED", "true"),
    ]);
    wait_for(60, || {
        messages(&log, "/ntfy")
            .iter()
            .any(|m| m["message"].as_str().unwrap_or_default().contains(&name))
    })
    .await;
    let metrics = server.get_text("/metrics").await;

    // wud_containers: one series per container, WUD's labels.
    let ours = metrics
        .lines()
        .find(|l| l.starts_with("wud_containers{") && l.contains(&format!("name=\"{name}\"")))
        .unwrap_or_else(|| panic!("no wud_containers series for {name}:\n{metrics}"));
    for label in [
        "watcher=\"local\"",
        "image_tag_value=\"1.0.0\"",
        "result_tag=\"1.1.0\"",
        "update_available=\"true\"",
        "update_kind_semver_diff=\"minor\"",
        "display_name=",
        "image_registry_url=",
    ] {
        assert!(ours.contains(label), "{label} in {ours}");
    }
    assert!(ours.ends_with(" 1"), "{ours}");
    assert!(!ours.contains("labels_"), "{ours}");
    assert_eq!(ours.matches("=\"").count(), 37, "{ours}");
    assert!(metrics.contains("wud_watcher_total{type=\"docker\",name=\"local\"} "));
    let lookups = metrics
        .lines()
        .find(|l| l.starts_with("wud_registry_response_count{"))
        .unwrap_or_else(|| panic!("no registry response summary:\n{metrics}"));
    assert_ne!(lookups.rsplit(' ').next(), Some("0"), "{lookups}");
    assert!(metrics.contains("wud_registry_response_sum{"));
    let delivered = metrics
        .lines()
        .find(|l| l.starts_with("wud_trigger_count{type=\"ntfy\",name=\"one\",status=\"success\"}"))
        .unwrap_or_else(|| panic!("no trigger count:\n{metrics}"));
    assert_ne!(delivered.rsplit(' ').next(), Some("0"), "{delivered}");
    assert!(
        !metrics.lines().any(|l| l.starts_with("dd_")),
        "WUD's names only:\n{metrics}"
    );

    // promtool parses it; its only complaints are about WUD's own names, kept on purpose
    // (dashboards and alert rules query them as they are).
    let (_, findings) = promtool(&metrics);
    let accepted = [
        "wud_trigger_count counter metrics should have \"_total\" suffix",
        "wud_trigger_count non-histogram and non-summary metrics should not have \"_count\" suffix",
        "wud_watcher_total non-counter metrics should not have \"_total\" suffix",
    ];
    let unexpected: Vec<&str> = findings
        .lines()
        .filter(|l| !l.trim().is_empty() && !accepted.contains(&l.trim()))
        .collect();
    assert!(unexpected.is_empty(), "promtool: {findings}");

    // MQTT: WUD's base topic and Home Assistant device.
    let wanted = format!("wud/container/local/{name} ");
    let mut text = String::new();
    for _ in 0..10 {
        let read = std::process::Command::new("mosquitto_sub")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &broker.port.to_string(),
                "-t",
                "#",
                "-v",
                "-W",
                "2",
            ])
            .output()
            .expect("mosquitto_sub");
        text = String::from_utf8_lossy(&read.stdout).into_owned();
        if text.lines().any(|l| l.starts_with(&wanted)) {
            break;
        }
    }
    assert!(
        text.lines().any(|l| l.starts_with(&wanted)),
        "no state on {wanted}: {text}"
    );
    let discovery = format!("homeassistant/update/wud_container_local_{name}/config ");
    let config_line = text
        .lines()
        .find(|l| l.starts_with(&discovery))
        .unwrap_or_else(|| panic!("no discovery on {discovery}: {text}"));
    let config: Value = serde_json::from_str(config_line.split_once(' ').unwrap().1).unwrap();
    assert_eq!(config["device"]["identifiers"], json!(["wud"]));
    assert_eq!(config["device"]["name"], "wud");
    assert_eq!(config["unique_id"], format!("wud_container_local_{name}"));
    assert!(!text.contains("dd/container/"), "{text}");
    drop(server);
    drop(broker);
}
