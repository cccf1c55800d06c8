//! `WWW-Authenticate` challenges (RFC 7235), as registries send them on `401`.
//!
//! `Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"`
//! tells the client where to get a token; `Basic realm="Registry"` asks for credentials directly.
//! The parser is strict about structure and lenient about case and spacing, and never panics: it
//! reads whatever a hostile registry sends.

use std::collections::BTreeMap;

/// A parsed challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    /// Get a token from `realm` for `service`, then send it as `Authorization: Bearer`.
    Bearer {
        /// The token endpoint URL.
        realm: String,
        /// The service to name in the token request, if the registry gave one.
        service: Option<String>,
        /// The scope the registry asked for, if it gave one.
        scope: Option<String>,
    },
    /// Send credentials as `Authorization: Basic`.
    Basic,
}

/// Why a `WWW-Authenticate` header could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChallengeError {
    /// The header names an authentication scheme drydock does not speak.
    #[error("unsupported authentication scheme `{0}`")]
    UnsupportedScheme(String),
    /// A Bearer challenge without a realm.
    #[error("Bearer challenge without a realm")]
    MissingRealm,
    /// The parameters are not `name=value` pairs.
    #[error("malformed challenge parameters: {0}")]
    Malformed(String),
}

/// The longest header accepted; longer ones are malformed (a registry has no reason to send more).
const MAX_HEADER: usize = 8 * 1024;

impl Challenge {
    /// Parses a `WWW-Authenticate` header value. With several challenges, Bearer is preferred.
    ///
    /// ```
    /// use drydock_registry::challenge::Challenge;
    ///
    /// let c = Challenge::parse(r#"Bearer realm="https://ghcr.io/token",service="ghcr.io""#).unwrap();
    /// assert_eq!(c, Challenge::Bearer {
    ///     realm: "https://ghcr.io/token".into(),
    ///     service: Some("ghcr.io".into()),
    ///     scope: None,
    /// });
    /// assert_eq!(Challenge::parse(r#"basic realm="Registry""#).unwrap(), Challenge::Basic);
    /// ```
    pub fn parse(header: &str) -> Result<Self, ChallengeError> {
        if header.len() > MAX_HEADER {
            return Err(ChallengeError::Malformed("header too long".into()));
        }
        let header = header.trim();
        let (scheme, rest) = header
            .split_once(|c: char| c.is_ascii_whitespace())
            .unwrap_or((header, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return Ok(Self::Basic);
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            // Some registries list several challenges; take a Bearer one if present.
            if let Some(at) = find_ignore_case(header, "bearer ") {
                return Self::parse(&header[at..]);
            }
            return Err(ChallengeError::UnsupportedScheme(truncate(scheme)));
        }
        let params = parse_params(rest)?;
        let realm = params
            .get("realm")
            .filter(|r| !r.is_empty())
            .cloned()
            .ok_or(ChallengeError::MissingRealm)?;
        Ok(Self::Bearer {
            realm,
            service: params.get("service").cloned(),
            scope: params.get("scope").cloned(),
        })
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

fn find_ignore_case(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .to_ascii_lowercase()
        .find(needle)
        .filter(|&at| haystack.is_char_boundary(at))
}

/// Reads `name=value` or `name="quoted \" value"` pairs separated by commas. Names are lower-cased.
fn parse_params(input: &str) -> Result<BTreeMap<String, String>, ChallengeError> {
    let mut params = BTreeMap::new();
    let mut chars = input.chars().peekable();
    loop {
        while chars
            .peek()
            .is_some_and(|c| c.is_ascii_whitespace() || *c == ',')
        {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(params);
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_ascii_whitespace() {
                break;
            }
            if !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
                return Err(ChallengeError::Malformed(format!(
                    "unexpected `{c}` in a name"
                )));
            }
            name.push(c.to_ascii_lowercase());
            chars.next();
        }
        while chars.peek().is_some_and(char::is_ascii_whitespace) {
            chars.next();
        }
        if name.is_empty() || chars.next() != Some('=') {
            return Err(ChallengeError::Malformed("expected name=value".into()));
        }
        while chars.peek().is_some_and(char::is_ascii_whitespace) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(c) => value.push(c),
                        None => {
                            return Err(ChallengeError::Malformed("unterminated escape".into()));
                        }
                    },
                    Some(c) => value.push(c),
                    None => return Err(ChallengeError::Malformed("unterminated quote".into())),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' || c.is_ascii_whitespace() {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        params.insert(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_challenges_registries_send() {
        let hub = r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull""#;
        assert_eq!(
            Challenge::parse(hub).unwrap(),
            Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/nginx:pull".into()),
            }
        );
        // Case, spacing, unquoted values and escapes.
        let odd = r#"BEARER  Realm = https://r.example/t , Service="a \"b\"""#;
        assert_eq!(
            Challenge::parse(odd).unwrap(),
            Challenge::Bearer {
                realm: "https://r.example/t".into(),
                service: Some("a \"b\"".into()),
                scope: None,
            }
        );
        assert_eq!(
            Challenge::parse("Basic realm=\"x\"").unwrap(),
            Challenge::Basic
        );
        assert!(matches!(
            Challenge::parse("Negotiate abc, Bearer realm=\"https://x/t\""),
            Ok(Challenge::Bearer { .. })
        ));
    }

    #[test]
    fn rejects_what_it_cannot_use() {
        assert_eq!(
            Challenge::parse("Bearer service=\"x\""),
            Err(ChallengeError::MissingRealm)
        );
        assert_eq!(
            Challenge::parse("Bearer realm=\"\""),
            Err(ChallengeError::MissingRealm)
        );
        assert!(matches!(
            Challenge::parse("Digest realm=\"x\""),
            Err(ChallengeError::UnsupportedScheme(_))
        ));
        assert!(matches!(
            Challenge::parse("Bearer realm=\"unterminated"),
            Err(ChallengeError::Malformed(_))
        ));
        assert!(matches!(
            Challenge::parse("Bearer =x"),
            Err(ChallengeError::Malformed(_))
        ));
        assert!(Challenge::parse(&format!("Bearer realm=\"{}\"", "a".repeat(10_000))).is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(header in ".{0,200}") {
            let _ = Challenge::parse(&header);
        }
    }
}
