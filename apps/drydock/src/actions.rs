//! Container actions: the Docker action triggers (`DD_ACTION_DOCKER_{NAME}_*`, legacy
//! `DD_TRIGGER_DOCKER_{NAME}_*`), one updater per trigger and watcher, start-up recovery of
//! interrupted updates, and automatic updates on detection.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use base64::Engine as _;
use drydock_actions::{ActionSettings, RegistryAuth, Updater};
use drydock_core::image_ref::ImageReference;
use drydock_core::model::Container;
use drydock_registry::providers::{Provider, ProviderAuth, pick};
use drydock_watch::WatchEvent;
use tokio::sync::broadcast;

/// The Docker action triggers the environment configures, in name order.
pub(crate) fn settings_from_env(
    env: &BTreeMap<String, String>,
) -> anyhow::Result<Vec<ActionSettings>> {
    let hooks = match env.get("DD_HOOKS_ENABLED").map(|v| v.trim()) {
        None | Some("") => false,
        Some(v) => drydock_core::discovery::parse_bool(v).with_context(|| {
            format!("DD_HOOKS_ENABLED=`{v}` is invalid: expected true or false")
        })?,
    };
    let mut out = Vec::new();
    for (kind, compose) in [("DOCKER", false), ("DOCKERCOMPOSE", true)] {
        // name → key → value; DD_ACTION_ wins over the legacy DD_TRIGGER_.
        let mut grouped: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for prefix in [format!("DD_TRIGGER_{kind}_"), format!("DD_ACTION_{kind}_")] {
            for (variable, value) in env.iter().filter(|(k, _)| k.starts_with(&prefix)) {
                let rest = &variable[prefix.len()..];
                let Some((name, key)) = rest.split_once('_') else {
                    anyhow::bail!("{variable}: expected {prefix}{{NAME}}_{{KEY}}");
                };
                grouped
                    .entry(name.to_ascii_lowercase())
                    .or_default()
                    .insert(key.to_ascii_uppercase(), value.clone());
            }
        }
        for (name, keys) in &grouped {
            let mut settings = if compose {
                ActionSettings::compose_from_keys(name, keys)?
            } else {
                ActionSettings::from_keys(name, keys)?
            };
            settings.hooks_enabled = hooks;
            out.push(settings);
        }
    }
    Ok(out)
}

/// The engine credential (`X-Registry-Auth`) for pulling `image` with the configured registries.
pub(crate) fn registry_auth(providers: Vec<Provider>) -> RegistryAuth {
    Arc::new(move |image: &ImageReference| {
        let provider = pick(&providers, image)?;
        match provider.auth_for(image) {
            ProviderAuth::Basic { username, password } => {
                let doc = serde_json::json!({
                    "username": username,
                    "password": password.expose(),
                    "serveraddress": image.registry(),
                });
                Some(base64::engine::general_purpose::URL_SAFE.encode(doc.to_string()))
            }
            // ECR tokens are exchanged by the registry client; the engine's own credential
            // store (or an anonymous pull) covers the rest.
            _ => None,
        }
    })
}

/// The updaters that may update `container`, best first: those of its watcher, the Docker
/// Compose ones first for a container of a compose project (they keep its file in step), and only
/// Docker ones for any other container.
pub(crate) fn candidates<'a>(
    updaters: &'a [(String, Arc<Updater>)],
    container: &Container,
) -> Vec<&'a Arc<Updater>> {
    let in_compose = drydock_core::compose::compose_service(&container.labels).is_some();
    let of_watcher: Vec<&Arc<Updater>> = updaters
        .iter()
        .filter(|(watcher, _)| *watcher == container.watcher)
        .map(|(_, u)| u)
        .collect();
    let compose = of_watcher
        .iter()
        .filter(|u| in_compose && u.settings().compose.is_some());
    let docker = of_watcher.iter().filter(|u| u.settings().compose.is_none());
    compose.chain(docker).copied().collect()
}

/// Applies detected updates automatically where a Docker action trigger's `AUTO` allows it.
pub(crate) fn spawn_auto_updates(
    updaters: Vec<(String, Arc<Updater>)>,
    mut events: broadcast::Receiver<WatchEvent>,
) {
    if updaters.is_empty() {
        return;
    }
    tokio::spawn(async move {
        loop {
            let container: Container = match events.recv().await {
                Ok(WatchEvent::UpdateAvailable(container)) => *container,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => break,
            };
            // `update_available` already accounts for skips, snoozes and maturity.
            if !container.update_available {
                continue;
            }
            let Some(updater) = candidates(&updaters, &container)
                .into_iter()
                .find(|u| u.settings().applies_automatically(&container.labels))
            else {
                continue;
            };
            match updater.update(&container, "auto").await {
                Ok(outcome) => tracing::info!(
                    container = %container.name,
                    to = %outcome.operation.to_image,
                    "updated automatically"
                ),
                Err(e) => {
                    tracing::warn!(container = %container.name, error = %e, "automatic update failed")
                }
            }
        }
    });
}

