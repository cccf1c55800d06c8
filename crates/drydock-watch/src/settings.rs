//! A watcher's scheduling settings, from `DD_WATCHER_{NAME}_*`.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use croner::Cron;

/// How a watcher decides what to watch and when.
#[derive(Clone, Debug)]
pub struct WatcherSettings {
    /// The watcher's name (`local`, `nas`).
    pub name: String,
    /// When to run a full watch (`CRON`, default `0 * * * *`: hourly).
    pub cron: Schedule,
    /// A random delay added to each scheduled watch, up to this (`JITTER`, milliseconds, default
    /// 60000), so many drydocks do not hit a registry at the same second.
    pub jitter: Duration,
    /// Watch containers without a `dd.watch` label (`WATCHBYDEFAULT`, default true).
    pub watch_by_default: bool,
    /// Watch stopped containers too (`WATCHALL`, default false).
    pub watch_all: bool,
    /// Follow the engine's events (`WATCHEVENTS`, default true).
    pub watch_events: bool,
    /// When automatic actions may run (`MAINTENANCE_WINDOW`, a cron matched per minute, in UTC).
    pub maintenance_window: Option<Schedule>,
    /// How many containers are checked at once.
    pub concurrency: usize,
}

impl WatcherSettings {
    /// Defaults for a watcher named `name`.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            cron: Schedule::hourly(),
            jitter: Duration::from_millis(60_000),
            watch_by_default: true,
            watch_all: false,
            watch_events: true,
            maintenance_window: None,
            // Containers of one repository share its registry answers and each registry bounds
            // its own requests in flight, so this bounds engine calls, not registry load.
            concurrency: 32,
        }
    }

    /// The keys after `DD_WATCHER_{NAME}_` this type reads.
    pub const KEYS: &'static [&'static str] = &[
        "CRON",
        "JITTER",
        "WATCHBYDEFAULT",
        "WATCHALL",
        "WATCHEVENTS",
        "MAINTENANCE_WINDOW",
        "MAINTENANCE_WINDOW_TZ",
    ];

    /// Reads the watcher's scheduling keys ([`Self::KEYS`]) from the environment; keys of the
    /// connection (socket, host, TLS) are left to the engine adapter. Errors name the variable and
    /// what it accepts.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use drydock_watch::WatcherSettings;
    ///
    /// let env = BTreeMap::from([
    ///     ("DD_WATCHER_LOCAL_CRON".to_owned(), "*/15 * * * *".to_owned()),
    ///     ("DD_WATCHER_LOCAL_WATCHALL".to_owned(), "true".to_owned()),
    /// ]);
    /// let settings = WatcherSettings::from_env("local", &env).unwrap();
    /// assert!(settings.watch_all);
    /// assert!(WatcherSettings::from_env("local", &BTreeMap::from([
    ///     ("DD_WATCHER_LOCAL_CRON".to_owned(), "every hour".to_owned()),
    /// ])).is_err());
    /// ```
    pub fn from_env(name: &str, env: &BTreeMap<String, String>) -> Result<Self, SettingsError> {
        let upper = name.to_ascii_uppercase();
        let lookup = |key: &str| -> Option<(String, String)> {
            let variable = format!("DD_WATCHER_{upper}_{key}");
            env.get(&variable)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .map(|v| (variable, v))
        };
        let boolean = |key: &str, default: bool| -> Result<bool, SettingsError> {
            match lookup(key) {
                None => Ok(default),
                Some((variable, value)) => {
                    drydock_core::discovery::parse_bool(&value).ok_or(SettingsError::Invalid {
                        variable,
                        value,
                        accepted: "true or false",
                    })
                }
            }
        };
        let mut settings = Self::new(&name.to_ascii_lowercase());
        if let Some((variable, value)) = lookup("CRON") {
            settings.cron = Schedule::parse(&value).map_err(|_| SettingsError::Invalid {
                variable,
                value,
                accepted: "a cron expression such as `0 * * * *`",
            })?;
        }
        if let Some((variable, value)) = lookup("JITTER") {
            let ms: u64 = value.parse().map_err(|_| SettingsError::Invalid {
                variable,
                value,
                accepted: "a number of milliseconds",
            })?;
            settings.jitter = Duration::from_millis(ms);
        }
        settings.watch_by_default = boolean("WATCHBYDEFAULT", true)?;
        settings.watch_all = boolean("WATCHALL", false)?;
        settings.watch_events = boolean("WATCHEVENTS", true)?;
        if let Some((variable, value)) = lookup("MAINTENANCE_WINDOW") {
            settings.maintenance_window =
                Some(Schedule::parse(&value).map_err(|_| SettingsError::Invalid {
                    variable,
                    value,
                    accepted: "a cron expression such as `* 2-4 * * *`",
                })?);
        }
        if let Some((variable, value)) = lookup("MAINTENANCE_WINDOW_TZ")
            && !value.eq_ignore_ascii_case("utc")
        {
            return Err(SettingsError::Invalid {
                variable,
                value,
                accepted: "UTC",
            });
        }
        Ok(settings)
    }

    /// Whether automatic actions may run at `now` (always, without a maintenance window).
    pub fn maintenance_window_open(&self, now: DateTime<Utc>) -> bool {
        self.maintenance_window
            .as_ref()
            .is_none_or(|window| window.matches_minute(now))
    }
}

