//! Users and their passwords: argon2id hashes in PHC format, weak parameters refused.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// OWASP's minimum for argon2id: 19 MiB of memory, 2 passes.
const MIN_MEMORY_KIB: u32 = 19_456;
const MIN_PASSES: u32 = 2;
/// Hashes drydock itself makes (`drydock hash-password`).
const MEMORY_KIB: u32 = 65_536;
const PASSES: u32 = 3;
const LANES: u32 = 4;

/// A configured user.
#[derive(Clone)]
pub struct BasicUser {
    user: String,
    hash: String,
}

impl std::fmt::Debug for BasicUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicUser")
            .field("user", &self.user)
            .field("hash", &"[REDACTED]")
            .finish()
    }
}

impl BasicUser {
    /// A user with an argon2id PHC hash; weak parameters are refused.
    ///
    /// # Errors
    ///
    /// [`UserError`] saying what is wrong with the name or the hash (never the hash itself).
    pub fn new(user: &str, hash: &str) -> Result<Self, UserError> {
        if user.is_empty() || user.contains(':') {
            return Err(UserError::Name);
        }
        let parsed = PasswordHash::new(hash.trim()).map_err(|e| UserError::NotPhc {
            reason: e.to_string(),
        })?;
        if parsed.algorithm.as_str() != "argon2id" {
            return Err(UserError::Algorithm {
                algorithm: parsed.algorithm.to_string(),
            });
        }
        let params = Params::try_from(&parsed).map_err(|e| UserError::NotPhc {
            reason: format!("argon2 parameters: {e}"),
        })?;
        if params.m_cost() < MIN_MEMORY_KIB || params.t_cost() < MIN_PASSES {
            return Err(UserError::Weak {
                memory_kib: params.m_cost(),
                passes: params.t_cost(),
            });
        }
        Ok(Self {
            user: user.to_owned(),
            hash: hash.trim().to_owned(),
        })
    }

    /// The user name.
    pub fn name(&self) -> &str {
        &self.user
    }

    pub(crate) fn hash(&self) -> &str {
        &self.hash
    }
}

/// Why a configured user cannot be used. Messages never contain the hash.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UserError {
    /// The user name is empty or contains `:`.
    #[error("the user name must be non-empty and contain no `:`")]
    Name,
    /// The hash is not in PHC format.
    #[error("not an argon2id hash in PHC format ($argon2id$v=19$m=…,t=…,p=…$salt$hash): {reason}")]
    NotPhc {
        /// The parser's explanation.
        reason: String,
    },
    /// The hash is of another algorithm.
    #[error(
        "only argon2id hashes are accepted (got {algorithm}); make one with `drydock hash-password`"
    )]
    Algorithm {
        /// The algorithm named by the hash.
        algorithm: String,
    },
    /// The argon2id parameters are below OWASP's minimum.
    #[error("argon2id parameters too weak (m={memory_kib}, t={passes}): at least m=19456, t=2")]
    Weak {
        /// The hash's memory cost, KiB.
        memory_kib: u32,
        /// The hash's passes.
        passes: u32,
    },
}

/// Why a password could not be hashed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot hash the password: {reason}")]
pub struct HashError {
    /// What failed (no randomness for a salt, say).
    pub reason: String,
}

/// Hashes a password the way drydock wants it stored: argon2id, 64 MiB, 3 passes, 4 lanes, a
/// random 16-byte salt, in PHC format.
///
/// # Errors
///
/// [`HashError`] when the system has no randomness for the salt.
pub fn hash_password(password: &str) -> Result<String, HashError> {
    let error = |reason: String| HashError { reason };
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None).map_err(|e| error(e.to_string()))?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let mut salt_bytes = [0u8; 16];
    getrandom::fill(&mut salt_bytes)
        .map_err(|e| error(format!("no randomness for a salt: {e}")))?;
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| error(e.to_string()))?;
    Ok(argon
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| error(e.to_string()))?
        .to_string())
}

/// Whether `password` matches the PHC `hash` (argon2 is slow on purpose: call it off the async
/// threads).
pub(crate) fn verify(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}
