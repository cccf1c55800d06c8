//! The Docker action's configuration: `DD_ACTION_DOCKER_{NAME}_*` (legacy
//! `DD_TRIGGER_DOCKER_{NAME}_*`), read from the keys after the name.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use drydock_core::discovery::LabelSettings;
use drydock_core::policy::{Threshold, UnknownThreshold, trigger_list};
use drydock_core::update_kind::UpdateLevel;

use crate::compose::ComposeOptions;

/// When a detected update is applied without anyone asking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutoMode {
    /// Every watched container with an update (`true`, `all`).
    All,
    /// Never; updates run only when asked through the API (`false`, `none`).
    Never,
    /// Containers whose `dd.action.include` names this trigger (`oninclude`, the default).
    OnInclude,
    /// Containers whose `dd.action.auto` names this trigger (`onauto`).
    OnAuto,
}

/// How the Docker action behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionSettings {
    /// The trigger id, `docker.{name}`.
    pub id: String,
    /// Automatic updates (`AUTO`).
    pub auto: AutoMode,
    /// The largest update applied automatically (`THRESHOLD`, default `all`); a threshold in the
    /// container's `dd.action.include`/`dd.action.auto` entry (`docker.local:minor`) wins.
    pub threshold: Threshold,
    /// Remove the old image after a successful update (`PRUNE`, default false).
    pub prune: bool,
    /// Image backups kept per container (`BACKUPCOUNT`, default 3).
    pub backup_count: usize,
    /// Pull only, change nothing (`DRYRUN`, default false).
    pub dry_run: bool,
    /// How long the new container may take to report healthy (`HEALTHTIMEOUT` ms, default 120 s).
    pub health_timeout: Duration,
    /// How long a container without a health check must keep running (`GRACE` ms, default 2 s).
    pub grace: Duration,
    /// How long a stopping container gets before it is killed (`STOPTIMEOUT` ms, default 10 s).
    pub stop_timeout: Duration,
    /// Whether `dd.hook.pre` / `dd.hook.post` labels run (`DD_HOOKS_ENABLED`, default false).
    pub hooks_enabled: bool,
    /// For the Docker Compose action (`dockercompose.{name}`): the compose file to keep in step.
    pub compose: Option<ComposeOptions>,
}

impl ActionSettings {
    /// Defaults for the trigger `docker.{name}`.
    pub fn new(name: &str) -> Self {
        Self {
            id: format!("docker.{}", name.to_ascii_lowercase()),
            auto: AutoMode::OnInclude,
            threshold: Threshold::All,
            prune: false,
            backup_count: 3,
            dry_run: false,
            health_timeout: Duration::from_secs(120),
            grace: Duration::from_secs(2),
            stop_timeout: Duration::from_secs(10),
            hooks_enabled: false,
            compose: None,
        }
    }

    /// Defaults for the Docker Compose action `dockercompose.{name}`: the Docker update, then the
    /// compose file's `image:` line, with a backup of the file.
    pub fn compose(name: &str) -> Self {
        Self {
            id: format!("dockercompose.{}", name.to_ascii_lowercase()),
            compose: Some(ComposeOptions {
                file: None,
                backup: true,
            }),
            ..Self::new(name)
        }
    }

    /// Reads the keys after `DD_ACTION_DOCKERCOMPOSE_{NAME}_`: the Docker keys plus `FILE` and
    /// `BACKUP`.
    ///
    /// # Errors
    ///
    /// [`SettingsError`] naming the key (and, for a known key, the value) for an unknown key or a
    /// bad value.
    pub fn compose_from_keys(
        name: &str,
        keys: &BTreeMap<String, String>,
    ) -> Result<Self, SettingsError> {
        let mut options = ComposeOptions {
            file: None,
            backup: true,
        };
        let mut docker_keys = keys.clone();
        let id = format!("dockercompose.{}", name.to_ascii_lowercase());
        if let Some(file) = docker_keys.remove("FILE") {
            options.file = Some(PathBuf::from(file.trim()));
        }
        if let Some(value) = docker_keys.remove("BACKUP") {
            options.backup =
                flag(&value.trim().to_ascii_lowercase()).ok_or_else(|| SettingsError {
                    trigger: id.clone(),
                    key: "BACKUP".into(),
                    value: Some(value.clone()),
                    expected: "true or false".into(),
                })?;
        }
        let mut settings = Self::from_keys(name, &docker_keys).map_err(|e| SettingsError {
            trigger: id.clone(),
            ..e
        })?;
        settings.id = id;
        settings.compose = Some(options);
        Ok(settings)
    }

