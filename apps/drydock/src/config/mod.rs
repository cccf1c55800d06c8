//! Configuration from `DD_*` environment variables, as drydock reads them: the one reader of
//! the environment.
//!
//! `WUD_*` variables are accepted as aliases of the same `DD_*` names (a `DD_*` value wins), so
//! What's Up Docker users keep their configuration, and `X__FILE=/path` reads the value of `X`
//! from a file (Docker secrets): both happen once, in [`env`], before anything reads a variable.
//! An unknown `DD_*` variable, or an invalid value, stops start-up with a message naming the
//! variable (as the user spelled it) and what it accepts.

mod env;
mod triggers;
mod watchers;

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use drydock_accounts::BasicUser;
use drydock_actions::ActionSettings;
use drydock_core::compat::Compat;
use drydock_docker::ConnectionConfig;
use drydock_notify::Trigger;
use drydock_registry::ClientOptions;
use drydock_registry::providers::{Provider, providers_from_env};
use drydock_watch::WatcherSettings;

use self::env::Environment;

/// Everything drydock is configured with.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) port: u16,
    pub(crate) log_level: String,
    pub(crate) log_json: bool,
    pub(crate) store_path: PathBuf,
    pub(crate) users: Vec<BasicUser>,
    pub(crate) anonymous: bool,
    pub(crate) feature_container_actions: bool,
    pub(crate) feature_delete: bool,
    pub(crate) cors_origin: Option<String>,
    /// `DD_SERVER_TLS_CERT` and `DD_SERVER_TLS_KEY` when `DD_SERVER_TLS_ENABLED=true`.
    pub(crate) tls: Option<(PathBuf, PathBuf)>,
    pub(crate) metrics_auth: bool,
    /// `DD_SERVER_ENABLED`: serve the HTTP API (default true).
    pub(crate) server_enabled: bool,
    /// `DD_PROMETHEUS_ENABLED`: serve `/metrics` (default true).
    pub(crate) prometheus_enabled: bool,
    /// `DD_COMPAT`: drydock's names (default) or What's Up Docker's (`wud`) for metrics and MQTT.
    pub(crate) compat: Compat,
    /// Whether any variable was given with What's Up Docker's `WUD_` name.
    pub(crate) wud_names: bool,
    pub(crate) watchers: Vec<(WatcherSettings, ConnectionConfig)>,
    pub(crate) registries: Vec<Provider>,
    /// The registry client's settings (`DD_OUTBOUND_HTTP_TIMEOUT_MS`).
    pub(crate) registry_options: ClientOptions,
    /// The notification triggers (taken by the notification service at start-up).
    pub(crate) triggers: Vec<Trigger>,
    /// The Docker and Docker Compose actions.
    pub(crate) actions: Vec<ActionSettings>,
    /// Variables accepted but not used by this version, each with why.
    pub(crate) ignored: Vec<String>,
}

/// Server-level variables and what they accept.
const SERVER_KEYS: &[(&str, &str)] = &[
    ("DD_SERVER_PORT", "a TCP port (default 3000)"),
    ("DD_SERVER_ENABLED", "true or false"),
    ("DD_SERVER_CORS_ENABLED", "true or false"),
    ("DD_SERVER_CORS_ORIGIN", "an origin or *"),
    ("DD_SERVER_CORS_METHODS", "HTTP methods, comma-separated"),
    (
        "DD_SERVER_FEATURE_CONTAINERACTIONS",
        "true or false (default true)",
    ),
    ("DD_SERVER_FEATURE_DELETE", "true or false (default true)"),
    ("DD_SERVER_METRICS_AUTH", "true or false (default true)"),
    ("DD_SERVER_TLS_ENABLED", "true or false"),
    ("DD_SERVER_TLS_CERT", "a PEM certificate chain file"),
    ("DD_SERVER_TLS_KEY", "a PEM private key file"),
    ("DD_LOG_LEVEL", "error, warn, info, debug or trace"),
    ("DD_LOG_FORMAT", "text or json"),
    ("DD_STORE_PATH", "a directory"),
    ("DD_ANONYMOUS_AUTH_CONFIRM", "true or false"),
    ("DD_AUTH_ANONYMOUS_CONFIRM", "true or false"),
    ("DD_PROMETHEUS_ENABLED", "true or false"),
    ("DD_LOCAL_WATCHER", "true or false"),
    ("DD_PUBLIC_URL", "a URL"),
    ("DD_SERVER_NAME", "a name"),
    ("DD_HOOKS_ENABLED", "true or false (default false)"),
    (
        "DD_OUTBOUND_HTTP_TIMEOUT_MS",
        "milliseconds one registry request may take, body included (default 30000)",
    ),
    (
        "DD_COMPAT",
        "wud or drydock (default): whose names /metrics and MQTT triggers use",
    ),
];

