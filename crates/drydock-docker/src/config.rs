//! How to reach an engine: a local socket, or a remote host over HTTP or HTTPS.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// The socket a watcher uses when it names neither a socket nor a host.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// The port of a remote engine when `PORT` is not set.
pub const DEFAULT_PORT: u16 = 2375;

/// How long a call may wait for the engine's answer when nothing else is configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// The name of the watcher used when none is configured.
pub const LOCAL_WATCHER: &str = "local";

/// The prefix of watcher variables.
const PREFIX: &str = "DD_WATCHER_";

/// The scheme of a remote engine's API.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Plain HTTP (`tcp://host:2375`).
    #[default]
    Http,
    /// HTTPS, optionally with a client certificate.
    Https,
}

impl Protocol {
    /// The scheme as written in configuration: `http` or `https`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protocol {
    type Err = String;

    /// Parses `http` or `https`, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "http" => Ok(Self::Http),
            "https" => Ok(Self::Https),
            other => Err(format!("expected http or https, got {other:?}")),
        }
    }
}

/// Where an engine listens and how to talk to it.
///
/// Either `socket` (a Unix socket, Docker's or Podman's) or `host` is used: when `host` is set the
/// engine is remote, reached at `protocol://host:port` (port [`DEFAULT_PORT`] when unset), with the
/// TLS files when the protocol is HTTPS. Without `ca_file` an HTTPS engine is verified against the
/// system's roots; without `cert_file` and `key_file` no client certificate is sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionConfig {
    /// Path of the engine's Unix socket (`/var/run/docker.sock`, `/run/podman/podman.sock`).
    pub socket: Option<PathBuf>,
    /// Host name or address of a remote engine.
    pub host: Option<String>,
    /// Port of a remote engine.
    pub port: Option<u16>,
    /// Scheme of a remote engine.
    pub protocol: Protocol,
    /// PEM file of the certificate authorities that sign the engine's certificate.
    pub ca_file: Option<PathBuf>,
    /// PEM file of the client certificate (mutual TLS).
    pub cert_file: Option<PathBuf>,
    /// PEM file of the client certificate's private key (mutual TLS).
    pub key_file: Option<PathBuf>,
    /// How long a call waits for the engine to answer (whole seconds; at least one).
    ///
    /// `stop_container` and `restart_container` add their stop timeout to it, and streams (pull
    /// progress, events, logs) are only bounded by it until the engine starts answering.
    pub timeout: Duration,
}

impl Default for ConnectionConfig {
    /// The local Docker socket, [`DEFAULT_TIMEOUT`].
    fn default() -> Self {
        Self {
            socket: Some(PathBuf::from(DEFAULT_SOCKET)),
            host: None,
            port: None,
            protocol: Protocol::Http,
            ca_file: None,
            cert_file: None,
            key_file: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// Why a watcher's connection settings are invalid. Every message names the variable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A variable has a value that cannot be used.
    #[error("{variable}: {reason}")]
    Invalid {
        /// The variable (`DD_WATCHER_LOCAL_PORT`).
        variable: String,
        /// What is wrong with its value.
        reason: String,
    },
    /// Two variables that exclude each other are both set.
    #[error("{first} and {second} cannot both be set")]
    Exclusive {
        /// The first variable.
        first: String,
        /// The second variable.
        second: String,
    },
    /// A variable is set without one it needs.
    #[error("{variable} requires {missing}")]
    Missing {
        /// The variable that is set.
        variable: String,
        /// The variable it needs.
        missing: String,
    },
}

/// Reads one watcher's variables.
struct WatcherEnv<'a> {
    name: String,
    env: &'a BTreeMap<String, String>,
}

impl WatcherEnv<'_> {
    /// The name of the variable `key` as the configuration spells it (`DD_WATCHER_LOCAL_HOST`).
    fn variable(&self, key: &str) -> String {
        format!("{PREFIX}{}_{key}", self.name)
    }

    /// The value of `key` and the variable it came from; empty values count as unset.
    fn get(&self, key: &str) -> Option<(String, &str)> {
        let variable = format!("{PREFIX}{}_{key}", self.name);
        let value = self.env.get(&variable)?.trim();
        (!value.is_empty()).then_some((variable, value))
    }

    fn path(&self, key: &str) -> Option<PathBuf> {
        self.get(key).map(|(_, value)| PathBuf::from(value))
    }
}