    /// Reads the keys after `DD_ACTION_DOCKER_{NAME}_` (upper case: `AUTO`, `PRUNE`, ...).
    ///
    /// # Errors
    ///
    /// [`SettingsError`] naming the key (and, for a known key, the value) for an unknown key or a
    /// bad value.
    pub fn from_keys(name: &str, keys: &BTreeMap<String, String>) -> Result<Self, SettingsError> {
        let mut settings = Self::new(name);
        for (key, value) in keys {
            let bad = |expected: &str| SettingsError {
                trigger: settings.id.clone(),
                key: key.clone(),
                value: Some(value.clone()),
                expected: expected.to_owned(),
            };
            let v = value.trim().to_ascii_lowercase();
            match key.as_str() {
                "AUTO" => {
                    settings.auto = match v.as_str() {
                        "true" | "all" => AutoMode::All,
                        "false" | "none" => AutoMode::Never,
                        "oninclude" => AutoMode::OnInclude,
                        "onauto" => AutoMode::OnAuto,
                        _ => return Err(bad("true, all, false, none, oninclude or onauto")),
                    }
                }
                "THRESHOLD" => {
                    settings.threshold = v
                        .parse()
                        .map_err(|e: UnknownThreshold| bad(&e.to_string()))?;
                }
                "PRUNE" => settings.prune = flag(&v).ok_or_else(|| bad("true or false"))?,
                "DRYRUN" => settings.dry_run = flag(&v).ok_or_else(|| bad("true or false"))?,
                "BACKUPCOUNT" => {
                    settings.backup_count = v
                        .parse()
                        .ok()
                        .filter(|n| *n <= 100)
                        .ok_or_else(|| bad("a number of backups from 0 to 100"))?;
                }
                "HEALTHTIMEOUT" => settings.health_timeout = millis(&v).ok_or_else(|| bad(MS))?,
                "GRACE" => settings.grace = millis(&v).ok_or_else(|| bad(MS))?,
                "STOPTIMEOUT" => settings.stop_timeout = millis(&v).ok_or_else(|| bad(MS))?,
                // Accepted for compatibility: the engine removes auto-remove containers itself.
                "AUTOREMOVETIMEOUT" => {
                    millis(&v).ok_or_else(|| bad(MS))?;
                }
                _ => {
                    // A misplaced secret (`..._PASSWORD`) lands here: name the key, not its value.
                    return Err(SettingsError {
                        value: None,
                        ..bad(
                            "a known key: AUTO, THRESHOLD, PRUNE, DRYRUN, BACKUPCOUNT, HEALTHTIMEOUT, GRACE, STOPTIMEOUT, AUTOREMOVETIMEOUT",
                        )
                    });
                }
            }
        }
        Ok(settings)
    }