/// Families whose capability lands later: accepted, announced as ignored.
const LATER: &[(&str, &str)] = &[
    (
        "DD_ACTION_",
        "action triggers other than docker and dockercompose",
    ),
    ("DD_SECURITY_", "security scanning"),
];

fn boolean(env: &BTreeMap<String, String>, key: &str, default: bool) -> anyhow::Result<bool> {
    match env.get(key).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(value) => drydock_core::discovery::parse_bool(value)
            .with_context(|| format!("{key}=`{value}` is invalid: expected true or false")),
    }
}

impl Config {
    /// Reads the configuration from the process environment.
    pub(crate) fn from_process_env() -> anyhow::Result<Self> {
        Self::from_env(std::env::vars().collect())
    }

    /// Reads the configuration from a map of environment variables.
    pub(crate) fn from_env(raw: BTreeMap<String, String>) -> anyhow::Result<Self> {
        let environment = Environment::read(raw)?;
        Self::read(&environment.vars)
            .map(|config| Self {
                wud_names: environment.uses_wud_names(),
                ..config
            })
            .map_err(|e| anyhow::anyhow!(environment.as_set(&format!("{e:#}"))))
    }

    fn read(env: &BTreeMap<String, String>) -> anyhow::Result<Self> {
        let mut ignored = Vec::new();
        let mut users: BTreeMap<String, (Option<String>, Option<String>)> = BTreeMap::new();
        for key in env.keys() {
            if SERVER_KEYS.iter().any(|(k, _)| k == key)
                || key.starts_with("DD_WATCHER_")
                || key.starts_with("DD_REGISTRY_")
                || key.starts_with("DD_NOTIFICATION_")
                || key.starts_with("DD_TRIGGER_")
                || key.starts_with("DD_ACTION_DOCKER_")
                || key.starts_with("DD_ACTION_DOCKERCOMPOSE_")
            {
                continue;
            }
            if let Some(rest) = key.strip_prefix("DD_AUTH_BASIC_") {
                let (name, field) = rest.rsplit_once('_').with_context(|| {
                    format!("{key}: expected DD_AUTH_BASIC_{{NAME}}_USER or _HASH")
                })?;
                let entry = users.entry(name.to_ascii_lowercase()).or_default();
                match field {
                    "USER" => entry.0 = env.get(key).cloned(),
                    "HASH" => entry.1 = env.get(key).cloned(),
                    _ => bail!(
                        "{key}: unknown key {field}; DD_AUTH_BASIC_{{NAME}}_ accepts USER and HASH"
                    ),
                }
                continue;
            }
            if let Some((_, what)) = LATER.iter().find(|(prefix, _)| key.starts_with(prefix)) {
                ignored.push(format!(
                    "{key} ({what} are not available in this version yet)"
                ));
                continue;
            }
            let accepted: Vec<&str> = SERVER_KEYS.iter().map(|(k, _)| *k).collect();
            bail!(
                "{key} is not a drydock variable; accepted: {}, DD_WATCHER_*, DD_REGISTRY_*, DD_AUTH_BASIC_*",
                accepted.join(", ")
            );
        }

        let port = match env.get("DD_SERVER_PORT") {
            None => 3000,
            Some(v) => v
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .with_context(|| {
                    format!("DD_SERVER_PORT=`{v}` is invalid: expected a TCP port (1-65535)")
                })?,
        };
        let log_level = env
            .get("DD_LOG_LEVEL")
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_else(|| "info".into());
        if !["error", "warn", "info", "debug", "trace"].contains(&log_level.as_str()) {
            bail!(
                "DD_LOG_LEVEL=`{log_level}` is invalid: expected error, warn, info, debug or trace"
            );
        }
        let log_json = match env
            .get("DD_LOG_FORMAT")
            .map(|v| v.trim().to_ascii_lowercase())
        {
            None => false,
            Some(f) if f == "text" => false,
            Some(f) if f == "json" => true,
            Some(f) => bail!("DD_LOG_FORMAT=`{f}` is invalid: expected text or json"),
        };
        let users = users
            .into_iter()
            .map(|(name, (user, hash))| {
                let user = user.with_context(|| {
                    format!(
                        "DD_AUTH_BASIC_{}_USER is missing",
                        name.to_ascii_uppercase()
                    )
                })?;
                let hash = hash.with_context(|| {
                    format!(
                        "DD_AUTH_BASIC_{}_HASH is missing",
                        name.to_ascii_uppercase()
                    )
                })?;
                BasicUser::new(&user, &hash)
                    .with_context(|| format!("DD_AUTH_BASIC_{}_HASH", name.to_ascii_uppercase()))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let anonymous = boolean(env, "DD_ANONYMOUS_AUTH_CONFIRM", false)?
            || boolean(env, "DD_AUTH_ANONYMOUS_CONFIRM", false)?;
        let cors_origin = if boolean(env, "DD_SERVER_CORS_ENABLED", false)? {
            Some(env.get("DD_SERVER_CORS_ORIGIN").cloned().with_context(|| {
                "DD_SERVER_CORS_ORIGIN is required when DD_SERVER_CORS_ENABLED=true (an origin, or *)"
            })?)
        } else {
            None
        };

        let tls = if boolean(env, "DD_SERVER_TLS_ENABLED", false)? {
            let file = |key: &str| -> anyhow::Result<PathBuf> {
                let path = env.get(key).map(PathBuf::from).with_context(|| {
                    format!("{key} is required when DD_SERVER_TLS_ENABLED=true")
                })?;
                anyhow::ensure!(
                    path.is_file(),
                    "{key}={} is not a readable file",
                    path.display()
                );
                Ok(path)
            };
            Some((file("DD_SERVER_TLS_CERT")?, file("DD_SERVER_TLS_KEY")?))
        } else {
            None
        };
        let (watchers, notices) = watchers::from_env(env, boolean(env, "DD_LOCAL_WATCHER", true)?)?;
        ignored.extend(notices);
        let compat = match env
            .get("DD_COMPAT")
            .map(|v| v.trim().to_ascii_lowercase())
            .as_deref()
        {
            None | Some("" | "drydock" | "dd") => Compat::Drydock,
            Some("wud") => Compat::Wud,
            Some(other) => bail!("DD_COMPAT=`{other}` is invalid: expected wud or drydock"),
        };
        let registries = providers_from_env(env)?;
        let registry_options = ClientOptions::from_env(env)?;
        let (triggers, notices) = triggers::from_env(env, compat)?;
        let actions = ActionSettings::all_from_env(env)?;
        ignored.extend(notices);
        Ok(Self {
            port,
            log_level,
            log_json,
            store_path: env
                .get("DD_STORE_PATH")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("./data")),
            users,
            anonymous,
            feature_container_actions: boolean(env, "DD_SERVER_FEATURE_CONTAINERACTIONS", true)?,
            feature_delete: boolean(env, "DD_SERVER_FEATURE_DELETE", true)?,
            cors_origin,
            tls,
            metrics_auth: boolean(env, "DD_SERVER_METRICS_AUTH", true)?,
            server_enabled: boolean(env, "DD_SERVER_ENABLED", true)?,
            prometheus_enabled: boolean(env, "DD_PROMETHEUS_ENABLED", true)?,
            compat,
            wud_names: false,
            watchers,
            registries,
            registry_options,
            triggers,
            actions,
            ignored,
        })
    }
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
    fn compat_switch_selects_whats_up_dockers_names() {
        let c = Config::from_env(BTreeMap::new()).unwrap();
        assert_eq!(c.compat, Compat::Drydock);
        let c = Config::from_env(env(&[("DD_COMPAT", "WUD")])).unwrap();
        assert_eq!(c.compat, Compat::Wud);
        let c = Config::from_env(env(&[("WUD_COMPAT", "wud")])).unwrap();
        assert_eq!(c.compat, Compat::Wud);
    }

    #[test]
    fn defaults() {
        let c = Config::from_env(BTreeMap::new()).unwrap();
        assert_eq!(c.port, 3000);
        assert_eq!(c.store_path, PathBuf::from("./data"));
        assert!(!c.anonymous && c.users.is_empty());
        assert!(c.feature_container_actions && c.feature_delete);
        assert_eq!(c.watchers.len(), 1);
        assert_eq!(c.watchers[0].0.name, "local");
    }

    #[test]
    fn the_outbound_timeout_reaches_the_registry_client() {
        let c = Config::from_env(env(&[("DD_OUTBOUND_HTTP_TIMEOUT_MS", "2500")])).unwrap();
        assert_eq!(
            c.registry_options.request_timeout,
            std::time::Duration::from_millis(2500)
        );
        let c = Config::from_env(env(&[("WUD_OUTBOUND_HTTP_TIMEOUT_MS", "4000")])).unwrap();
        assert_eq!(
            c.registry_options.request_timeout,
            std::time::Duration::from_secs(4)
        );
        let default = Config::from_env(env(&[])).unwrap();
        assert_eq!(
            default.registry_options.request_timeout,
            std::time::Duration::from_secs(30)
        );
    }

    #[test]
    fn unknown_and_invalid_variables_stop_start_up_naming_them() {
        for (key, value, mention) in [
            ("DD_SERVER_PROT", "3000", "DD_SERVER_PROT"),
            ("DD_SERVER_PORT", "http", "DD_SERVER_PORT"),
            ("DD_SERVER_PORT", "70000", "DD_SERVER_PORT"),
            ("DD_LOG_LEVEL", "loud", "DD_LOG_LEVEL"),
            ("DD_LOG_FORMAT", "xml", "DD_LOG_FORMAT"),
            (
                "DD_OUTBOUND_HTTP_TIMEOUT_MS",
                "30s",
                "DD_OUTBOUND_HTTP_TIMEOUT_MS",
            ),
            ("DD_COMPAT", "wud8", "DD_COMPAT"),
            (
                "DD_SERVER_FEATURE_DELETE",
                "maybe",
                "DD_SERVER_FEATURE_DELETE",
            ),
            (
                "DD_WATCHER_LOCAL_CRON",
                "sometimes",
                "DD_WATCHER_LOCAL_CRON",
            ),
            ("DD_AUTH_BASIC_JOHN_USER", "john", "DD_AUTH_BASIC_JOHN_HASH"),
            ("DD_SERVER_CORS_ENABLED", "true", "DD_SERVER_CORS_ORIGIN"),
            ("DD_SERVER_TLS_ENABLED", "true", "DD_SERVER_TLS_CERT"),
            (
                "DD_SERVER_TLS_CERTIFICATE",
                "/x.pem",
                "DD_SERVER_TLS_CERTIFICATE",
            ),
            ("DD_WATCHER_LOCAL_CRN", "x", "DD_WATCHER_LOCAL_CRN"),
            (
                "DD_WATCHER_LOCALL_CRON",
                "* * * * *",
                "DD_WATCHER_LOCALL_CRON",
            ),
            ("WUD_WATCHER_LOCAL_CRON", "often", "WUD_WATCHER_LOCAL_CRON"),
            (
                "WUD_REGISTRY_HUB_X_INSECURE",
                "nope",
                "WUD_REGISTRY_HUB_X_INSECURE",
            ),
        ] {
            let err = Config::from_env(env(&[(key, value)])).unwrap_err();
            assert!(
                format!("{err:#}").contains(mention),
                "{key}={value}: {err:#}"
            );
        }
    }

    #[test]
    fn wud_variables_are_aliases_and_dd_wins() {
        let c = Config::from_env(env(&[("WUD_SERVER_PORT", "4000")])).unwrap();
        assert_eq!(c.port, 4000);
        let c = Config::from_env(env(&[
            ("WUD_SERVER_PORT", "4000"),
            ("DD_SERVER_PORT", "5000"),
        ]))
        .unwrap();
        assert_eq!(c.port, 5000);
    }

    #[test]
    fn later_families_are_ignored_with_a_notice() {
        let c = Config::from_env(env(&[
            ("DD_NOTIFICATION_KAFKA_ONE_BROKERS", "x"),
            ("DD_ACTION_DOCKER_LOCAL_PRUNE", "true"),
        ]))
        .unwrap();
        assert!(c.tls.is_none());
        assert_eq!(c.ignored.len(), 1, "{:?}", c.ignored);
        assert_eq!(
            c.actions.len(),
            1,
            "Docker actions are configured, not ignored"
        );
        assert!(c.ignored.iter().any(|n| n.contains("kafka.one")));
    }

    #[test]
    fn notification_triggers_with_legacy_names() {
        let c = Config::from_env(env(&[
            ("DD_NOTIFICATION_NTFY_ONE_TOPIC", "updates"),
            ("DD_NOTIFICATION_NTFY_ONE_THRESHOLD", "minor"),
            ("DD_TRIGGER_NTFY_ONE_TOPIC", "legacy-loses"),
            (
                "DD_TRIGGER_DISCORD_TEAM_URL",
                "https://discord.example/api/webhooks/1/x",
            ),
        ]))
        .unwrap();
        let ids: Vec<String> = c
            .triggers
            .iter()
            .map(|t| t.settings().id.to_string())
            .collect();
        assert_eq!(ids, ["discord.team", "ntfy.one"]);
        let command = Config::from_env(env(&[(
            "DD_NOTIFICATION_COMMAND_LOG_CMD",
            "curl -H 'X-Key: s3cr3t' x",
        )]))
        .unwrap();
        let shown = command.triggers[0].describe().to_string();
        assert!(
            shown.contains("[REDACTED]") && !shown.contains("s3cr3t"),
            "{shown}"
        );
        let ntfy = c
            .triggers
            .iter()
            .find(|t| t.settings().id.kind == "ntfy")
            .unwrap();
        assert_eq!(ntfy.describe()["configuration"]["topic"], "updates");
        for (key, value) in [
            ("DD_NOTIFICATION_NTFY_X_SIMPLEBODY", "${oops"),
            ("DD_NOTIFICATION_GOTIFY_X_URL", "http://g"),
        ] {
            let err = Config::from_env(env(&[(key, value)])).unwrap_err();
            assert!(format!("{err:#}").contains(".x"), "{key}: {err:#}");
        }
    }
}
