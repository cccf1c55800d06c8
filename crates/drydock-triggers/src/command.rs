//! The Command channel: runs a command with the update in environment variables and the
//! notification as JSON on standard input, bounded by a timeout.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use drydock_core::ports::{Notification, Notifier, NotifyError};
use tokio::io::AsyncWriteExt;

/// Environment variables passed through from drydock's own environment.
const PASSTHROUGH: &[&str] = &[
    "HOME", "LANG", "LC_ALL", "PATH", "SHELL", "TEMP", "TMP", "TMPDIR", "TZ", "USER",
];

/// A [`Notifier`] that runs `CMD` with `SHELL -c` (default `/bin/sh`), `TIMEOUT` ms (60000).
#[derive(Debug)]
pub struct CommandNotifier {
    id: String,
    command: String,
    shell: String,
    timeout: Duration,
}

impl CommandNotifier {
    /// A command trigger from its keys (`CMD` required).
    pub fn new(
        id: &str,
        keys: &BTreeMap<String, String>,
    ) -> Result<Self, crate::channels::ChannelConfigError> {
        let get = |k: &str| {
            keys.get(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let command = get("CMD").ok_or_else(|| crate::channels::ChannelConfigError {
            key: "CMD".into(),
            reason: "is required".into(),
        })?;
        let timeout = match get("TIMEOUT") {
            None => 60_000,
            Some(ms) => ms
                .parse::<u64>()
                .map_err(|_| crate::channels::ChannelConfigError {
                    key: "TIMEOUT".into(),
                    reason: format!("`{ms}` is not a number of milliseconds"),
                })?,
        };
        Ok(Self {
            id: id.to_owned(),
            command,
            shell: get("SHELL").unwrap_or_else(|| "/bin/sh".into()),
            timeout: Duration::from_millis(timeout),
        })
    }
}

/// Environment values lose control characters and shell metacharacters: a tag is data, never code.
fn sanitise(value: &str) -> String {
    value
        .chars()
        .map(|c| {
            if c.is_control() || "`$;&|<>()\\\\".contains(c) {
                '_'
            } else {
                c
            }
        })
        .collect()
}

#[async_trait]
impl Notifier for CommandNotifier {
    fn id(&self) -> &str {
        &self.id
    }

    async fn notify(&self, notification: &Notification) -> Result<(), NotifyError> {
        let unavailable = |reason: String| NotifyError::Unavailable {
            trigger: self.id.clone(),
            reason,
        };
        let mut command = tokio::process::Command::new(&self.shell);
        command
            .arg("-c")
            .arg(&self.command)
            .env_clear()
            .kill_on_drop(true);
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for name in PASSTHROUGH {
            if let Ok(value) = std::env::var(name) {
                command.env(name, value);
            }
        }
        command.env("dd_title", sanitise(&notification.title));
        command.env("dd_body", sanitise(&notification.body));
        if let [container] = notification.containers.as_slice() {
            command.env("container_name", sanitise(&container.name));
            command.env("container_id", sanitise(&container.id));
            command.env("image_name", sanitise(&container.image.name));
            command.env("image_tag_value", sanitise(&container.image.tag.value));
            if let Some(remote) = &container.update_kind.remote_value {
                command.env("update_kind_remote_value", sanitise(remote));
            }
            if let Some(local) = &container.update_kind.local_value {
                command.env("update_kind_local_value", sanitise(local));
            }
        }
        let payload = serde_json::json!({
            "title": notification.title,
            "body": notification.body,
            "containers": notification.containers,
        });
        let mut child = command
            .spawn()
            .map_err(|e| unavailable(format!("cannot run the command: {e}")))?;
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(payload.to_string().as_bytes()).await;
        }
        let output = tokio::time::timeout(self.timeout, child.wait_with_output())
            .await
            .map_err(|_| {
                unavailable(format!(
                    "the command did not finish within {:?}",
                    self.timeout
                ))
            })?
            .map_err(|e| unavailable(e.to_string()))?;
        if output.status.success() {
            Ok(())
        } else {
            // The command line is never echoed (it may hold secrets); its exit status is.
            Err(NotifyError::Rejected {
                trigger: self.id.clone(),
                status: output.status.code().map_or(0, |c| c.clamp(0, 255) as u16),
                reason: "the command failed".into(),
            })
        }
    }
}