    /// Every Docker and Docker Compose action `env` configures (`DD_ACTION_DOCKER_{NAME}_*` and
    /// `DD_ACTION_DOCKERCOMPOSE_{NAME}_*`, the legacy `DD_TRIGGER_*` spellings too, `DD_ACTION_`
    /// winning), Docker ones first, each in name order, with `DD_HOOKS_ENABLED` applied.
    ///
    /// # Errors
    ///
    /// [`SettingsError`] naming the trigger and key for a variable without a name or key, an
    /// unknown key or a bad value.
    pub fn all_from_env(env: &BTreeMap<String, String>) -> Result<Vec<Self>, SettingsError> {
        let hooks = match env.get("DD_HOOKS_ENABLED").map(|v| v.trim()) {
            None | Some("") => false,
            Some(v) => flag(&v.to_ascii_lowercase()).ok_or_else(|| SettingsError {
                trigger: "hooks".into(),
                key: "DD_HOOKS_ENABLED".into(),
                value: Some(v.to_owned()),
                expected: "true or false".into(),
            })?,
        };
        let mut out = Vec::new();
        for (kind, compose) in [("DOCKER", false), ("DOCKERCOMPOSE", true)] {
            // name → key → value; DD_ACTION_ wins over the legacy DD_TRIGGER_.
            let mut grouped: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
            for prefix in [format!("DD_TRIGGER_{kind}_"), format!("DD_ACTION_{kind}_")] {
                for (variable, value) in env.iter().filter(|(k, _)| k.starts_with(&prefix)) {
                    let rest = &variable[prefix.len()..];
                    let Some((name, key)) = rest
                        .split_once('_')
                        .filter(|(n, k)| !n.is_empty() && !k.is_empty())
                    else {
                        return Err(SettingsError {
                            trigger: variable.clone(),
                            key: String::new(),
                            value: None,
                            expected: format!("{prefix}{{NAME}}_{{KEY}}"),
                        });
                    };
                    grouped
                        .entry(name.to_ascii_lowercase())
                        .or_default()
                        .insert(key.to_ascii_uppercase(), value.clone());
                }
            }
            for (name, keys) in &grouped {
                let mut settings = if compose {
                    Self::compose_from_keys(name, keys)?
                } else {
                    Self::from_keys(name, keys)?
                };
                settings.hooks_enabled = hooks;
                out.push(settings);
            }
        }
        Ok(out)
    }

    /// Whether a detected update of `level` of a container with these labels is applied
    /// automatically, and if not, why.
    pub fn automatic(&self, labels: &LabelSettings, level: UpdateLevel) -> Automatic {
        let (kind, name) = self
            .id
            .split_once('.')
            .unwrap_or(("docker", self.id.as_str()));
        let named = |list: &Option<String>| {
            list.as_deref()
                .and_then(|list| trigger_list(list).into_iter().find(|e| e.names(kind, name)))
        };
        if named(&labels.action_exclude).is_some() {
            return Automatic::Excluded;
        }
        let entry = match self.auto {
            AutoMode::Never => return Automatic::Off,
            AutoMode::All => named(&labels.action_include).or_else(|| named(&labels.action_auto)),
            AutoMode::OnInclude => match named(&labels.action_include) {
                Some(entry) => Some(entry),
                None => return Automatic::NotNamed,
            },
            AutoMode::OnAuto => match named(&labels.action_auto) {
                Some(entry) => Some(entry),
                None => return Automatic::NotNamed,
            },
        };
        let threshold = match entry.and_then(|e| e.threshold) {
            None => self.threshold,
            Some(Ok(threshold)) => threshold,
            // A misspelt threshold must not widen what is applied: nothing is, until fixed.
            Some(Err(unknown)) => return Automatic::UnreadableThreshold(unknown),
        };
        if threshold.allows(level) {
            Automatic::Applies
        } else {
            Automatic::BeyondThreshold { threshold, level }
        }
    }

    /// Whether a detected update of `level` of a container with these labels is applied
    /// automatically.
    pub fn applies_automatically(&self, labels: &LabelSettings, level: UpdateLevel) -> bool {
        self.automatic(labels, level) == Automatic::Applies
    }
}

/// What [`ActionSettings::automatic`] decides for one detected update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Automatic {
    /// It is applied.
    Applies,
    /// `AUTO=false`: nothing is applied automatically.
    Off,
    /// The container's labels do not name this trigger where `AUTO` asks them to.
    NotNamed,
    /// `dd.action.exclude` names this trigger.
    Excluded,
    /// The update is larger than the threshold in force.
    BeyondThreshold {
        /// The threshold in force (the label's, else `THRESHOLD`).
        threshold: Threshold,
        /// The update's level.
        level: UpdateLevel,
    },
    /// The label's threshold is not one drydock knows: nothing is applied.
    UnreadableThreshold(UnknownThreshold),
}

impl std::fmt::Display for Automatic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Applies => f.write_str("applied automatically"),
            Self::Off => f.write_str("automatic updates are off (AUTO=false)"),
            Self::NotNamed => f.write_str("the dd.action labels do not name the trigger"),
            Self::Excluded => f.write_str("dd.action.exclude names the trigger"),
            Self::BeyondThreshold { threshold, level } => write!(
                f,
                "a {} update is beyond the automatic threshold {}",
                level.as_str(),
                threshold.as_str()
            ),
            Self::UnreadableThreshold(e) => write!(f, "dd.action label: {e}"),
        }
    }
}

