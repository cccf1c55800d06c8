//! Checking a request's credentials, failing closed: HTTP Basic against the configured users, or
//! anonymous only when explicitly confirmed; failed logins lock an address out.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use subtle::ConstantTimeEq as _;
use tokio::sync::Semaphore;

use crate::password::{BasicUser, verify};

/// Failed logins from one address before it is locked out, and for how long.
const MAX_FAILURES: u32 = 10;
const LOCKOUT: Duration = Duration::from_secs(15 * 60);

/// The outcome of checking a request's credentials.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Let it through.
    Allowed,
    /// 401.
    Denied,
    /// 429: too many concurrent or failed attempts; the client may retry after this long (the
    /// rest of a lockout, or a second when checks are merely busy).
    Throttled(Duration),
}

/// The authentication state of the server.
pub struct Authenticator {
    users: Vec<BasicUser>,
    anonymous: bool,
    /// argon2 is deliberately expensive: at most two checks at once, so a login flood cannot
    /// exhaust the CPU before the lockout counts.
    verifying: Semaphore,
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
    /// Successful (user, password) checks, by a hash of the header, to spare argon2 on every
    /// request of a dashboard that polls each few seconds.
    accepted: Mutex<HashMap<[u8; 32], Instant>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("users", &self.users.len())
            .field("anonymous", &self.anonymous)
            .finish()
    }
}

impl Authenticator {
    /// Anonymous access holds only while no user is configured: a user means the API wants
    /// credentials, whatever `DD_ANONYMOUS_AUTH_CONFIRM` says (drydock.md §11).
    pub fn new(users: Vec<BasicUser>, anonymous: bool) -> Self {
        Self {
            anonymous: anonymous && users.is_empty(),
            users,
            verifying: Semaphore::new(2),
            failures: Mutex::new(HashMap::new()),
            accepted: Mutex::new(HashMap::new()),
        }
    }

    /// Whether any way in is configured; without one the API fails closed.
    pub fn configured(&self) -> bool {
        self.anonymous || !self.users.is_empty()
    }

    /// Why the API refuses everyone, if it does.
    pub fn closed_reason(&self) -> Option<&'static str> {
        (!self.configured()).then_some(
            "no authentication is configured: set DD_AUTH_BASIC_{NAME}_USER and _HASH, or DD_ANONYMOUS_AUTH_CONFIRM=true",
        )
    }

    /// Checks an `Authorization` header from `peer`.
    pub async fn check(&self, authorization: Option<&str>, peer: Option<IpAddr>) -> Verdict {
        if self.users.is_empty() {
            // Anonymous ignores whatever header a client sends (some always send one).
            return if self.anonymous {
                Verdict::Allowed
            } else {
                Verdict::Denied
            };
        }
        let Some((user, password)) = authorization.and_then(parse_basic) else {
            return Verdict::Denied;
        };
        let fingerprint = fingerprint(authorization.unwrap_or_default());
        if let Some(at) = lock(&self.accepted).get(&fingerprint)
            && at.elapsed() < Duration::from_secs(300)
        {
            return Verdict::Allowed;
        }
        if let Some(peer) = peer
            && let Some((count, since)) = lock(&self.failures).get(&peer).copied()
            && count >= MAX_FAILURES
            && since.elapsed() < LOCKOUT
        {
            return Verdict::Throttled(LOCKOUT.saturating_sub(since.elapsed()));
        }
        // Parallel first requests of one client wait their turn; a flood does not get through.
        let permit = tokio::time::timeout(Duration::from_secs(5), self.verifying.acquire()).await;
        let Ok(Ok(_permit)) = permit else {
            return Verdict::Throttled(Duration::from_secs(1));
        };
        if lock(&self.accepted)
            .get(&fingerprint)
            .is_some_and(|at| at.elapsed() < Duration::from_secs(300))
        {
            return Verdict::Allowed;
        }
        let ok = self.verify(&user, &password).await;
        if ok {
            lock(&self.accepted).insert(fingerprint, Instant::now());
            if let Some(peer) = peer {
                lock(&self.failures).remove(&peer);
            }
            Verdict::Allowed
        } else {
            if let Some(peer) = peer {
                let mut failures = lock(&self.failures);
                let entry = failures.entry(peer).or_insert((0, Instant::now()));
                if entry.1.elapsed() > LOCKOUT {
                    *entry = (0, Instant::now());
                }
                entry.0 += 1;
            }
            Verdict::Denied
        }
    }

    async fn verify(&self, user: &str, password: &str) -> bool {
        // An unknown user still costs one verification, so timing does not reveal user names.
        let Some(first) = self.users.first() else {
            return false;
        };
        let (known, hash) = match self
            .users
            .iter()
            .find(|u| u.name().as_bytes().ct_eq(user.as_bytes()).into())
        {
            Some(u) => (true, u.hash().to_owned()),
            None => (false, first.hash().to_owned()),
        };
        let password = password.to_owned();
        let verified = tokio::task::spawn_blocking(move || verify(&password, &hash))
            .await
            .unwrap_or(false);
        known && verified
    }
}

