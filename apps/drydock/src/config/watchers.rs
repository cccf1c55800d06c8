//! The watchers: every `DD_WATCHER_{NAME}_{KEY}` variable checked against [`WATCHER_KEYS`], the
//! one table of watcher keys, before the watch service and the engine adapter read theirs.
//!
//! A typo must not pass silently: an unknown key stops start-up naming the variable and the keys
//! it could have meant, and a watcher that names no engine of its own is refused while the
//! default socket belongs to the `local` watcher (`DD_WATCHER_LOCALL_CRON` would otherwise watch
//! the same engine as `local` under another name, its skips and snoozes orphaned).

use std::collections::BTreeMap;

use anyhow::bail;
use drydock_docker::{ConnectionConfig, DEFAULT_SOCKET, LOCAL_WATCHER};
use drydock_watch::WatcherSettings;

const PREFIX: &str = "DD_WATCHER_";

/// How drydock treats a watcher key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Support {
    /// Read and used.
    Read,
    /// TS drydock's, not available in this version yet: accepted with a notice.
    Later,
}

/// Every key of `DD_WATCHER_{NAME}_*`: what it accepts, and whether this version reads it. A key
/// ending in `_` is a family (`AUTH_USER`, `IMGSET_WEB_IMAGE`).
pub(crate) const WATCHER_KEYS: &[(&str, &str, Support)] = &[
    (
        "SOCKET",
        "the engine's Unix socket (default /var/run/docker.sock)",
        Support::Read,
    ),
    (
        "HOST",
        "a remote engine's host name or address",
        Support::Read,
    ),
    (
        "PORT",
        "a remote engine's port (default 2375)",
        Support::Read,
    ),
    ("PROTOCOL", "http or https", Support::Read),
    (
        "CAFILE",
        "a PEM file of the CAs of a remote engine",
        Support::Read,
    ),
    ("CERTFILE", "a PEM client certificate", Support::Read),
    ("KEYFILE", "the client certificate's PEM key", Support::Read),
    (
        "CRON",
        "when to watch, a cron expression (default 0 * * * *)",
        Support::Read,
    ),
    (
        "JITTER",
        "a random delay per scheduled watch, milliseconds (default 60000)",
        Support::Read,
    ),
    (
        "WATCHBYDEFAULT",
        "true or false (default true)",
        Support::Read,
    ),
    ("WATCHALL", "true or false (default false)", Support::Read),
    ("WATCHEVENTS", "true or false (default true)", Support::Read),
    (
        "MAINTENANCE_WINDOW",
        "when automatic updates may run, a cron expression",
        Support::Read,
    ),
    ("MAINTENANCE_WINDOW_TZ", "UTC", Support::Read),
    ("AUTH_", "a remote engine's credentials", Support::Later),
    ("MATURITY_MODE", "a default maturity policy", Support::Later),
    (
        "MATURITY_MIN_AGE_DAYS",
        "a default maturity age",
        Support::Later,
    ),
    (
        "DISCOVERY_SETTLE_MS",
        "how long new containers settle",
        Support::Later,
    ),
    ("TAG_FAMILY", "a default tag family", Support::Later),
    ("TAG_PIN_INFO", "tag pin information", Support::Later),
    ("IMGSET_", "image sets", Support::Later),
];

/// The keys this version reads.
fn read_keys() -> impl Iterator<Item = &'static str> {
    WATCHER_KEYS
        .iter()
        .filter(|(_, _, s)| *s == Support::Read)
        .map(|(k, _, _)| *k)
}

/// A watcher and how to reach its engine.
pub(crate) type WatcherConfig = (WatcherSettings, ConnectionConfig);