/// A cron schedule (five fields, minute precision; six with seconds).
#[derive(Clone, Debug)]
pub struct Schedule {
    text: String,
    cron: Cron,
}

impl Schedule {
    /// Every hour on the hour.
    pub fn hourly() -> Self {
        match Self::parse("0 * * * *") {
            Ok(schedule) => schedule,
            // The literal above is valid; this arm only satisfies the type checker.
            Err(_) => unreachable!("a valid literal cron expression"),
        }
    }

    /// Parses a cron expression.
    pub fn parse(text: &str) -> Result<Self, croner::errors::CronError> {
        Ok(Self {
            text: text.to_owned(),
            cron: Cron::from_str(text)?,
        })
    }

    /// The next time strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&after, false).ok()
    }

    /// Whether the minute of `at` matches (seconds ignored).
    pub fn matches_minute(&self, at: DateTime<Utc>) -> bool {
        use chrono::Timelike;
        let minute = at
            .with_second(0)
            .and_then(|t| t.with_nanosecond(0))
            .unwrap_or(at);
        self.cron.is_time_matching(&minute).unwrap_or(false)
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// A watcher setting that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// The value is not one the variable accepts.
    #[error("{variable}=`{value}` is invalid: expected {accepted}")]
    Invalid {
        /// The environment variable.
        variable: String,
        /// Its value.
        value: String,
        /// What it accepts.
        accepted: &'static str,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_and_overrides() {
        let s = WatcherSettings::from_env("local", &BTreeMap::new()).unwrap();
        assert!(s.watch_by_default && !s.watch_all && s.watch_events);
        assert_eq!(s.cron.as_str(), "0 * * * *");
        assert_eq!(s.jitter, Duration::from_secs(60));
        let s = WatcherSettings::from_env(
            "nas",
            &env(&[
                ("DD_WATCHER_NAS_WATCHBYDEFAULT", "false"),
                ("DD_WATCHER_NAS_WATCHALL", "true"),
                ("DD_WATCHER_NAS_JITTER", "0"),
                ("DD_WATCHER_NAS_WATCHEVENTS", "FALSE"),
            ]),
        )
        .unwrap();
        assert!(!s.watch_by_default && s.watch_all && !s.watch_events);
        assert_eq!(s.jitter, Duration::ZERO);
    }

    #[test]
    fn invalid_values_name_the_variable() {
        for (key, value) in [
            ("DD_WATCHER_LOCAL_CRON", "hourly please"),
            ("DD_WATCHER_LOCAL_JITTER", "-5"),
            ("DD_WATCHER_LOCAL_WATCHALL", "perhaps"),
            ("DD_WATCHER_LOCAL_MAINTENANCE_WINDOW", "61 * * * *"),
            ("DD_WATCHER_LOCAL_MAINTENANCE_WINDOW_TZ", "Mars/Olympus"),
        ] {
            let err = WatcherSettings::from_env("local", &env(&[(key, value)])).unwrap_err();
            assert!(err.to_string().contains(key), "{err}");
        }
    }

    #[test]
    fn schedules_and_maintenance_windows() {
        let at = |h, m, s| Utc.with_ymd_and_hms(2026, 3, 1, h, m, s).single().unwrap();
        let hourly = Schedule::hourly();
        assert_eq!(hourly.next_after(at(10, 15, 0)), Some(at(11, 0, 0)));
        let s = WatcherSettings::from_env(
            "local",
            &env(&[("DD_WATCHER_LOCAL_MAINTENANCE_WINDOW", "* 2-3 * * *")]),
        )
        .unwrap();
        assert!(s.maintenance_window_open(at(2, 30, 45)));
        assert!(!s.maintenance_window_open(at(4, 0, 0)));
        assert!(WatcherSettings::new("x").maintenance_window_open(at(4, 0, 0)));
    }
}
