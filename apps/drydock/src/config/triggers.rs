//! Notification triggers from `DD_NOTIFICATION_{TYPE}_{NAME}_{KEY}` (legacy `DD_TRIGGER_*`; the
//! `DD_NOTIFICATION_` spelling wins): the keys every trigger shares read by the core, the rest
//! handed to the channel.

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};
use drydock_core::compat::Compat;
use drydock_core::notification::{TriggerId, TriggerSettings};
use drydock_notify::Trigger;

/// Keys every trigger shares; the rest belong to the channel.
const COMMON: &[&str] = &[
    "THRESHOLD",
    "MODE",
    "ONCE",
    "ORDER",
    "AUTO",
    "SIMPLETITLE",
    "SIMPLEBODY",
    "BATCHTITLE",
    "BATCHBODY",
];

/// The configured triggers, and notices of the types this version does not have yet.
pub(crate) fn from_env(
    env: &BTreeMap<String, String>,
    compat: Compat,
) -> anyhow::Result<(Vec<Trigger>, Vec<String>)> {
    // (type, name) → key → value; DD_NOTIFICATION_ wins over the legacy DD_TRIGGER_.
    let mut grouped: BTreeMap<(String, String), BTreeMap<String, String>> = BTreeMap::new();
    for prefix in ["DD_TRIGGER_", "DD_NOTIFICATION_"] {
        for (variable, value) in env.iter().filter(|(k, _)| k.starts_with(prefix)) {
            let rest = &variable[prefix.len()..];
            let mut parts = rest.splitn(3, '_');
            let (Some(kind), Some(name), Some(key)) = (parts.next(), parts.next(), parts.next())
            else {
                bail!("{variable}: expected {prefix}{{TYPE}}_{{NAME}}_{{KEY}}");
            };
            grouped
                .entry((kind.to_ascii_lowercase(), name.to_ascii_lowercase()))
                .or_default()
                .insert(key.to_ascii_uppercase(), value.clone());
        }
    }
    let mut triggers = Vec::new();
    let mut notices = Vec::new();
    for ((kind, name), keys) in grouped {
        // `DD_TRIGGER_DOCKER_*` and `_DOCKERCOMPOSE_*` are the legacy spelling of the action
        // triggers.
        if kind == "docker" || kind == "dockercompose" {
            continue;
        }
        let id = TriggerId { kind, name };
        let channel_keys: BTreeMap<String, String> = keys
            .iter()
            .filter(|(k, _)| !COMMON.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let Some(channel) = drydock_triggers::build_channel(&id, &channel_keys, compat)
            .with_context(|| format!("trigger {id}"))?
        else {
            notices.push(format!(
                "{id} ({} triggers are not available in this version yet)",
                id.kind
            ));
            continue;
        };
        let settings = TriggerSettings::from_keys(id, &keys)?;
        triggers.push(Trigger::new(
            settings,
            channel.notifier,
            channel.configuration,
        ));
    }
    Ok((triggers, notices))
}
