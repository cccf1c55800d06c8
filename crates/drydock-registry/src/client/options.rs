//! The client's tunables: limits, timeouts, retries, request rates.

use std::collections::BTreeMap;
use std::time::Duration;

/// Tunables of the client. The defaults suit public registries.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Time allowed to connect.
    pub connect_timeout: Duration,
    /// Time allowed for one whole request, body included.
    pub request_timeout: Duration,
    /// Requests in flight per public registry.
    pub max_concurrency: usize,
    /// Requests in flight per self-hosted registry: more, because a watch cycle's length is
    /// its requests times the round trip divided by this, and nobody else's quota is at stake.
    pub self_hosted_max_concurrency: usize,
    /// Request rate towards public registries (Docker Hub, GHCR, Quay, ...), which throttle.
    pub public_rate: Rate,
    /// Request rate towards self-hosted registries (a configured URL, or loopback).
    pub self_hosted_rate: Rate,
    /// Retries after a `429`, `503`, server error or connection failure.
    pub max_retries: u32,
    /// The first wait before a retry when the registry names none; each further retry waits
    /// twice as long, up to 30 s.
    pub retry_backoff: Duration,
    /// The longest `Retry-After` honoured; longer waits give up with `RateLimited`.
    pub max_retry_after: Duration,
    /// The largest response body read, in bytes.
    pub max_body_bytes: usize,
    /// The most tag-list pages followed.
    pub max_tag_pages: usize,
    /// The most tags kept for one repository.
    pub max_tags: usize,
    /// The `User-Agent` sent.
    pub user_agent: String,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_concurrency: 8,
            self_hosted_max_concurrency: 32,
            public_rate: Rate {
                per_second: 10.0,
                burst: 30.0,
            },
            self_hosted_rate: Rate {
                per_second: 500.0,
                burst: 500.0,
            },
            max_retries: 3,
            retry_backoff: Duration::from_secs(1),
            max_retry_after: Duration::from_secs(60),
            max_body_bytes: 8 * 1024 * 1024,
            max_tag_pages: 100,
            max_tags: 100_000,
            user_agent: format!("drydock/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// The variable that sets [`ClientOptions::request_timeout`], in milliseconds (drydock's name).
pub const TIMEOUT_VARIABLE: &str = "DD_OUTBOUND_HTTP_TIMEOUT_MS";

impl ClientOptions {
    /// The defaults, with what the environment changes: `DD_OUTBOUND_HTTP_TIMEOUT_MS` is the time one registry request may take, body included,
    /// in milliseconds (default 30000); connecting may take at most that too (default 10 s). A
    /// registry that hangs or trickles then costs a watch cycle this long per request, not more.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use std::time::Duration;
    /// use drydock_registry::ClientOptions;
    ///
    /// let env = BTreeMap::from([("DD_OUTBOUND_HTTP_TIMEOUT_MS".to_owned(), "2500".to_owned())]);
    /// let options = ClientOptions::from_env(&env).unwrap();
    /// assert_eq!(options.request_timeout, Duration::from_millis(2500));
    /// assert_eq!(options.connect_timeout, Duration::from_millis(2500));
    /// let env = BTreeMap::from([("DD_OUTBOUND_HTTP_TIMEOUT_MS".to_owned(), "soon".to_owned())]);
    /// assert!(ClientOptions::from_env(&env).is_err());
    /// ```
    pub fn from_env(env: &BTreeMap<String, String>) -> Result<Self, OptionsError> {
        let mut options = Self::default();
        let found = env
            .get(TIMEOUT_VARIABLE)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .map(|v| (TIMEOUT_VARIABLE.to_owned(), v.to_owned()));
        if let Some((variable, value)) = found {
            let millis = value
                .parse::<u64>()
                .ok()
                .filter(|ms| (1..=3_600_000).contains(ms))
                .ok_or(OptionsError::Invalid {
                    variable,
                    value,
                    accepted: "milliseconds from 1 to 3600000",
                })?;
            options.request_timeout = Duration::from_millis(millis);
            options.connect_timeout = options.connect_timeout.min(options.request_timeout);
        }
        Ok(options)
    }
}

/// A client setting from the environment that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OptionsError {
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

/// A token bucket: a sustained rate and a burst.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    /// Requests per second, sustained.
    pub per_second: f64,
    /// Requests allowed at once before the rate applies.
    pub burst: f64,
}