/// Finishes the updates a crash interrupted, retrying while the engine is unreachable; returns
/// how many it finished.
pub(crate) async fn recover(updaters: &[(String, Arc<Updater>)]) -> usize {
    let mut count = 0;
    for (watcher, updater) in updaters {
        let mut delay = Duration::from_millis(500);
        for attempt in 1..=10 {
            match updater.recover().await {
                Ok(done) => {
                    count += done.len();
                    for op in done {
                        tracing::warn!(
                            container = %op.container_name,
                            outcome = op.phase.as_str(),
                            reason = op.reason.as_deref().unwrap_or_default(),
                            "finished an update interrupted by a restart"
                        );
                    }
                    break;
                }
                Err(e) => {
                    tracing::warn!(%watcher, attempt, error = %e, "cannot recover interrupted updates yet; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
            }
        }
    }
    count
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

    #[test]
    fn reads_action_triggers_with_the_legacy_alias() {
        let settings = settings_from_env(&env(&[
            ("DD_TRIGGER_DOCKER_LOCAL_PRUNE", "true"),
            ("DD_TRIGGER_DOCKER_LOCAL_BACKUPCOUNT", "9"),
            ("DD_ACTION_DOCKER_LOCAL_BACKUPCOUNT", "5"),
            ("DD_HOOKS_ENABLED", "true"),
        ]))
        .unwrap();
        assert_eq!(settings.len(), 1);
        assert_eq!(settings[0].id, "docker.local");
        assert!(settings[0].prune);
        assert_eq!(settings[0].backup_count, 5, "DD_ACTION_ wins");
        assert!(settings[0].hooks_enabled);
    }

    #[test]
    fn bad_settings_stop_start_up_naming_the_key() {
        let e = settings_from_env(&env(&[("DD_ACTION_DOCKER_LOCAL_AUTO", "sometimes")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("AUTO") && e.contains("sometimes"), "{e}");
        assert!(settings_from_env(&env(&[("DD_HOOKS_ENABLED", "maybe")])).is_err());
    }

    #[test]
    fn compose_containers_go_to_the_compose_action_and_others_to_docker() {
        let updater = |settings: ActionSettings| {
            Arc::new(Updater::new(
                Arc::new(drydock_testkit::FakeRuntime::new()),
                Arc::new(drydock_testkit::InMemoryStore::new()),
                Arc::new(drydock_testkit::SystemClock),
                settings,
            ))
        };
        let updaters = vec![
            ("local".to_owned(), updater(ActionSettings::new("local"))),
            (
                "local".to_owned(),
                updater(ActionSettings::compose("stack")),
            ),
            ("remote".to_owned(), updater(ActionSettings::new("remote"))),
        ];
        let ids = |container: &Container| -> Vec<String> {
            candidates(&updaters, container)
                .iter()
                .map(|u| u.settings().id.clone())
                .collect()
        };
        let plain = Container {
            watcher: "local".into(),
            ..Container::default()
        };
        assert_eq!(ids(&plain), vec!["docker.local"]);
        let mut composed = plain.clone();
        composed
            .labels
            .insert("com.docker.compose.service".into(), "web".into());
        assert_eq!(ids(&composed), vec!["dockercompose.stack", "docker.local"]);
        let elsewhere = Container {
            watcher: "remote".into(),
            ..composed
        };
        assert_eq!(ids(&elsewhere), vec!["docker.remote"]);
    }

    #[test]
    fn compose_actions_are_read_next_to_docker_ones() {
        let settings = settings_from_env(&env(&[
            ("DD_ACTION_DOCKER_LOCAL_PRUNE", "true"),
            ("DD_TRIGGER_DOCKERCOMPOSE_STACK_FILE", "/srv/compose.yaml"),
        ]))
        .unwrap();
        let ids: Vec<&str> = settings.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, vec!["docker.local", "dockercompose.stack"]);
        assert!(settings[0].compose.is_none() && settings[1].compose.is_some());
    }
}
