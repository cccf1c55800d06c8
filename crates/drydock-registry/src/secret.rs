//! A string that must never be printed: registry passwords, tokens and keys.
//!
//! Registry credentials travel from the environment through provider
//! configuration into HTTP requests, and along the way the values holding them
//! end up in `Debug` output, error messages and logs. [`Secret`] makes the safe
//! thing the default: its [`Debug`](fmt::Debug) and [`Display`](fmt::Display)
//! forms are `[REDACTED]`, and the only way to read the value is the explicit
//! [`Secret::expose`], which is easy to find in review. It deliberately has no
//! serde implementation, so a secret cannot be serialised into an API response
//! or a state file by accident.

use std::fmt;

/// What [`Secret`]'s `Debug` and `Display` print instead of the value.
const REDACTED: &str = "[REDACTED]";

/// A password, token or key whose value is hidden from `Debug` and `Display`.
///
/// ```
/// use drydock_registry::secret::Secret;
///
/// let token = Secret::new("hunter2");
/// assert_eq!(format!("{token:?} {token}"), "[REDACTED] [REDACTED]");
/// assert_eq!(token.expose(), "hunter2");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value` so that it is not printed by accident.
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value, for the one place that has to send it (an
    /// `Authorization` header, a signing key). Never log it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let secret = Secret::new("canary-secret-9f3b");
        assert_eq!(format!("{secret:?}"), "[REDACTED]");
        assert_eq!(format!("{secret}"), "[REDACTED]");
        assert_eq!(format!("{secret:#?}"), "[REDACTED]");
        assert_eq!(format!("{:?}", Some(secret.clone())), "Some([REDACTED])");
    }

    #[test]
    fn expose_returns_the_value() {
        let secret = Secret::new(String::from("canary-secret-9f3b"));
        assert_eq!(secret.expose(), "canary-secret-9f3b");
    }

    #[test]
    fn equality_compares_values() {
        assert_eq!(Secret::new("a"), Secret::new("a"));
        assert_ne!(Secret::new("a"), Secret::new("b"));
    }
}
