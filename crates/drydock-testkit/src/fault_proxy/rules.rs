//! What the proxy does to which request: faults, rules, and what it records.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::time::Duration;

/// The longest request head the proxy reads.
pub(super) const MAX_HEAD: usize = 64 * 1024;

/// How many served requests [`FaultProxy::requests`] keeps (the oldest are forgotten), so a soak
/// test's proxy does not grow with the number of cycles.
pub(super) const MAX_LOG: usize = 20_000;

/// How long a hanging or trickling answer lasts at most, should the client never give up.
pub(super) const MAX_STALL: Duration = Duration::from_secs(600);

/// What the proxy does instead of (or to) the upstream's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answers with `status` (and a small JSON error body), plus `Retry-After: retry_after` when
    /// given. `429`, `500`, `502`, `503`.
    Status {
        /// The HTTP status.
        status: u16,
        /// The `Retry-After` value, as sent (seconds or a date).
        retry_after: Option<String>,
    },
    /// Reads the request, then resets the connection (`SO_LINGER` 0: the client sees `RST`).
    Reset,
    /// Reads the request and never answers, until the client gives up.
    Hang,
    /// Sends the upstream's headers, then its body at one byte per `per_byte`.
    SlowBody {
        /// The pause before each byte.
        per_byte: Duration,
    },
    /// Sends the first half of the upstream's JSON body, with a `Content-Length` that matches the
    /// half: valid HTTP, invalid JSON.
    TruncatedJson,
    /// Sends the upstream's answer with `Content-Type: text/html; charset=utf-8`.
    WrongContentType,
    /// Answers a tag list with a well-formed one of `bytes` bytes, chunked (no `Content-Length`),
    /// so a client only learns its size by reading.
    HugeTagList {
        /// The size of the body.
        bytes: usize,
    },
    /// Adds to a tag list a `Link: <…>; rel="next"` that points back to the same page.
    LinkLoop,
    /// Answers the token endpoint with `status` for the rule's repositories' scopes.
    TokenStatus {
        /// The HTTP status.
        status: u16,
    },
}

impl Fault {
    /// A short name for logs and test reports.
    pub fn name(&self) -> String {
        match self {
            Self::Status {
                status,
                retry_after: Some(after),
            } => format!("{status} Retry-After {after}"),
            Self::Status { status, .. } => status.to_string(),
            Self::Reset => "reset".into(),
            Self::Hang => "hang".into(),
            Self::SlowBody { .. } => "slow body".into(),
            Self::TruncatedJson => "truncated JSON".into(),
            Self::WrongContentType => "wrong Content-Type".into(),
            Self::HugeTagList { bytes } => format!("{bytes}-byte tag list"),
            Self::LinkLoop => "Link loop".into(),
            Self::TokenStatus { status } => format!("token endpoint {status}"),
        }
    }
}

/// A fault and the repositories it applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// What to do.
    pub fault: Fault,
    /// Repositories (`drydock-test/app`) whose requests meet the fault; empty means every
    /// repository. Requests that name no repository (`GET /v2/`) always pass.
    pub repositories: Vec<String>,
    /// How many matching requests meet the fault before the rule lets requests pass; `None` for
    /// every one.
    pub times: Option<u64>,
}

impl Rule {
    /// `fault` for every request of every repository.
    pub fn new(fault: Fault) -> Self {
        Self {
            fault,
            repositories: Vec::new(),
            times: None,
        }
    }

    /// Only for these repositories.
    pub fn only<S: AsRef<str>>(mut self, repositories: &[S]) -> Self {
        self.repositories = repositories.iter().map(|r| r.as_ref().to_owned()).collect();
        self
    }

    /// Only the first `n` matching requests.
    pub fn times(mut self, n: u64) -> Self {
        self.times = Some(n);
        self
    }

    pub(super) fn matches(&self, repository: &str) -> bool {
        self.repositories.is_empty() || self.repositories.iter().any(|r| r == repository)
    }
}

/// One request the proxy served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyRequest {
    /// The method.
    pub method: String,
    /// The request target (path and query).
    pub target: String,
    /// The repository the request named, if any (for the token endpoint: the first scope's).
    pub repository: Option<String>,
    /// The fault applied, by [`Fault::name`]; `None` when passed through.
    pub fault: Option<String>,
    /// The status sent; `0` when none was (reset, hang).
    pub status: u16,
    /// Body bytes the client's connection accepted.
    pub body_bytes: u64,
}

pub(super) fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::from(d.subsec_nanos()))
        .unwrap_or_default()
}

#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) rules: Vec<(Rule, u64)>,
    pub(super) require_token: bool,
    pub(super) log: VecDeque<(u64, ProxyRequest)>,
}

#[derive(Debug)]
pub(super) struct Shared {
    pub(super) upstream: String,
    pub(super) state: Mutex<State>,
    pub(super) tokens_issued: AtomicU64,
    pub(super) open_connections: AtomicUsize,
    pub(super) accepted: AtomicU64,
    pub(super) next_id: AtomicU64,
}