const MS: &str = "a duration in milliseconds";

/// `="value"` for [`SettingsError`]'s message, or nothing when the value is not shown.
fn shown_value(value: Option<&str>) -> String {
    value.map_or_else(String::new, |v| format!("={v:?}"))
}

fn flag(value: &str) -> Option<bool> {
    match value {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn millis(value: &str) -> Option<Duration> {
    value.parse::<u64>().ok().map(Duration::from_millis)
}

/// A bad Docker action setting.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "action trigger {trigger}: {key}{} is invalid: expected {expected}",
    shown_value(.value.as_deref())
)]
pub struct SettingsError {
    /// The trigger id.
    pub trigger: String,
    /// The key after the trigger name.
    pub key: String,
    /// The value given, or `None` for an unknown key: its value may be a secret set under the
    /// wrong name, and the message needs only the key.
    pub value: Option<String>,
    /// What was expected.
    pub expected: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn reads_keys() {
        let s = ActionSettings::from_keys(
            "Local",
            &keys(&[
                ("AUTO", "true"),
                ("PRUNE", "true"),
                ("BACKUPCOUNT", "5"),
                ("HEALTHTIMEOUT", "30000"),
            ]),
        )
        .unwrap();
        assert_eq!(s.id, "docker.local");
        assert_eq!(s.auto, AutoMode::All);
        assert!(s.prune);
        assert_eq!(s.backup_count, 5);
        assert_eq!(s.health_timeout, Duration::from_secs(30));
    }