fn parse_basic(header: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

fn fingerprint(header: &str) -> [u8; 32] {
    // Not a password hash: a cache key for headers argon2 already accepted, never stored on disk.
    use std::hash::{Hash, Hasher};
    let mut out = [0u8; 32];
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (i, header).hash(&mut hasher);
        chunk.copy_from_slice(&hasher.finish().to_le_bytes());
    }
    out
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::hash_password;

    fn basic(user: &str, password: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
    }

    #[tokio::test]
    async fn basic_auth_with_argon2id() {
        let hash = hash_password("s3cret").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=65536,t=3,p=4$"));
        let auth = Authenticator::new(vec![BasicUser::new("admin", &hash).unwrap()], false);
        assert_eq!(
            auth.check(Some(&basic("admin", "s3cret")), None).await,
            Verdict::Allowed
        );
        assert_eq!(
            auth.check(Some(&basic("admin", "wrong")), None).await,
            Verdict::Denied
        );
        assert_eq!(
            auth.check(Some(&basic("eve", "s3cret")), None).await,
            Verdict::Denied
        );
        assert_eq!(auth.check(None, None).await, Verdict::Denied);
        assert_eq!(auth.check(Some("Bearer x"), None).await, Verdict::Denied);
    }

    #[test]
    fn weak_or_foreign_hashes_are_refused() {
        let weak = "$argon2id$v=19$m=1024,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";
        assert!(
            BasicUser::new("a", weak)
                .unwrap_err()
                .to_string()
                .contains("too weak")
        );
        let argon2i = "$argon2i$v=19$m=65536,t=3,p=4$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";
        assert!(BasicUser::new("a", argon2i).is_err());
        assert!(BasicUser::new("a", "{SHA}abc").is_err());
        assert!(BasicUser::new("a:b", &hash_password("x").unwrap()).is_err());
    }

    #[tokio::test]
    async fn fails_closed_without_configuration() {
        let auth = Authenticator::new(Vec::new(), false);
        assert!(auth.closed_reason().is_some());
        assert_eq!(auth.check(None, None).await, Verdict::Denied);
        let open = Authenticator::new(Vec::new(), true);
        assert_eq!(
            open.check(Some(&basic("any", "thing")), None).await,
            Verdict::Allowed
        );
    }

    #[tokio::test]
    async fn a_configured_user_closes_anonymous_access() {
        let hash = hash_password("right").unwrap();
        let auth = Authenticator::new(vec![BasicUser::new("admin", &hash).unwrap()], true);
        assert_eq!(auth.check(None, None).await, Verdict::Denied);
        assert_eq!(auth.check(Some("Bearer x"), None).await, Verdict::Denied);
        assert_eq!(
            auth.check(Some(&basic("admin", "right")), None).await,
            Verdict::Allowed
        );
    }

    #[tokio::test]
    async fn repeated_failures_lock_the_address_out() {
        let hash = hash_password("right").unwrap();
        let auth = Authenticator::new(vec![BasicUser::new("admin", &hash).unwrap()], false);
        let peer: IpAddr = "127.0.0.9".parse().unwrap();
        for _ in 0..MAX_FAILURES {
            assert_eq!(
                auth.check(Some(&basic("admin", "wrong")), Some(peer)).await,
                Verdict::Denied
            );
        }
        let Verdict::Throttled(retry_after) =
            auth.check(Some(&basic("admin", "right")), Some(peer)).await
        else {
            panic!("a locked-out address is throttled");
        };
        // The client is told to come back when the lockout ends, not in a second.
        assert!(
            retry_after > LOCKOUT - Duration::from_secs(60),
            "{retry_after:?}"
        );
        let other: IpAddr = "127.0.0.10".parse().unwrap();
        assert_eq!(
            auth.check(Some(&basic("admin", "right")), Some(other))
                .await,
            Verdict::Allowed
        );
    }
}
