//! Lifecycle hooks: the `dd.hook.pre` and `dd.hook.post` labels, run by drydock with `/bin/sh -c`
//! and the update's details as environment variables.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use drydock_core::discovery::LabelSettings;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

/// When a hook runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookPoint {
    /// Before anything changes (`dd.hook.pre`); a failure aborts the update unless
    /// `dd.hook.pre.abort=false`.
    Pre,
    /// After a successful update (`dd.hook.post`); a failure is reported, nothing is undone.
    Post,
}

/// A hook to run: the command and its limits, read from a container's labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hook {
    /// The shell command.
    pub command: String,
    /// How long it may run (`dd.hook.timeout` ms, default 60 s).
    pub timeout: Duration,
    /// Whether a failing pre-hook aborts the update (`dd.hook.pre.abort`, default true).
    pub abort_on_failure: bool,
}

impl Hook {
    /// The hook at `point` a container's labels configure (`dd.hook.*`, `wud.hook.*` accepted).
    pub fn from_labels(labels: &LabelSettings, point: HookPoint) -> Option<Self> {
        let command = match point {
            HookPoint::Pre => labels.hook_pre.clone(),
            HookPoint::Post => labels.hook_post.clone(),
        }?;
        Some(Self {
            command,
            timeout: labels.hook_timeout.unwrap_or(Duration::from_secs(60)),
            abort_on_failure: labels.hook_pre_abort.unwrap_or(true),
        })
    }

    /// Runs the hook with `env` added to a minimal environment; `Err` says why it failed
    /// (exit status and the end of its output, or the timeout). A hook that outlives its timeout is
    /// killed.
    pub async fn run(&self, env: &BTreeMap<String, String>) -> Result<String, String> {
        let mut command = Command::new("/bin/sh");
        command
            .arg("-c")
            .arg(&self.command)
            .env_clear()
            .envs(
                ["PATH", "HOME", "LANG", "TZ"]
                    .iter()
                    .filter_map(|k| std::env::var(k).ok().map(|v| (*k, v))),
            )
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start /bin/sh: {e}"))?;
        let mut stdout = child.stdout.take();
        let mut stderr = child.stderr.take();
        let work = async {
            let mut out = Vec::new();
            let mut err = Vec::new();
            if let Some(s) = stdout.as_mut() {
                let _ = s.take(64 * 1024).read_to_end(&mut out).await;
            }
            if let Some(s) = stderr.as_mut() {
                let _ = s.take(64 * 1024).read_to_end(&mut err).await;
            }
            let status = child.wait().await;
            (status, out, err)
        };
        match tokio::time::timeout(self.timeout, work).await {
            Err(_) => Err(format!(
                "timed out after {} ms and was killed",
                self.timeout.as_millis()
            )),
            Ok((Err(e), _, _)) => Err(format!("cannot wait for the hook: {e}")),
            Ok((Ok(status), out, err)) => {
                let text = tail(&out, &err);
                if status.success() {
                    Ok(text)
                } else {
                    Err(format!("exited with {status}: {text}"))
                }
            }
        }
    }
}

/// The last 500 characters of stdout and stderr, for messages.
fn tail(out: &[u8], err: &[u8]) -> String {
    let mut text = String::from_utf8_lossy(out).into_owned();
    text.push_str(&String::from_utf8_lossy(err));
    let text = text.trim();
    let start = text.char_indices().rev().nth(499).map_or(0, |(i, _)| i);
    text[start..].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn labels(pairs: &[(&str, &str)]) -> LabelSettings {
        LabelSettings::read(&env(pairs))
    }

    #[test]
    fn reads_labels() {
        let l = labels(&[
            ("dd.hook.pre", "echo hi"),
            ("dd.hook.pre.abort", "false"),
            ("dd.hook.timeout", "500"),
        ]);
        let hook = Hook::from_labels(&l, HookPoint::Pre).unwrap();
        assert_eq!(hook.command, "echo hi");
        assert!(!hook.abort_on_failure);
        assert_eq!(hook.timeout, Duration::from_millis(500));
        assert!(Hook::from_labels(&l, HookPoint::Post).is_none());
    }

    #[tokio::test]
    async fn runs_with_the_update_in_its_environment() {
        let hook = Hook::from_labels(
            &labels(&[("dd.hook.post", "echo \"$DD_CONTAINER_NAME $DD_UPDATE_TO\"")]),
            HookPoint::Post,
        )
        .unwrap();
        let env = env(&[("DD_CONTAINER_NAME", "web"), ("DD_UPDATE_TO", "2.0.0")]);
        assert_eq!(hook.run(&env).await.unwrap(), "web 2.0.0");
    }

    #[tokio::test]
    async fn failures_and_timeouts_are_reported() {
        let failing = Hook::from_labels(
            &labels(&[("dd.hook.pre", "echo no >&2; exit 3")]),
            HookPoint::Pre,
        )
        .unwrap();
        let e = failing.run(&BTreeMap::new()).await.unwrap_err();
        assert!(e.contains("exit status: 3") && e.contains("no"), "{e}");
        // The slow hook says which process it is, then becomes `sleep` (same process).
        let pid_file =
            std::env::temp_dir().join(format!("drydock-hook-{}.pid", std::process::id()));
        let script = format!("echo $$ > {}; exec sleep 30", pid_file.display());
        let slow = Hook::from_labels(
            &labels(&[("dd.hook.pre", script.as_str()), ("dd.hook.timeout", "200")]),
            HookPoint::Pre,
        )
        .unwrap();
        let e = slow.run(&BTreeMap::new()).await.unwrap_err();
        assert!(e.contains("timed out"), "{e}");
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        let _ = std::fs::remove_file(&pid_file);
        // Killed, not left running: the process is gone or a zombie awaiting its reaper (the
        // wait is only a bound on that, against a hang).
        let stat = format!("/proc/{}/stat", pid.trim());
        let mut killed = false;
        for _ in 0..200 {
            killed = std::fs::read_to_string(&stat).map_or(true, |s| {
                s.rsplit_once(") ")
                    .is_some_and(|(_, rest)| rest.starts_with('Z'))
            });
            if killed {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(killed, "the timed-out hook (pid {}) still runs", pid.trim());
    }
}
