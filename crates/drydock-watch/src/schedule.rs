//! Running a watcher: a watch at start-up, then on its cron (with jitter), and the engine's
//! events applied as they come, reconnecting when the engine goes away.

use std::collections::HashMap;
use std::future::poll_fn;
use std::sync::Arc;
use std::time::Duration;

use drydock_core::ports::{RuntimeEvent, RuntimeEventKind};
use tokio::sync::watch;

use crate::watcher::Watcher;

/// Events about one container arriving within this window are applied once.
const DEBOUNCE: Duration = Duration::from_millis(200);

/// Reconnection back-off: from 1 s, doubling, to 30 s.
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// An event stream that lived this long was a real connection: the back-off starts over.
const STABLE: Duration = Duration::from_secs(30);

impl Watcher {
    /// Runs the watcher until `shutdown` turns true: one watch at start-up, one per cron tick
    /// (plus jitter), and the engine's events. Failures are logged and retried, never fatal.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let events = if self.settings().watch_events {
            let watcher = self.clone();
            let shutdown = shutdown.clone();
            Some(tokio::spawn(async move {
                watcher.follow_events(shutdown).await
            }))
        } else {
            None
        };
        if let Err(e) = self.watch_all().await {
            tracing::warn!(watcher = %self.settings().name, error = %e, "start-up watch failed");
        }
        loop {
            let now = self.now();
            let Some(next) = self.settings().cron.next_after(now) else {
                tracing::error!(watcher = %self.settings().name, "the cron never fires again");
                break;
            };
            let jitter_ms = self.settings().jitter.as_millis() as u64;
            let jitter = Duration::from_millis(if jitter_ms == 0 {
                0
            } else {
                fastrand::u64(0..jitter_ms)
            });
            let wait = (next - now).to_std().unwrap_or_default() + jitter;
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => break,
            }
            if *shutdown.borrow() {
                break;
            }
            if let Err(e) = self.watch_all().await {
                tracing::warn!(watcher = %self.settings().name, error = %e, "scheduled watch failed");
            }
        }
        if let Some(events) = events {
            events.abort();
        }
    }

    /// Follows the engine's events until shutdown, reconnecting with back-off; after a
    /// reconnection a full watch catches up with what happened meanwhile.
    pub async fn follow_events(&self, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Duration::from_secs(1);
        let mut reconnecting = false;
        while !*shutdown.borrow() {
            let stream = match self.runtime().events().await {
                Ok(stream) => stream,
                Err(e) => {
                    tracing::warn!(watcher = %self.settings().name, error = %e, retry_in = ?backoff, "engine events unavailable");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        _ = shutdown.changed() => return,
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    reconnecting = true;
                    continue;
                }
            };
            let connected = std::time::Instant::now();
            if reconnecting {
                tracing::info!(watcher = %self.settings().name, "engine events reconnected");
                if let Err(e) = self.watch_all().await {
                    tracing::warn!(watcher = %self.settings().name, error = %e, "catch-up watch failed");
                }
            }
            let mut stream = stream;
            let mut pending: HashMap<String, RuntimeEventKind> = HashMap::new();
            loop {
                let next = async { poll_fn(|cx| stream.as_mut().poll_next(cx)).await };
                let wait = if pending.is_empty() {
                    BACKOFF_MAX * 100
                } else {
                    DEBOUNCE
                };
                tokio::select! {
                    event = next => match event {
                        Some(Ok(RuntimeEvent { kind, id, .. })) if is_container_event(&kind) => {
                            pending.insert(id, kind);
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => {
                            tracing::warn!(watcher = %self.settings().name, error = %e, "engine event stream failed");
                            break;
                        }
                        None => break,
                    },
                    () = tokio::time::sleep(wait) => {
                        self.apply(std::mem::take(&mut pending)).await;
                    }
                    _ = shutdown.changed() => return,
                }
            }
            self.apply(pending).await;
            reconnecting = true;
            // A stream that keeps dropping at once (a proxy refusing events, an idle timeout) must
            // not turn into back-to-back catch-up watches: back off unless it lived a while.
            if connected.elapsed() >= STABLE {
                backoff = Duration::from_secs(1);
            } else {
                tracing::warn!(watcher = %self.settings().name, retry_in = ?backoff, "the engine's event stream ended quickly");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    _ = shutdown.changed() => return,
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
            tracing::warn!(watcher = %self.settings().name, "lost the engine's events; reconnecting");
        }
    }

    async fn apply(&self, pending: HashMap<String, RuntimeEventKind>) {
        for id in pending.into_keys() {
            if let Err(e) = self.refresh(&id).await {
                tracing::warn!(watcher = %self.settings().name, container = %id, error = %e, "applying an engine event failed");
            }
        }
    }
}

fn is_container_event(kind: &RuntimeEventKind) -> bool {
    matches!(
        kind,
        RuntimeEventKind::Create
            | RuntimeEventKind::Start
            | RuntimeEventKind::Stop
            | RuntimeEventKind::Die
            | RuntimeEventKind::Destroy
            | RuntimeEventKind::Rename
            | RuntimeEventKind::Pause
            | RuntimeEventKind::Health
    )
}