    #[test]
    fn compose_keys() {
        let s = ActionSettings::compose_from_keys(
            "stack",
            &keys(&[
                ("FILE", "/srv/compose.yaml"),
                ("BACKUP", "false"),
                ("PRUNE", "true"),
            ]),
        )
        .unwrap();
        assert_eq!(s.id, "dockercompose.stack");
        assert!(s.prune);
        assert_eq!(
            s.compose,
            Some(ComposeOptions {
                file: Some(PathBuf::from("/srv/compose.yaml")),
                backup: false
            })
        );
        let e = ActionSettings::compose_from_keys("stack", &keys(&[("BACKUP", "x")])).unwrap_err();
        assert_eq!(
            (e.trigger.as_str(), e.key.as_str()),
            ("dockercompose.stack", "BACKUP")
        );
        let e = ActionSettings::compose_from_keys("stack", &keys(&[("NOPE", "x")])).unwrap_err();
        assert_eq!(e.trigger, "dockercompose.stack");
        assert!(ActionSettings::compose("stack").applies_automatically(
            &LabelSettings::read(&keys(&[("dd.action.include", "dockercompose.stack")])),
            UpdateLevel::Major
        ));
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = ActionSettings::from_keys("local", &keys(&[("BACKUPCOUNT", "many")])).unwrap_err();
        assert_eq!(e.key, "BACKUPCOUNT");
        assert!(e.to_string().contains("docker.local"));
        assert!(ActionSettings::from_keys("local", &keys(&[("AUTOUPDATE", "1")])).is_err());
        assert!(e.to_string().contains(r#"BACKUPCOUNT="many""#), "{e}");
    }

    /// Found by the `config_env` fuzz target (`fuzz/regressions/config_env/`): the error for an
    /// unknown key repeated its value, so a secret set under a wrong name reached the start-up
    /// message and the logs.
    #[test]
    fn unknown_keys_are_named_without_their_value() {
        for settings in [
            ActionSettings::from_keys("local", &keys(&[("PASSWORD", "s3cr3t-hunter2")])),
            ActionSettings::compose_from_keys("stack", &keys(&[("TOKEN", "s3cr3t-hunter2")])),
        ] {
            let e = settings.unwrap_err();
            assert_eq!(e.value, None);
            let message = e.to_string();
            assert!(!message.contains("s3cr3t"), "{message}");
            assert!(message.contains("a known key"), "{message}");
        }
    }

    #[test]
    fn reads_action_triggers_with_the_legacy_alias() {
        let settings = ActionSettings::all_from_env(&keys(&[
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
        let e =
            ActionSettings::all_from_env(&keys(&[("DD_ACTION_DOCKER_LOCAL_AUTO", "sometimes")]))
                .unwrap_err()
                .to_string();
        assert!(e.contains("AUTO") && e.contains("sometimes"), "{e}");
        let e = ActionSettings::all_from_env(&keys(&[("DD_HOOKS_ENABLED", "maybe")])).unwrap_err();
        assert!(e.to_string().contains("DD_HOOKS_ENABLED"), "{e}");
        let e =
            ActionSettings::all_from_env(&keys(&[("DD_ACTION_DOCKER_LOCAL", "x")])).unwrap_err();
        assert!(e.to_string().contains("DD_ACTION_DOCKER_LOCAL"), "{e}");
    }

    #[test]
    fn compose_actions_are_read_next_to_docker_ones() {
        let settings = ActionSettings::all_from_env(&keys(&[
            ("DD_ACTION_DOCKER_LOCAL_PRUNE", "true"),
            ("DD_TRIGGER_DOCKERCOMPOSE_STACK_FILE", "/srv/compose.yaml"),
        ]))
        .unwrap();
        let ids: Vec<&str> = settings.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, vec!["docker.local", "dockercompose.stack"]);
        assert!(settings[0].compose.is_none() && settings[1].compose.is_some());
    }

    #[test]
    fn automatic_updates_follow_the_mode_and_labels() {
        let labels = |pairs: &[(&str, &str)]| LabelSettings::read(&keys(pairs));
        let major = UpdateLevel::Major;
        let mut s = ActionSettings::new("local");
        assert!(!s.applies_automatically(&labels(&[]), major));
        assert!(s.applies_automatically(&labels(&[("dd.action.include", "docker.local")]), major));
        assert!(!s.applies_automatically(&labels(&[("dd.action.include", "docker.other")]), major));
        assert!(!s.applies_automatically(
            &labels(&[("dd.action.include", "dockercompose.local")]),
            major
        ));
        s.auto = AutoMode::All;
        assert!(s.applies_automatically(&labels(&[]), major));
        assert!(!s.applies_automatically(&labels(&[("dd.action.exclude", "local")]), major));
        s.auto = AutoMode::Never;
        assert!(!s.applies_automatically(&labels(&[("dd.action.include", "local")]), major));
    }

    #[test]
    fn the_threshold_of_an_include_entry_limits_what_is_applied() {
        let labels = |value: &str| LabelSettings::read(&keys(&[("dd.action.include", value)]));
        let s = ActionSettings::new("local");
        let minor = labels("docker.local:minor");
        assert_eq!(
            s.automatic(&minor, UpdateLevel::Major),
            Automatic::BeyondThreshold {
                threshold: Threshold::Minor,
                level: UpdateLevel::Major
            }
        );
        assert_eq!(s.automatic(&minor, UpdateLevel::Minor), Automatic::Applies);
        assert_eq!(s.automatic(&minor, UpdateLevel::Patch), Automatic::Applies);
        assert_eq!(s.automatic(&minor, UpdateLevel::Digest), Automatic::Applies);
        // The entry that names this trigger decides, not another one's threshold.
        let two = labels("docker.other:major, LOCAL:patch");
        assert!(!s.applies_automatically(&two, UpdateLevel::Minor));
        assert!(s.applies_automatically(&two, UpdateLevel::Patch));
        // A misspelt threshold applies nothing rather than everything.
        let typo = labels("docker.local:mnior");
        assert!(matches!(
            s.automatic(&typo, UpdateLevel::Patch),
            Automatic::UnreadableThreshold(_)
        ));
        // The trigger's own THRESHOLD, unless the label gives one.
        let s = ActionSettings::from_keys("local", &keys(&[("THRESHOLD", "patch")])).unwrap();
        assert!(!s.applies_automatically(&labels("local"), UpdateLevel::Minor));
        assert!(s.applies_automatically(&labels("local:minor"), UpdateLevel::Minor));
        let e = ActionSettings::from_keys("local", &keys(&[("THRESHOLD", "some")])).unwrap_err();
        assert_eq!(e.key, "THRESHOLD");
        assert!(e.to_string().contains("major-only"), "{e}");
    }
}