impl ConnectionConfig {
    /// The keys after `DD_WATCHER_{NAME}_` that say how to reach the engine.
    pub const KEYS: &'static [&'static str] = &[
        "SOCKET", "HOST", "PORT", "PROTOCOL", "CAFILE", "CERTFILE", "KEYFILE",
    ];

    /// The connection settings of watcher `name` from environment-style variables:
    /// `DD_WATCHER_{NAME}_SOCKET`, `_HOST`, `_PORT` (default 2375), `_PROTOCOL` (`http|https`),
    /// `_CAFILE`, `_CERTFILE` and `_KEYFILE` ([`Self::KEYS`]). `name` is matched in upper case. Without `SOCKET`
    /// and `HOST` the watcher uses [`DEFAULT_SOCKET`].
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the variable when `SOCKET` and `HOST` are both set, `PORT` is not a
    /// port, `PROTOCOL` is not `http` or `https`, `HOST` is not a bare host name, or a client
    /// certificate comes without its key (or the reverse).
    pub fn from_watcher_env(
        name: &str,
        env: &BTreeMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let vars = WatcherEnv {
            name: name.trim().to_ascii_uppercase(),
            env,
        };
        let socket = vars.get("SOCKET");
        let host = vars.get("HOST");
        if let (Some((first, _)), Some((second, _))) = (&socket, &host) {
            return Err(ConfigError::Exclusive {
                first: first.clone(),
                second: second.clone(),
            });
        }
        let port = match vars.get("PORT") {
            None => None,
            Some((variable, value)) => match value.parse::<u16>() {
                Ok(port) if port > 0 => Some(port),
                _ => {
                    return Err(ConfigError::Invalid {
                        variable,
                        reason: format!(
                            "expected a port number between 1 and 65535, got {value:?}"
                        ),
                    });
                }
            },
        };
        let protocol = match vars.get("PROTOCOL") {
            None => Protocol::Http,
            Some((variable, value)) => value
                .parse()
                .map_err(|reason| ConfigError::Invalid { variable, reason })?,
        };
        if let Some((variable, value)) = &host
            && (value.contains("://") || value.contains('/') || value.contains(char::is_whitespace))
        {
            return Err(ConfigError::Invalid {
                variable: variable.clone(),
                reason: format!(
                    "expected a host name or address without scheme or path, got {value:?}"
                ),
            });
        }
        let cert_file = vars.path("CERTFILE");
        let key_file = vars.path("KEYFILE");
        match (&cert_file, &key_file) {
            (Some(_), None) => {
                return Err(ConfigError::Missing {
                    variable: vars.variable("CERTFILE"),
                    missing: vars.variable("KEYFILE"),
                });
            }
            (None, Some(_)) => {
                return Err(ConfigError::Missing {
                    variable: vars.variable("KEYFILE"),
                    missing: vars.variable("CERTFILE"),
                });
            }
            _ => {}
        }
        let host = host.map(|(_, value)| value.to_owned());
        let socket = match (&socket, &host) {
            (Some((_, value)), _) => Some(PathBuf::from(value)),
            (None, Some(_)) => None,
            (None, None) => Some(PathBuf::from(DEFAULT_SOCKET)),
        };
        Ok(Self {
            socket,
            port: host.as_ref().map(|_| port.unwrap_or(DEFAULT_PORT)),
            host,
            protocol,
            ca_file: vars.path("CAFILE"),
            cert_file,
            key_file,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// The remote engine's address, `host:port` (IPv6 addresses in brackets), when `host` is set.
    pub fn address(&self) -> Option<String> {
        let host = self.host.as_deref()?;
        let port = self.port.unwrap_or(DEFAULT_PORT);
        if host.contains(':') && !host.starts_with('[') {
            Some(format!("[{host}]:{port}"))
        } else {
            Some(format!("{host}:{port}"))
        }
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
    fn defaults_to_the_local_socket() {
        let config = ConnectionConfig::from_watcher_env("local", &env(&[])).unwrap();
        assert_eq!(config, ConnectionConfig::default());
        assert_eq!(config.address(), None);
    }

    #[test]
    fn reads_a_socket() {
        let config = ConnectionConfig::from_watcher_env(
            "podman",
            &env(&[("DD_WATCHER_PODMAN_SOCKET", "/run/podman/podman.sock")]),
        )
        .unwrap();
        assert_eq!(
            config.socket,
            Some(PathBuf::from("/run/podman/podman.sock"))
        );
        assert_eq!(config.host, None);
    }

    #[test]
    fn reads_a_remote_host_with_tls() {
        let config = ConnectionConfig::from_watcher_env(
            "Remote",
            &env(&[
                ("DD_WATCHER_REMOTE_HOST", "10.0.0.5"),
                ("DD_WATCHER_REMOTE_PORT", "2376"),
                ("DD_WATCHER_REMOTE_PROTOCOL", "HTTPS"),
                ("DD_WATCHER_REMOTE_CAFILE", "/certs/ca.pem"),
                ("DD_WATCHER_REMOTE_CERTFILE", "/certs/cert.pem"),
                ("DD_WATCHER_REMOTE_KEYFILE", "/certs/key.pem"),
            ]),
        )
        .unwrap();
        assert_eq!(config.socket, None);
        assert_eq!(config.host.as_deref(), Some("10.0.0.5"));
        assert_eq!(config.port, Some(2376));
        assert_eq!(config.protocol, Protocol::Https);
        assert_eq!(config.ca_file, Some(PathBuf::from("/certs/ca.pem")));
        assert_eq!(config.cert_file, Some(PathBuf::from("/certs/cert.pem")));
        assert_eq!(config.key_file, Some(PathBuf::from("/certs/key.pem")));
        assert_eq!(config.address().as_deref(), Some("10.0.0.5:2376"));
    }

    #[test]
    fn port_defaults_to_2375() {
        let config = ConnectionConfig::from_watcher_env(
            "remote",
            &env(&[("DD_WATCHER_REMOTE_HOST", "docker.lan")]),
        )
        .unwrap();
        assert_eq!(config.port, Some(DEFAULT_PORT));
        assert_eq!(config.protocol, Protocol::Http);
        assert_eq!(config.address().as_deref(), Some("docker.lan:2375"));
    }

    #[test]
    fn ipv6_hosts_get_brackets() {
        let config =
            ConnectionConfig::from_watcher_env("v6", &env(&[("DD_WATCHER_V6_HOST", "fd00::1")]))
                .unwrap();
        assert_eq!(config.address().as_deref(), Some("[fd00::1]:2375"));
    }

    #[test]
    fn socket_and_host_exclude_each_other() {
        let err = ConnectionConfig::from_watcher_env(
            "local",
            &env(&[
                ("DD_WATCHER_LOCAL_SOCKET", "/var/run/docker.sock"),
                ("DD_WATCHER_LOCAL_HOST", "docker.lan"),
            ]),
        )
        .unwrap_err();
        assert_eq!(
            err,
            ConfigError::Exclusive {
                first: "DD_WATCHER_LOCAL_SOCKET".into(),
                second: "DD_WATCHER_LOCAL_HOST".into(),
            }
        );
        assert!(err.to_string().contains("DD_WATCHER_LOCAL_SOCKET"));
    }

    #[test]
    fn errors_name_the_variable() {
        for (pairs, variable) in [
            (
                vec![("DD_WATCHER_X_HOST", "h"), ("DD_WATCHER_X_PORT", "seventy")],
                "DD_WATCHER_X_PORT",
            ),
            (
                vec![("DD_WATCHER_X_HOST", "h"), ("DD_WATCHER_X_PORT", "0")],
                "DD_WATCHER_X_PORT",
            ),
            (vec![("DD_WATCHER_X_PORT", "70000")], "DD_WATCHER_X_PORT"),
            (
                vec![("DD_WATCHER_X_PROTOCOL", "ftp")],
                "DD_WATCHER_X_PROTOCOL",
            ),
            (
                vec![("DD_WATCHER_X_HOST", "tcp://h:2375")],
                "DD_WATCHER_X_HOST",
            ),
            (
                vec![("DD_WATCHER_X_CERTFILE", "/c.pem")],
                "DD_WATCHER_X_KEYFILE",
            ),
        ] {
            let err = ConnectionConfig::from_watcher_env("x", &env(&pairs)).unwrap_err();
            assert!(
                err.to_string().contains(variable),
                "{err} should name {variable}"
            );
        }
    }

    #[test]
    fn empty_values_are_unset() {
        let config = ConnectionConfig::from_watcher_env(
            "local",
            &env(&[
                ("DD_WATCHER_LOCAL_HOST", ""),
                ("DD_WATCHER_LOCAL_PORT", " "),
            ]),
        )
        .unwrap();
        assert_eq!(config, ConnectionConfig::default());
    }
}
