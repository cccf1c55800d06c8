//! The trigger engine's decisions, without any channel: which trigger applies to which container,
//! which updates pass its threshold, what `ONCE` already announced, and the rendered title and
//! body of each message (`MODE=simple`: one per container; `MODE=batch`: one per watch cycle).
//!
//! Channels (ntfy, Slack, SMTP, MQTT, ...) only deliver what [`plan`] decides.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::discovery::LabelSettings;
use crate::model::{Container, KindOfUpdate};
use crate::policy::Threshold;
use crate::template::{Template, TemplateError, Value};

/// A trigger's id, `{type}.{name}` (`ntfy.one`), lower case.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TriggerId {
    /// The channel type (`ntfy`, `slack`, `smtp`).
    pub kind: String,
    /// The instance name (`one`).
    pub name: String,
}

impl fmt::Display for TriggerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.kind, self.name)
    }
}

/// One message per container, or one per cycle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// One message per container (`simple`, the default).
    #[default]
    Simple,
    /// One message listing all the cycle's updates (`batch`).
    Batch,
}

impl FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "simple" => Ok(Self::Simple),
            "batch" => Ok(Self::Batch),
            other => Err(format!("mode `{other}` is not one of: simple, batch")),
        }
    }
}

/// The default templates, as drydock writes them.
pub const DEFAULT_SIMPLE_TITLE: &str = "New ${kind} found for container ${name}";
/// The default simple body.
pub const DEFAULT_SIMPLE_BODY: &str = r#"Container ${name} running with ${kind} ${local} can be updated to ${kind} ${remote}${link ? "\n" + link : ""}"#;
/// The default batch title.
pub const DEFAULT_BATCH_TITLE: &str = "${containers.length} updates available";

/// What every trigger shares, from `DD_NOTIFICATION_{TYPE}_{NAME}_*`.
#[derive(Clone, Debug)]
pub struct TriggerSettings {
    /// The trigger.
    pub id: TriggerId,
    /// Which update levels it acts on (`THRESHOLD`, default `all`).
    pub threshold: Threshold,
    /// Simple or batch (`MODE`).
    pub mode: Mode,
    /// Announce each update once, across restarts (`ONCE`, default true).
    pub once: bool,
    /// Delivery order among triggers, ascending (`ORDER`, default 100).
    pub order: u32,
    /// `SIMPLETITLE`.
    pub simple_title: Template,
    /// `SIMPLEBODY`.
    pub simple_body: Template,
    /// `BATCHTITLE`.
    pub batch_title: Template,
    /// `BATCHBODY`; by default each container's simple body, prefixed `- `.
    pub batch_body: Option<Template>,
}