/// The configured watchers with their connections, and notices of keys not available yet.
pub(crate) fn from_env(
    env: &BTreeMap<String, String>,
    local_watcher: bool,
) -> anyhow::Result<(Vec<WatcherConfig>, Vec<String>)> {
    // name → its variables, in order.
    let mut named: BTreeMap<String, Vec<(&str, &str)>> = BTreeMap::new();
    let mut notices = Vec::new();
    for variable in env.keys().filter(|k| k.starts_with(PREFIX)) {
        let rest = &variable[PREFIX.len()..];
        let Some((name, key)) = rest
            .split_once('_')
            .filter(|(n, k)| !n.is_empty() && !k.is_empty())
        else {
            bail!("{variable}: expected DD_WATCHER_{{NAME}}_{{KEY}}, the name without `_`");
        };
        let support = WATCHER_KEYS.iter().find_map(|(k, _, support)| {
            let family = k.ends_with('_') && key.starts_with(k);
            (*k == key || family).then_some(*support)
        });
        match support {
            Some(Support::Read) => {}
            Some(Support::Later) => {
                notices.push(format!(
                    "{variable} (watcher {key} settings are not available in this version yet)"
                ));
                continue;
            }
            None => bail!("{}", unknown_key(variable, name, key)),
        }
        named
            .entry(name.to_ascii_lowercase())
            .or_default()
            .push((variable.as_str(), key));
    }
    if named.is_empty() && local_watcher {
        named.insert(LOCAL_WATCHER.to_owned(), Vec::new());
    }
    let mut watchers: Vec<WatcherConfig> = Vec::new();
    for (name, variables) in &named {
        let own_engine = variables
            .iter()
            .any(|(_, key)| ["SOCKET", "HOST"].contains(key));
        if name != LOCAL_WATCHER
            && !own_engine
            && local_watcher
            && let Some((variable, key)) = variables.first()
        {
            let upper = name.to_ascii_uppercase();
            bail!(
                "{variable}: watcher `{name}` names no engine (DD_WATCHER_{upper}_SOCKET or _HOST), so it \
                 would watch the default socket {DEFAULT_SOCKET}, the `local` watcher's engine, under \
                 another name (skips and snoozes stored for `local` would not apply). Did you mean \
                 DD_WATCHER_LOCAL_{key}? To watch that engine as `{name}`, set \
                 DD_WATCHER_{upper}_SOCKET={DEFAULT_SOCKET} or DD_LOCAL_WATCHER=false"
            );
        }
        let settings = WatcherSettings::from_env(name, env)?;
        let connection = ConnectionConfig::from_watcher_env(name, env)?;
        if let Some((other, _)) = watchers.iter().find(|(_, c)| same_engine(c, &connection)) {
            bail!(
                "watchers `{}` and `{name}` watch the same engine ({}): configure it once",
                other.name,
                engine_of(&connection)
            );
        }
        watchers.push((settings, connection));
    }
    Ok((watchers, notices))
}

fn engine_of(connection: &ConnectionConfig) -> String {
    connection.address().unwrap_or_else(|| {
        connection
            .socket
            .as_ref()
            .map(|s| s.display().to_string())
            .unwrap_or_default()
    })
}

fn same_engine(a: &ConnectionConfig, b: &ConnectionConfig) -> bool {
    match (a.address(), b.address()) {
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(&b),
        (None, None) => a.socket == b.socket,
        _ => false,
    }
}