/// A common trigger setting that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("trigger {trigger}: {key}: {reason}")]
pub struct TriggerSettingError {
    /// The trigger id.
    pub trigger: String,
    /// The key (`THRESHOLD`, `SIMPLEBODY`).
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

impl TriggerSettings {
    /// Reads the common keys from a trigger's settings (keys upper case, as in the environment);
    /// channel-specific keys are left to the channel. Templates compile here: a bad one is an
    /// error naming the trigger.
    pub fn from_keys(
        id: TriggerId,
        keys: &BTreeMap<String, String>,
    ) -> Result<Self, TriggerSettingError> {
        let error = |key: &str, reason: String| TriggerSettingError {
            trigger: id.to_string(),
            key: key.to_owned(),
            reason,
        };
        let get = |key: &str| keys.get(key).map(|v| v.trim()).filter(|v| !v.is_empty());
        let template = |key: &str, default: &str| {
            Template::compile(get(key).unwrap_or(default))
                .map_err(|e: TemplateError| error(key, e.to_string()))
        };
        Ok(Self {
            threshold: get("THRESHOLD")
                .map(|v| {
                    v.parse().map_err(|e: crate::policy::UnknownThreshold| {
                        error("THRESHOLD", e.to_string())
                    })
                })
                .transpose()?
                .unwrap_or_default(),
            mode: get("MODE")
                .map(|v| v.parse().map_err(|e| error("MODE", e)))
                .transpose()?
                .unwrap_or_default(),
            once: get("ONCE")
                .map(|v| {
                    crate::discovery::parse_bool(v)
                        .ok_or_else(|| error("ONCE", format!("`{v}` is not true or false")))
                })
                .transpose()?
                .unwrap_or(true),
            order: get("ORDER")
                .map(|v| {
                    v.parse()
                        .map_err(|_| error("ORDER", format!("`{v}` is not a whole number")))
                })
                .transpose()?
                .unwrap_or(100),
            simple_title: template("SIMPLETITLE", DEFAULT_SIMPLE_TITLE)?,
            simple_body: template("SIMPLEBODY", DEFAULT_SIMPLE_BODY)?,
            batch_title: template("BATCHTITLE", DEFAULT_BATCH_TITLE)?,
            batch_body: get("BATCHBODY")
                .map(|v| Template::compile(v).map_err(|e| error("BATCHBODY", e.to_string())))
                .transpose()?,
            id,
        })
    }
}

/// Whether a container's `dd.notification.include` / `exclude` labels (legacy `dd.trigger.*`, and
/// What's Up Docker's `wud.*`, as [`LabelSettings`] reads them) let this trigger act on it, and with which threshold. The labels are comma-separated references,
/// `name`, `type.name`, each optionally followed by `:threshold`; exclude wins; no include means
/// every trigger applies.
///
/// ```
/// use drydock_core::notification::{TriggerId, applies};
/// use drydock_core::policy::Threshold;
///
/// let ntfy = TriggerId { kind: "ntfy".into(), name: "one".into() };
/// assert_eq!(applies(&ntfy, Some("slack.ops, ntfy.one:minor"), None), Some(Some(Threshold::Minor)));
/// assert_eq!(applies(&ntfy, None, Some("one")), None);
/// assert_eq!(applies(&ntfy, None, None), Some(None));
/// ```
pub fn applies(
    trigger: &TriggerId,
    include: Option<&str>,
    exclude: Option<&str>,
) -> Option<Option<Threshold>> {
    let names = |entry: &crate::policy::TriggerListEntry| entry.names(&trigger.kind, &trigger.name);
    if exclude.is_some_and(|list| crate::policy::trigger_list(list).iter().any(names)) {
        return None;
    }
    match include {
        None => Some(None),
        // An unreadable threshold falls back to the trigger's own.
        Some(list) => crate::policy::trigger_list(list)
            .into_iter()
            .find(names)
            .map(|entry| entry.threshold.and_then(Result::ok)),
    }
}

/// The key under which `ONCE` remembers an announcement: trigger, container identity, and the
/// update offered (so a newer candidate is announced again).
pub fn once_key(trigger: &TriggerId, container: &Container) -> String {
    format!(
        "{trigger}|{}/{}|{}",
        container.watcher,
        container.name,
        container
            .update_kind
            .remote_value
            .as_deref()
            .unwrap_or_default()
    )
}

/// A message a trigger should send.
#[derive(Clone, Debug, PartialEq)]
pub struct Planned {
    /// The trigger.
    pub trigger: TriggerId,
    /// The rendered title.
    pub title: String,
    /// The rendered body.
    pub body: String,
    /// The containers it is about.
    pub containers: Vec<Container>,
    /// The `ONCE` keys to record once it is delivered.
    pub once_keys: Vec<String>,
}

/// The template scope of one container: `container` and the short names drydock and What's Up
/// Docker templates use (`id`, `name`, `watcher`, `kind`, `semver`, `local`, `remote`, `link`).
pub fn container_scope(container: &Container, container_value: Value) -> Value {
    let kind = &container.update_kind;
    let mut scope = BTreeMap::new();
    scope.insert("id".to_owned(), Value::from(container.id.as_str()));
    scope.insert("name".to_owned(), Value::from(container.name.as_str()));
    scope.insert(
        "watcher".to_owned(),
        Value::from(container.watcher.as_str()),
    );
    scope.insert(
        "kind".to_owned(),
        Value::from(match kind.kind {
            KindOfUpdate::Tag => "tag",
            KindOfUpdate::Digest => "digest",
            KindOfUpdate::Unknown => "unknown",
        }),
    );
    scope.insert(
        "semver".to_owned(),
        kind.semver_diff
            .map_or(Value::Null, |d| Value::from(d.as_str())),
    );
    scope.insert(
        "local".to_owned(),
        kind.local_value.clone().map_or(Value::Null, Value::from),
    );
    scope.insert(
        "remote".to_owned(),
        kind.remote_value.clone().map_or(Value::Null, Value::from),
    );
    scope.insert(
        "link".to_owned(),
        container
            .result
            .as_ref()
            .and_then(|r| r.link.clone())
            .map_or(Value::Null, Value::from),
    );
    scope.insert("container".to_owned(), container_value);
    Value::Object(scope)
}

/// Decides what `settings`' trigger sends for the containers of one watch cycle.
///
/// `candidates` are the containers with an update available; `value_of` turns a container into
/// its template value (the API's JSON); `announced` says whether a `ONCE` key was already
/// delivered.
pub fn plan(
    settings: &TriggerSettings,
    candidates: &[Container],
    value_of: impl Fn(&Container) -> Value,
    announced: impl Fn(&str) -> bool,
) -> Vec<Planned> {
    let selected: Vec<&Container> = candidates
        .iter()
        .filter(|c| c.update_available)
        .filter(|c| {
            let labels = LabelSettings::read(&c.labels);
            match applies(
                &settings.id,
                labels.notification_include.as_deref(),
                labels.notification_exclude.as_deref(),
            ) {
                None => false,
                Some(label_threshold) => label_threshold
                    .unwrap_or(settings.threshold)
                    .allows(c.update_kind.level()),
            }
        })
        .filter(|c| !settings.once || !announced(&once_key(&settings.id, c)))
        .collect();
    if selected.is_empty() {
        return Vec::new();
    }
    let simple = |c: &Container| {
        let scope = container_scope(c, value_of(c));
        (
            settings.simple_title.render(&scope),
            settings.simple_body.render(&scope),
        )
    };
    match settings.mode {
        Mode::Simple => selected
            .into_iter()
            .map(|c| {
                let (title, body) = simple(c);
                Planned {
                    trigger: settings.id.clone(),
                    title,
                    body,
                    containers: vec![c.clone()],
                    once_keys: vec![once_key(&settings.id, c)],
                }
            })
            .collect(),
        Mode::Batch => {
            let values: Vec<Value> = selected.iter().map(|c| value_of(c)).collect();
            let mut scope = BTreeMap::new();
            scope.insert("containers".to_owned(), Value::Array(values));
            scope.insert("count".to_owned(), Value::Number(selected.len() as f64));
            let scope = Value::Object(scope);
            let body = match &settings.batch_body {
                Some(template) => template.render(&scope),
                None => selected
                    .iter()
                    .map(|c| format!("- {}", simple(c).1))
                    .collect::<Vec<_>>()
                    .join("\n"),
            };
            vec![Planned {
                trigger: settings.id.clone(),
                title: settings.batch_title.render(&scope),
                body,
                once_keys: selected.iter().map(|c| once_key(&settings.id, c)).collect(),
                containers: selected.into_iter().cloned().collect(),
            }]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::UpdateKind;
    use crate::version::SemverDiff;

    fn id() -> TriggerId {
        TriggerId {
            kind: "ntfy".into(),
            name: "one".into(),
        }
    }

    fn container(name: &str, diff: SemverDiff, labels: &[(&str, &str)]) -> Container {
        Container {
            id: format!("{name}-id"),
            name: name.into(),
            watcher: "local".into(),
            update_available: true,
            update_kind: UpdateKind {
                kind: KindOfUpdate::Tag,
                local_value: Some("1.0.0".into()),
                remote_value: Some(format!("{}-new", diff.as_str())),
                semver_diff: Some(diff),
            },
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..Container::default()
        }
    }

    fn settings(pairs: &[(&str, &str)]) -> TriggerSettings {
        let keys = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        TriggerSettings::from_keys(id(), &keys).unwrap()
    }

    fn value(c: &Container) -> Value {
        let mut map = BTreeMap::new();
        map.insert("name".to_owned(), Value::from(c.name.as_str()));
        Value::Object(map)
    }

    #[test]
    fn simple_mode_renders_one_message_per_container() {
        let planned = plan(
            &settings(&[]),
            &[container("web", SemverDiff::Minor, &[])],
            value,
            |_| false,
        );
        assert_eq!(planned.len(), 1);
        assert_eq!(planned[0].title, "New tag found for container web");
        assert_eq!(
            planned[0].body,
            "Container web running with tag 1.0.0 can be updated to tag minor-new"
        );
        assert_eq!(planned[0].once_keys, ["ntfy.one|local/web|minor-new"]);
    }

    #[test]
    fn batch_mode_lists_the_cycle() {
        let cycle = [
            container("a", SemverDiff::Major, &[]),
            container("b", SemverDiff::Patch, &[]),
        ];
        let planned = plan(&settings(&[("MODE", "batch")]), &cycle, value, |_| false);
        assert_eq!(planned.len(), 1);
        assert_eq!(planned[0].title, "2 updates available");
        assert_eq!(planned[0].body.lines().count(), 2);
        assert!(planned[0].body.starts_with("- Container a"));
        let custom = settings(&[
            ("MODE", "batch"),
            ("BATCHBODY", "${containers[0].name},${containers[1].name}"),
        ]);
        assert_eq!(plan(&custom, &cycle, value, |_| false)[0].body, "a,b");
    }

    #[test]
    fn wud_trigger_labels_restrict_exactly_as_drydock_ones() {
        let triggers = ["a", "b"].map(|name| {
            TriggerSettings::from_keys(
                TriggerId {
                    kind: "ntfy".into(),
                    name: name.into(),
                },
                &BTreeMap::new(),
            )
            .unwrap()
        });
        // For each spelling, which trigger announces the container.
        let announced_by = |label: &str, list: &str| -> Vec<String> {
            let c = container("web", SemverDiff::Minor, &[(label, list)]);
            triggers
                .iter()
                .filter(|t| !plan(t, std::slice::from_ref(&c), value, |_| false).is_empty())
                .map(|t| t.id.to_string())
                .collect()
        };
        for (dd, wud) in [
            ("dd.notification.include", "wud.trigger.include"),
            ("dd.notification.exclude", "wud.trigger.exclude"),
        ] {
            for list in ["ntfy.a", "a", "ntfy.a:patch", " ntfy.b , ntfy.a "] {
                assert_eq!(
                    announced_by(dd, list),
                    announced_by(wud, list),
                    "{wud}={list}"
                );
            }
        }
        assert_eq!(announced_by("wud.trigger.include", "ntfy.a"), ["ntfy.a"]);
        assert_eq!(announced_by("wud.trigger.exclude", "ntfy.a"), ["ntfy.b"]);
        assert!(
            announced_by("wud.trigger.include", "ntfy.a:patch").is_empty(),
            "a minor update"
        );
    }

    #[test]
    fn thresholds_labels_and_once_filter() {
        let cycle = [
            container("major", SemverDiff::Major, &[]),
            container("minor", SemverDiff::Minor, &[]),
            container(
                "excluded",
                SemverDiff::Minor,
                &[("dd.notification.exclude", "ntfy.one")],
            ),
            container(
                "elsewhere",
                SemverDiff::Minor,
                &[("dd.notification.include", "slack.ops")],
            ),
            container(
                "label-threshold",
                SemverDiff::Major,
                &[("dd.notification.include", "one:minor")],
            ),
            container(
                "legacy",
                SemverDiff::Patch,
                &[("dd.trigger.include", "ntfy.one")],
            ),
        ];
        let names = |planned: Vec<Planned>| -> Vec<String> {
            planned
                .into_iter()
                .map(|p| p.containers[0].name.clone())
                .collect()
        };
        assert_eq!(
            names(plan(
                &settings(&[("THRESHOLD", "minor")]),
                &cycle,
                value,
                |_| false
            )),
            ["minor", "legacy"]
        );
        assert_eq!(
            names(plan(&settings(&[]), &cycle, value, |_| false)),
            ["major", "minor", "legacy"]
        );
        let announced = |key: &str| key.contains("local/minor|");
        assert_eq!(
            names(plan(&settings(&[]), &cycle, value, announced)),
            ["major", "legacy"]
        );
        assert_eq!(
            names(plan(
                &settings(&[("ONCE", "false")]),
                &cycle,
                value,
                announced
            )),
            ["major", "minor", "legacy"]
        );
    }

    #[test]
    fn bad_settings_name_the_trigger_and_key() {
        for (key, value) in [
            ("THRESHOLD", "huge"),
            ("MODE", "loud"),
            ("ONCE", "maybe"),
            ("ORDER", "first"),
            ("SIMPLEBODY", "${oops"),
        ] {
            let keys = BTreeMap::from([(key.to_owned(), value.to_owned())]);
            let err = TriggerSettings::from_keys(id(), &keys).unwrap_err();
            assert_eq!(err.key, key);
            assert!(err.to_string().starts_with("trigger ntfy.one: "), "{err}");
        }
    }
}

/// A notification on its way out, kept in the store so that none is lost: `pending` until the
/// receiver accepts it (then `delivered`), or `dead-letter` once retries are exhausted.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct OutboxEntry {
    /// Unique and chronological: the store lists entries in id order.
    pub id: String,
    /// The trigger id (`ntfy.one`).
    pub trigger: String,
    /// The rendered title.
    pub title: String,
    /// The rendered body.
    pub body: String,
    /// The ids of the containers it is about.
    pub containers: Vec<String>,
    /// The `ONCE` keys recorded once it is delivered.
    pub once_keys: Vec<String>,
    /// Where it stands.
    pub status: OutboxStatus,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// The last failure, if any.
    pub last_error: Option<String>,
    /// When it was queued.
    pub created: chrono::DateTime<chrono::Utc>,
    /// When it last changed.
    pub updated: chrono::DateTime<chrono::Utc>,
}

/// The state of an [`OutboxEntry`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum OutboxStatus {
    /// Not delivered yet.
    Pending,
    /// Accepted by the receiver.
    Delivered,
    /// Given up after the last retry.
    DeadLetter,
}

impl OutboxStatus {
    /// The API name (`pending`, `delivered`, `dead-letter`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::DeadLetter => "dead-letter",
        }
    }
}