/// The refusal of an unknown key, with the keys it could have meant.
fn unknown_key(variable: &str, name: &str, key: &str) -> String {
    let upper = name.to_ascii_uppercase();
    let mut near: Vec<(usize, &str)> = read_keys()
        .map(|k| (strsim::levenshtein(k, key), k))
        .filter(|(d, k)| *d <= 2 || k.starts_with(key) || key.starts_with(k))
        .collect();
    near.sort();
    let known: Vec<&str> = read_keys().collect();
    let meant = match near.as_slice() {
        [] => String::new(),
        near => format!(
            "; did you mean {}?",
            near.iter()
                .map(|(_, k)| format!("DD_WATCHER_{upper}_{k}"))
                .collect::<Vec<_>>()
                .join(" or ")
        ),
    };
    format!(
        "{variable}: `{key}` is not a watcher setting{meant} Watcher settings: {}",
        known.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn refused(pairs: &[(&str, &str)]) -> String {
        format!("{:#}", from_env(&env(pairs), true).unwrap_err())
    }

    #[test]
    fn the_table_is_exactly_the_keys_the_watch_service_and_the_engine_adapter_read() {
        let table: BTreeSet<&str> = read_keys().collect();
        let read: BTreeSet<&str> = WatcherSettings::KEYS
            .iter()
            .chain(ConnectionConfig::KEYS)
            .copied()
            .collect();
        assert_eq!(table, read);
    }

    #[test]
    fn an_unknown_key_stops_start_up_naming_it_and_what_it_could_have_meant() {
        let message = refused(&[("DD_WATCHER_LOCAL_CRN", "x")]);
        assert!(message.starts_with("DD_WATCHER_LOCAL_CRN: "), "{message}");
        assert!(
            message.contains("did you mean DD_WATCHER_LOCAL_CRON?"),
            "{message}"
        );
        let message = refused(&[("DD_WATCHER_LOCAL_WATCHAL", "true")]);
        assert!(message.contains("DD_WATCHER_LOCAL_WATCHALL"), "{message}");
        let message = refused(&[("DD_WATCHER_LOCAL_COLOUR", "red")]);
        assert!(!message.contains("did you mean"), "{message}");
        assert!(
            message.contains("Watcher settings: SOCKET, HOST"),
            "{message}"
        );
        assert!(refused(&[("DD_WATCHER_LOCAL", "x")]).contains("DD_WATCHER_LOCAL:"));
    }

    #[test]
    fn a_watcher_without_its_own_engine_is_refused_while_local_owns_the_default_socket() {
        let message = refused(&[("DD_WATCHER_LOCALL_CRON", "*/5 * * * *")]);
        assert!(message.starts_with("DD_WATCHER_LOCALL_CRON: "), "{message}");
        assert!(message.contains("DD_WATCHER_LOCAL_CRON"), "{message}");
        assert!(message.contains("DD_LOCAL_WATCHER=false"), "{message}");
        // Named explicitly, or with the local watcher turned off, it is that engine's watcher.
        let (watchers, _) = from_env(
            &env(&[
                ("DD_WATCHER_DOCKER_SOCKET", DEFAULT_SOCKET),
                ("DD_WATCHER_DOCKER_CRON", "*/5 * * * *"),
            ]),
            true,
        )
        .unwrap();
        assert_eq!(watchers[0].0.name, "docker");
        let (watchers, _) =
            from_env(&env(&[("DD_WATCHER_DOCKER_CRON", "*/5 * * * *")]), false).unwrap();
        assert_eq!(watchers[0].0.name, "docker");
    }

    #[test]
    fn two_watchers_of_one_engine_are_refused() {
        let message = refused(&[
            ("DD_WATCHER_LOCAL_CRON", "0 * * * *"),
            ("DD_WATCHER_AGAIN_SOCKET", DEFAULT_SOCKET),
        ]);
        assert!(
            message.contains(
                "watchers `again` and `local` watch the same engine (/var/run/docker.sock)"
            ),
            "{message}"
        );
        let message = refused(&[
            ("DD_WATCHER_A_HOST", "nas.lan"),
            ("DD_WATCHER_B_HOST", "NAS.lan"),
            ("DD_WATCHER_B_PORT", "2375"),
        ]);
        assert!(
            message.contains("`a` and `b` watch the same engine (NAS.lan:2375)"),
            "{message}"
        );
    }

    #[test]
    fn keys_of_later_versions_are_accepted_with_a_notice() {
        let (watchers, notices) = from_env(
            &env(&[
                ("DD_WATCHER_LOCAL_CRON", "0 * * * *"),
                ("DD_WATCHER_LOCAL_AUTH_USER", "u"),
                ("DD_WATCHER_LOCAL_IMGSET_WEB_IMAGE", "nginx"),
            ]),
            true,
        )
        .unwrap();
        assert_eq!(watchers.len(), 1);
        assert_eq!(notices.len(), 2, "{notices:?}");
        assert!(notices[0].contains("DD_WATCHER_LOCAL_AUTH_USER"));
    }

    #[test]
    fn without_watcher_variables_there_is_the_local_one_unless_turned_off() {
        let (watchers, _) = from_env(&env(&[]), true).unwrap();
        assert_eq!(watchers[0].0.name, "local");
        assert_eq!(watchers[0].1, ConnectionConfig::default());
        assert!(from_env(&env(&[]), false).unwrap().0.is_empty());
    }
}
