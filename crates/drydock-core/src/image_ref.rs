//! Parsing and normalisation of container image references.
//!
//! An image reference is what a user writes after `docker run` or under a
//! compose file's `image:` key: `nginx:1.25`, `org/app`,
//! `ghcr.io/org/app:v1.2@sha256:…`. drydock compares references across
//! containers and across watch cycles, so every spelling of the same image
//! must parse to the same value. [`ImageReference::parse`] therefore accepts
//! exactly the grammar of `github.com/distribution/reference` (the package the
//! Docker CLI and daemon use) and normalises like its `ParseNormalizedNamed`:
//!
//! * **Registry detection.** The text before the first `/` is a registry only
//!   if it contains `.` or `:`, is exactly `localhost`, or contains an
//!   upper-case letter (a repository path never does). Otherwise the whole
//!   name is a Docker Hub path: `org/app` means `docker.io/org/app`, while
//!   `registry:5000/x` lives on the registry `registry:5000`.
//! * **Docker Hub aliases.** `index.docker.io` and `registry-1.docker.io` are
//!   normalised to `docker.io`. Other registry text is kept exactly as
//!   written, case included (Docker does not fold it either).
//! * **Official images.** On Docker Hub a single-component path lives in the
//!   `library/` namespace: `nginx` is `docker.io/library/nginx`. Paths with
//!   several components (`org/app`) and paths on other registries
//!   (`registry:5000/x`) get no prefix.
//! * **No implicit tag.** A missing tag stays missing: [`ImageReference::tag`]
//!   returns `None` and the [`Display`](fmt::Display) form never invents
//!   `:latest`. [`ImageReference::tag_or_latest`] gives Docker's pull default.
//!
//! Image IDs (`sha256:<64 hex>` or a bare `<64 hex>`) are not references and
//! are rejected with [`ImageRefError::ImageId`], so callers can tell a
//! container started from an ID apart from a malformed reference. (Docker
//! rejects the bare form the same way; it would read `sha256:<64 hex>` as the
//! Hub image `library/sha256` with a hex tag, which is never what a container
//! started from an ID means.)
//!
//! The parser is hand-written rather than regex-based: it runs for every
//! container on every cycle, and a direct scan also lets each error say which
//! part of the input is wrong. It works on any `&str` without panicking.

use std::fmt;
use std::iter::Peekable;
use std::str::{Bytes, FromStr};

/// The canonical Docker Hub registry name.
const DOCKER_HUB: &str = "docker.io";
/// Other spellings of Docker Hub that normalise to [`DOCKER_HUB`].
const DOCKER_HUB_ALIASES: [&str; 2] = ["index.docker.io", "registry-1.docker.io"];
/// Namespace of Docker Hub's official images.
const OFFICIAL_PREFIX: &str = "library/";
/// The tag Docker pulls when a reference names none.
const DEFAULT_TAG: &str = "latest";
/// Maximum length of the normalised name (`registry/repository`).
const MAX_NAME_LEN: usize = 255;
/// Maximum length of a tag.
const MAX_TAG_LEN: usize = 128;

/// A parsed, normalised image reference.
///
/// Build one with [`ImageReference::parse`] (or [`str::parse`]). Two
/// references are equal when they name the same registry, repository, tag
/// and digest after normalisation, so `nginx`, `library/nginx`,
/// `docker.io/nginx` and `index.docker.io/library/nginx` are all equal.
///
/// [`Display`](fmt::Display) prints the full normalised form
/// (`docker.io/library/nginx:1.25`); [`ImageReference::familiar`] prints the
/// short form `docker` shows (`nginx:1.25`). Both parse back to an equal value.
///
/// ```
/// use drydock_core::image_ref::ImageReference;
///
/// let r = ImageReference::parse("nginx:1.25")?;
/// assert_eq!(r.registry(), "docker.io");
/// assert_eq!(r.repository(), "library/nginx");
/// assert_eq!(r.tag(), Some("1.25"));
/// assert_eq!(r.to_string(), "docker.io/library/nginx:1.25");
/// assert_eq!(r.familiar(), "nginx:1.25");
/// # Ok::<(), drydock_core::image_ref::ImageRefError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(try_from = "String", into = "String")
)]
pub struct ImageReference {
    /// Registry host and optional port, `docker.io` for Docker Hub.
    registry: String,
    /// Repository path, with `library/` for official Hub images.
    repository: String,
    /// Tag, if one was given.
    tag: Option<String>,
    /// Digest (`algorithm:encoded`), if one was given.
    digest: Option<String>,
}

/// Why a string is not a valid image reference.
///
/// Every message names the offending input and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImageRefError {
    /// The input is the empty string.
    #[error("invalid image reference: the reference is empty")]
    Empty,

    /// The input contains a character no part of a reference may contain
    /// (whitespace, control characters, non-ASCII, punctuation such as `!`).
    #[error(
        "invalid image reference {input:?}: character {character:?} at byte {index} \
         is not allowed in an image reference"
    )]
    InvalidCharacter {
        /// The rejected input.
        input: String,
        /// The first disallowed character.
        character: char,
        /// Byte offset of `character` in `input`.
        index: usize,
    },

    /// The normalised name (`registry/repository`) is longer than 255 characters.
    #[error(
        "invalid image reference {input:?}: the repository name is {len} characters long \
         (at most 255 are allowed)"
    )]
    TooLong {
        /// The rejected input.
        input: String,
        /// Length of the normalised `registry/repository` name.
        len: usize,
    },

    /// The input is an image ID (`sha256:<64 hex>` or bare `<64 hex>`), not a reference.
    #[error(
        "invalid image reference {input:?}: this is an image ID, not a reference \
         (64-character hexadecimal names are not allowed)"
    )]
    ImageId {
        /// The rejected input.
        input: String,
    },

    /// The repository name is missing (`:tag`, `@sha256:…`, `ghcr.io/`).
    #[error("invalid image reference {input:?}: the repository name is missing")]
    MissingRepository {
        /// The rejected input.
        input: String,
    },

    /// The registry part is not `host[:port]` with a DNS-style host or a
    /// bracketed IPv6 address and a port of 1 to 5 digits.
    #[error("invalid image reference {input:?}: invalid registry {registry:?}")]
    InvalidRegistry {
        /// The rejected input.
        input: String,
        /// The registry text as written.
        registry: String,
    },

    /// A repository path component is empty or not of the form
    /// `[a-z0-9]+` joined by `.`, `_`, `__` or runs of `-`.
    #[error("invalid image reference {input:?}: invalid repository path component {component:?}")]
    InvalidRepository {
        /// The rejected input.
        input: String,
        /// The first invalid path component.
        component: String,
    },

    /// The repository path contains upper-case letters.
    #[error("invalid image reference {input:?}: the repository name must be lowercase")]
    UppercaseRepository {
        /// The rejected input.
        input: String,
    },

    /// The tag is empty, longer than 128 characters, starts with `.` or `-`,
    /// or contains characters other than ASCII letters, digits, `_`, `.`, `-`.
    #[error("invalid image reference {input:?}: invalid tag {tag:?}")]
    InvalidTag {
        /// The rejected input.
        input: String,
        /// The tag as written.
        tag: String,
    },

    /// The digest is not `algorithm:encoded` with a valid encoding for the
    /// algorithm (64 lower-case hex digits for `sha256`, 128 for `sha512`).
    #[error("invalid image reference {input:?}: invalid digest {digest:?}")]
    InvalidDigest {
        /// The rejected input.
        input: String,
        /// The digest as written.
        digest: String,
    },
}

/// Whether `s` is an image ID rather than an image reference: `sha256:`
/// followed by 64 lower-case hex digits, or the 64 hex digits alone.
///
/// [`ImageReference::parse`] rejects these with [`ImageRefError::ImageId`].
///
/// ```
/// use drydock_core::image_ref::is_image_id;
///
/// let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// assert!(is_image_id(hex));
/// assert!(is_image_id(&format!("sha256:{hex}")));
/// assert!(!is_image_id("nginx:latest"));
/// ```
#[must_use]
pub fn is_image_id(s: &str) -> bool {
    let hex = s.strip_prefix("sha256:").unwrap_or(s);
    is_lower_hex(hex, 64)
}

impl ImageReference {
    /// Parses and normalises an image reference.
    ///
    /// See the [module documentation](self) for the grammar and the
    /// normalisation rules.
    ///
    /// # Errors
    ///
    /// Returns an [`ImageRefError`] naming the first problem found when
    /// `input` is not a reference Docker would accept, or is an image ID.
    pub fn parse(input: &str) -> Result<Self, ImageRefError> {
        if input.is_empty() {
            return Err(ImageRefError::Empty);
        }
        // After this check the input is pure ASCII, so every byte offset
        // found below is a character boundary.
        if let Some((index, character)) = input.char_indices().find(|&(_, c)| !is_reference_char(c))
        {
            return Err(ImageRefError::InvalidCharacter {
                input: input.to_owned(),
                character,
                index,
            });
        }
        if is_image_id(input) {
            return Err(ImageRefError::ImageId {
                input: input.to_owned(),
            });
        }

        // Neither the name nor the tag may contain `@`, so the first one
        // starts the digest.
        let (name_and_tag, digest) = match input.split_once('@') {
            Some((name_and_tag, digest)) => (name_and_tag, Some(digest)),
            None => (input, None),
        };
        let (name, tag) = split_tag(name_and_tag);
        if name.is_empty() {
            return Err(ImageRefError::MissingRepository {
                input: input.to_owned(),
            });
        }

        let (registry, path) = split_registry(name);
        if let Some(registry) = registry
            && !is_valid_registry(registry)
        {
            return Err(ImageRefError::InvalidRegistry {
                input: input.to_owned(),
                registry: registry.to_owned(),
            });
        }
        validate_path(input, path)?;

        let registry = normalise_registry(registry.unwrap_or(DOCKER_HUB));
        let official = registry == DOCKER_HUB && !path.contains('/');
        let prefix = if official { OFFICIAL_PREFIX } else { "" };
        let len = registry.len() + 1 + prefix.len() + path.len();
        if len > MAX_NAME_LEN {
            return Err(ImageRefError::TooLong {
                input: input.to_owned(),
                len,
            });
        }

        if let Some(tag) = tag
            && !is_valid_tag(tag)
        {
            return Err(ImageRefError::InvalidTag {
                input: input.to_owned(),
                tag: tag.to_owned(),
            });
        }
        if let Some(digest) = digest
            && !is_valid_digest(digest)
        {
            return Err(ImageRefError::InvalidDigest {
                input: input.to_owned(),
                digest: digest.to_owned(),
            });
        }

        Ok(Self {
            registry: registry.to_owned(),
            repository: format!("{prefix}{path}"),
            tag: tag.map(str::to_owned),
            digest: digest.map(str::to_owned),
        })
    }

    /// The registry host and optional port as written, except that Docker
    /// Hub is always `docker.io`: `"docker.io"`, `"ghcr.io"`,
    /// `"localhost:5000"`, `"[::1]:5000"`.
    #[must_use]
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path within the registry: `"library/nginx"`,
    /// `"org/app"`, `"a/b"`.
    #[must_use]
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, or `None` when the reference has none.
    #[must_use]
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest (`"sha256:<64 hex>"`), or `None` when the reference has none.
    #[must_use]
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// The tag, or `"latest"` when there is none.
    ///
    /// A digest-only reference (`nginx@sha256:…`) also yields `"latest"`:
    /// this method only answers "which tag does this reference name or
    /// default to"; check [`digest`](Self::digest) first where a pinned
    /// digest should win over the default tag.
    #[must_use]
    pub fn tag_or_latest(&self) -> &str {
        self.tag.as_deref().unwrap_or(DEFAULT_TAG)
    }

    /// Whether the image lives on Docker Hub (`docker.io` and its aliases).
    #[must_use]
    pub fn is_docker_hub(&self) -> bool {
        self.registry == DOCKER_HUB
    }

    /// The same repository with tag `tag` and no digest.
    ///
    /// # Errors
    ///
    /// Returns [`ImageRefError::InvalidTag`] when `tag` is not a valid tag.
    pub fn with_tag(&self, tag: &str) -> Result<Self, ImageRefError> {
        if !is_valid_tag(tag) {
            return Err(ImageRefError::InvalidTag {
                input: format!("{}:{tag}", self.repository_path()),
                tag: tag.to_owned(),
            });
        }
        Ok(Self {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: Some(tag.to_owned()),
            digest: None,
        })
    }

    /// The same repository and tag with digest `digest` (`algorithm:encoded`),
    /// replacing any digest already present.
    ///
    /// # Errors
    ///
    /// Returns [`ImageRefError::InvalidDigest`] when `digest` is not a valid digest.
    pub fn with_digest(&self, digest: &str) -> Result<Self, ImageRefError> {
        if !is_valid_digest(digest) {
            let mut input = self.repository_path();
            if let Some(tag) = &self.tag {
                input.push(':');
                input.push_str(tag);
            }
            input.push('@');
            input.push_str(digest);
            return Err(ImageRefError::InvalidDigest {
                input,
                digest: digest.to_owned(),
            });
        }
        Ok(Self {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: self.tag.clone(),
            digest: Some(digest.to_owned()),
        })
    }

    /// The normalised name without tag or digest: `"docker.io/library/nginx"`.
    #[must_use]
    pub fn repository_path(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The short form `docker` prints: `"nginx:1.25"`, `"org/app:v1"`,
    /// `"ghcr.io/o/a:1"`.
    ///
    /// Docker Hub's `docker.io/` is dropped, and so is `library/` before a
    /// single remaining component. Unlike Docker's `FamiliarString`, the
    /// `docker.io/` prefix is kept when dropping it would make the first path
    /// component read as a registry (`docker.io/foo.bar/app`), so the result
    /// always parses back to an equal reference. For the same reason `library/`
    /// stays when dropping it would leave an image ID (`library/<64 hex>`,
    /// `library/sha256:<64 hex>`).
    #[must_use]
    pub fn familiar(&self) -> String {
        if !self.is_docker_hub() {
            return self.to_string();
        }
        let name = match self.repository.strip_prefix(OFFICIAL_PREFIX) {
            Some(official) if !official.contains('/') => official,
            _ => match self.repository.split_once('/') {
                // Without `docker.io/`, `first` would be read as a registry.
                Some((first, _)) if looks_like_registry(first) => return self.to_string(),
                _ => &self.repository,
            },
        };
        let mut out = name.to_owned();
        self.push_tag_and_digest(&mut out);
        if is_image_id(&out) {
            // `parse` refuses image IDs, so the short form would not name this image.
            out.insert_str(0, OFFICIAL_PREFIX);
        }
        out
    }

    /// Appends `:tag` and `@digest` when present.
    fn push_tag_and_digest(&self, out: &mut String) {
        if let Some(tag) = &self.tag {
            out.push(':');
            out.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            out.push('@');
            out.push_str(digest);
        }
    }
}

impl fmt::Display for ImageReference {
    /// The full normalised form: `docker.io/library/nginx:1.25`,
    /// `ghcr.io/org/app:v1.2@sha256:…`, `localhost:5000/a/b`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl FromStr for ImageReference {
    type Err = ImageRefError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<&str> for ImageReference {
    type Error = ImageRefError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

impl TryFrom<String> for ImageReference {
    type Error = ImageRefError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<ImageReference> for String {
    fn from(r: ImageReference) -> Self {
        r.to_string()
    }
}

/// Whether `c` may appear anywhere in a reference.
fn is_reference_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(c, '.' | '_' | '-' | ':' | '/' | '@' | '[' | ']' | '+' | '=')
}

/// Splits `name[:tag]` at the last `:` after the last `/` (a `:` before a
/// `/` belongs to the registry's port).
fn split_tag(name_and_tag: &str) -> (&str, Option<&str>) {
    let last_segment = name_and_tag.rfind('/').map_or(0, |slash| slash + 1);
    match name_and_tag[last_segment..].rfind(':') {
        Some(colon) => {
            let colon = last_segment + colon;
            (&name_and_tag[..colon], Some(&name_and_tag[colon + 1..]))
        }
        None => (name_and_tag, None),
    }
}

/// Splits a name into its registry (if it names one) and repository path,
/// following distribution/reference's `splitDockerDomain`.
fn split_registry(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest)) if looks_like_registry(first) => (Some(first), rest),
        _ => (None, name),
    }
}

/// Whether the first component of a name is a registry rather than a path
/// component: it has a `.` or `:`, is `localhost`, or has upper case.
fn looks_like_registry(first: &str) -> bool {
    first.contains(['.', ':'])
        || first == "localhost"
        || first.bytes().any(|b| b.is_ascii_uppercase())
}

/// Maps Docker Hub aliases to `docker.io`; other registries are unchanged.
fn normalise_registry(registry: &str) -> &str {
    if DOCKER_HUB_ALIASES.contains(&registry) {
        DOCKER_HUB
    } else {
        registry
    }
}

/// Checks `host[:port]`: host is DNS-style labels joined by `.` or a
/// bracketed IPv6 address; port is 1 to 5 digits.
fn is_valid_registry(registry: &str) -> bool {
    let (host_ok, port) = if let Some(bracketed) = registry.strip_prefix('[') {
        let Some((address, after)) = bracketed.split_once(']') else {
            return false;
        };
        let port = match after {
            "" => None,
            after => match after.strip_prefix(':') {
                Some(port) => Some(port),
                None => return false,
            },
        };
        (is_ipv6(address), port)
    } else {
        match registry.split_once(':') {
            Some((host, port)) => (is_hostname(host), Some(port)),
            None => (is_hostname(registry), None),
        }
    };
    host_ok
        && port.is_none_or(|port| {
            (1..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit())
        })
}

/// `label ('.' label)*` with `label = [a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?`.
fn is_hostname(host: &str) -> bool {
    host.split('.').all(|label| {
        let alphanumeric = |c: char| c.is_ascii_alphanumeric();
        label.starts_with(alphanumeric)
            && label.ends_with(alphanumeric)
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}

/// A loose IPv6 check: hex groups of 1 to 4 digits separated by `:`, eight
/// groups, or fewer with exactly one `::`. (Embedded IPv4 and zones are not
/// accepted; Docker's grammar allows neither.)
fn is_ipv6(address: &str) -> bool {
    /// Counts the groups of a `:`-separated run, `None` if one is malformed.
    fn groups(part: &str) -> Option<usize> {
        if part.is_empty() {
            return Some(0);
        }
        let mut count = 0;
        for group in part.split(':') {
            if group.is_empty() || group.len() > 4 || !group.bytes().all(|b| b.is_ascii_hexdigit())
            {
                return None;
            }
            count += 1;
        }
        Some(count)
    }

    match address.split_once("::") {
        Some((head, tail)) => match (groups(head), groups(tail)) {
            (Some(head), Some(tail)) => head + tail <= 7,
            _ => false,
        },
        None => groups(address) == Some(8),
    }
}

/// Validates a repository path: lower case, non-empty `/`-separated components.
fn validate_path(input: &str, path: &str) -> Result<(), ImageRefError> {
    if path.is_empty() {
        return Err(ImageRefError::MissingRepository {
            input: input.to_owned(),
        });
    }
    if path.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(ImageRefError::UppercaseRepository {
            input: input.to_owned(),
        });
    }
    match path
        .split('/')
        .find(|component| !is_path_component(component))
    {
        Some(component) => Err(ImageRefError::InvalidRepository {
            input: input.to_owned(),
            component: component.to_owned(),
        }),
        None => Ok(()),
    }
}

/// `[a-z0-9]+ ( ( [._] | __ | -+ ) [a-z0-9]+ )*`
fn is_path_component(component: &str) -> bool {
    let mut bytes = component.bytes().peekable();
    loop {
        if !eat_lower_alnum(&mut bytes) {
            return false;
        }
        match bytes.next() {
            None => return true,
            Some(b'.') => {}
            Some(b'_') => {
                bytes.next_if_eq(&b'_');
            }
            Some(b'-') => while bytes.next_if_eq(&b'-').is_some() {},
            Some(_) => return false,
        }
    }
}

/// Consumes a run of `[a-z0-9]`; `false` if the run is empty.
fn eat_lower_alnum(bytes: &mut Peekable<Bytes<'_>>) -> bool {
    let mut any = false;
    while bytes
        .next_if(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        .is_some()
    {
        any = true;
    }
    any
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`
fn is_valid_tag(tag: &str) -> bool {
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut bytes = tag.bytes();
    tag.len() <= MAX_TAG_LEN
        && bytes.next().is_some_and(is_word)
        && bytes.all(|b| is_word(b) || b == b'.' || b == b'-')
}

/// `algorithm ":" encoded`, with the encoding checked per algorithm:
/// `sha256`/`sha384`/`sha512` need exactly 64/96/128 lower-case hex digits,
/// other algorithms at least 32 characters of `[a-zA-Z0-9=_-]`.
fn is_valid_digest(digest: &str) -> bool {
    let Some((algorithm, encoded)) = digest.split_once(':') else {
        return false;
    };
    if !is_digest_algorithm(algorithm) {
        return false;
    }
    match algorithm {
        "sha256" => is_lower_hex(encoded, 64),
        "sha384" => is_lower_hex(encoded, 96),
        "sha512" => is_lower_hex(encoded, 128),
        _ => {
            encoded.len() >= 32
                && encoded
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'))
        }
    }
}

/// `[a-z0-9]+ ( [.+_-] [a-z0-9]+ )*`
fn is_digest_algorithm(algorithm: &str) -> bool {
    let mut bytes = algorithm.bytes().peekable();
    loop {
        if !eat_lower_alnum(&mut bytes) {
            return false;
        }
        match bytes.next() {
            None => return true,
            Some(b'.' | b'+' | b'_' | b'-') => {}
            Some(_) => return false,
        }
    }
}

/// Whether `s` is exactly `len` lower-case hex digits.
fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    const HEX64: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn sha256() -> String {
        format!("sha256:{HEX64}")
    }

    fn sha512() -> String {
        format!("sha512:{HEX64}{HEX64}")
    }

    fn parse(input: &str) -> Result<ImageReference, ImageRefError> {
        ImageReference::parse(input)
    }

    /// A valid input and the parts it must parse to.
    struct Valid {
        input: String,
        registry: &'static str,
        repository: String,
        tag: Option<String>,
        digest: Option<String>,
    }

    fn ok(
        input: &str,
        registry: &'static str,
        repository: &str,
        tag: Option<&str>,
        digest: Option<&str>,
    ) -> Valid {
        Valid {
            input: input.to_owned(),
            registry,
            repository: repository.to_owned(),
            tag: tag.map(str::to_owned),
            digest: digest.map(str::to_owned),
        }
    }

    fn valid_cases() -> Vec<Valid> {
        let d256 = sha256();
        let d512 = sha512();
        let other = "foo.bar+baz_qux-1:AbCdEfGhIjKlMnOpQrStUvWxYz0123456789=_-";
        let tag128 = "A_.-".repeat(32);
        let hex63 = HEX64.get(1..).unwrap_or_default();
        // `docker.io/` plus 245 characters is exactly the 255-character limit.
        let longest_path = format!("org/{}", "a".repeat(241));
        vec![
            ok("nginx", "docker.io", "library/nginx", None, None),
            ok(
                "nginx:1.25",
                "docker.io",
                "library/nginx",
                Some("1.25"),
                None,
            ),
            ok(
                "library/nginx:1.25",
                "docker.io",
                "library/nginx",
                Some("1.25"),
                None,
            ),
            ok("docker.io/nginx", "docker.io", "library/nginx", None, None),
            ok(
                "docker.io/library/nginx",
                "docker.io",
                "library/nginx",
                None,
                None,
            ),
            ok(
                "index.docker.io/library/nginx:latest",
                "docker.io",
                "library/nginx",
                Some("latest"),
                None,
            ),
            ok(
                "index.docker.io/nginx",
                "docker.io",
                "library/nginx",
                None,
                None,
            ),
            ok(
                "registry-1.docker.io/org/app:v1",
                "docker.io",
                "org/app",
                Some("v1"),
                None,
            ),
            ok("org/app", "docker.io", "org/app", None, None),
            ok("org/app:v1", "docker.io", "org/app", Some("v1"), None),
            ok("docker.io/org/app", "docker.io", "org/app", None, None),
            ok("a/b/c/d/e", "docker.io", "a/b/c/d/e", None, None),
            ok("0/1", "docker.io", "0/1", None, None),
            ok(
                "docker.io/library/library",
                "docker.io",
                "library/library",
                None,
                None,
            ),
            ok(
                "docker.io/library/a/b",
                "docker.io",
                "library/a/b",
                None,
                None,
            ),
            ok("ns/a.b", "docker.io", "ns/a.b", None, None),
            ok(&longest_path, "docker.io", &longest_path, None, None),
            ok(
                &format!("ghcr.io/org/app:v1.2@{d256}"),
                "ghcr.io",
                "org/app",
                Some("v1.2"),
                Some(&d256),
            ),
            ok("ghcr.io/org/app", "ghcr.io", "org/app", None, None),
            ok("ghcr.io/app", "ghcr.io", "app", None, None),
            ok(
                "localhost:5000/a/b:tag",
                "localhost:5000",
                "a/b",
                Some("tag"),
                None,
            ),
            ok("localhost:5000/a/b", "localhost:5000", "a/b", None, None),
            ok("localhost:5000/x", "localhost:5000", "x", None, None),
            ok("localhost/a", "localhost", "a", None, None),
            ok("registry:5000/x", "registry:5000", "x", None, None),
            ok(
                "registry.example.com/x/y/z:1",
                "registry.example.com",
                "x/y/z",
                Some("1"),
                None,
            ),
            ok("[::1]:5000/foo:bar", "[::1]:5000", "foo", Some("bar"), None),
            ok("[2001:db8::1]/foo", "[2001:db8::1]", "foo", None, None),
            ok(
                "[2001:DB8::1]:443/foo/bar:baz",
                "[2001:DB8::1]:443",
                "foo/bar",
                Some("baz"),
                None,
            ),
            ok("[1:2:3:4:5:6:7:8]/x", "[1:2:3:4:5:6:7:8]", "x", None, None),
            ok("[::]/x", "[::]", "x", None, None),
            ok(
                "192.168.1.1:5000/app",
                "192.168.1.1:5000",
                "app",
                None,
                None,
            ),
            ok("192.168.1.1/app", "192.168.1.1", "app", None, None),
            ok("example.com:65535/a", "example.com:65535", "a", None, None),
            ok(
                &format!("nginx@{d256}"),
                "docker.io",
                "library/nginx",
                None,
                Some(&d256),
            ),
            ok(
                &format!("nginx:1.25@{d256}"),
                "docker.io",
                "library/nginx",
                Some("1.25"),
                Some(&d256),
            ),
            ok(
                &format!("ghcr.io/o/a@{d512}"),
                "ghcr.io",
                "o/a",
                None,
                Some(&d512),
            ),
            ok(
                &format!("ghcr.io/o/a@{other}"),
                "ghcr.io",
                "o/a",
                None,
                Some(other),
            ),
            ok(
                "a_b/c__d/e-f--g:1_x.y-z",
                "docker.io",
                "a_b/c__d/e-f--g",
                Some("1_x.y-z"),
                None,
            ),
            ok(
                "Registry.Example.com/app",
                "Registry.Example.com",
                "app",
                None,
                None,
            ),
            // Upper case before the first `/` makes it a registry, as in Docker.
            ok("UPPER/repo", "UPPER", "repo", None, None),
            ok("UPPER:5000/x", "UPPER:5000", "x", None, None),
            ok(
                &format!("nginx:{tag128}"),
                "docker.io",
                "library/nginx",
                Some(&tag128),
                None,
            ),
            ok(
                &format!("ghcr.io/o/a:{tag128}@{d256}"),
                "ghcr.io",
                "o/a",
                Some(&tag128),
                Some(&d256),
            ),
            ok(
                "quay.io/prometheus/node-exporter:v1.8.2",
                "quay.io",
                "prometheus/node-exporter",
                Some("v1.8.2"),
                None,
            ),
            ok(
                "gcr.io/google-containers/pause:3.9",
                "gcr.io",
                "google-containers/pause",
                Some("3.9"),
                None,
            ),
            ok(
                "mcr.microsoft.com/dotnet/sdk:8.0-alpine",
                "mcr.microsoft.com",
                "dotnet/sdk",
                Some("8.0-alpine"),
                None,
            ),
            ok(
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-app:2024.01.01",
                "123456789012.dkr.ecr.us-east-1.amazonaws.com",
                "my-app",
                Some("2024.01.01"),
                None,
            ),
            ok(
                "my-registry.local:8443/team/service/api:sha-abc123",
                "my-registry.local:8443",
                "team/service/api",
                Some("sha-abc123"),
                None,
            ),
            ok(
                "xn--bcher-kva.example/app",
                "xn--bcher-kva.example",
                "app",
                None,
                None,
            ),
            ok(
                "nginx:_tag",
                "docker.io",
                "library/nginx",
                Some("_tag"),
                None,
            ),
            ok(
                "nginx:Latest",
                "docker.io",
                "library/nginx",
                Some("Latest"),
                None,
            ),
            ok(
                "nginx:1-alpine",
                "docker.io",
                "library/nginx",
                Some("1-alpine"),
                None,
            ),
            // Without a `/` nothing is a registry: these are Docker Hub names.
            ok("ghcr.io", "docker.io", "library/ghcr.io", None, None),
            ok("localhost", "docker.io", "library/localhost", None, None),
            ok(
                "localhost:5000",
                "docker.io",
                "library/localhost",
                Some("5000"),
                None,
            ),
            // `sha256` with a 63-digit tag is a name, not an image ID.
            ok(
                &format!("sha256:{hex63}"),
                "docker.io",
                "library/sha256",
                Some(hex63),
                None,
            ),
        ]
    }

    #[test]
    fn valid_references_parse_to_their_parts() -> Result<(), ImageRefError> {
        let cases = valid_cases();
        assert!(cases.len() >= 40, "only {} valid cases", cases.len());
        for case in &cases {
            let input = case.input.as_str();
            let r = parse(input)?;
            assert_eq!(r.registry(), case.registry, "registry of {input:?}");
            assert_eq!(r.repository(), case.repository, "repository of {input:?}");
            assert_eq!(r.tag(), case.tag.as_deref(), "tag of {input:?}");
            assert_eq!(r.digest(), case.digest.as_deref(), "digest of {input:?}");
            assert_eq!(
                parse(&r.to_string()).as_ref(),
                Ok(&r),
                "to_string of {input:?}"
            );
            assert_eq!(
                parse(&r.familiar()).as_ref(),
                Ok(&r),
                "familiar of {input:?}"
            );
            assert_eq!(input.parse::<ImageReference>().as_ref(), Ok(&r));
            assert_eq!(ImageReference::try_from(input).as_ref(), Ok(&r));
        }
        Ok(())
    }

    /// The variant name of an error, for table assertions.
    fn kind(error: &ImageRefError) -> &'static str {
        match error {
            ImageRefError::Empty => "Empty",
            ImageRefError::InvalidCharacter { .. } => "InvalidCharacter",
            ImageRefError::TooLong { .. } => "TooLong",
            ImageRefError::ImageId { .. } => "ImageId",
            ImageRefError::MissingRepository { .. } => "MissingRepository",
            ImageRefError::InvalidRegistry { .. } => "InvalidRegistry",
            ImageRefError::InvalidRepository { .. } => "InvalidRepository",
            ImageRefError::UppercaseRepository { .. } => "UppercaseRepository",
            ImageRefError::InvalidTag { .. } => "InvalidTag",
            ImageRefError::InvalidDigest { .. } => "InvalidDigest",
        }
    }

    fn invalid_cases() -> Vec<(String, &'static str)> {
        let d256 = sha256();
        let too_long = format!("org/{}", "a".repeat(242)); // docker.io/ + 246 = 256
        let cases = vec![
            (String::new(), "Empty"),
            (" ".into(), "InvalidCharacter"),
            (" nginx".into(), "InvalidCharacter"),
            ("nginx ".into(), "InvalidCharacter"),
            ("ngi nx".into(), "InvalidCharacter"),
            ("nginx:1.25\n".into(), "InvalidCharacter"),
            ("nginx\t".into(), "InvalidCharacter"),
            ("ngïnx".into(), "InvalidCharacter"),
            ("nginx:tag!".into(), "InvalidCharacter"),
            ("org/app:é".into(), "InvalidCharacter"),
            ("nginx:".into(), "InvalidTag"),
            ("nginx:-tag".into(), "InvalidTag"),
            ("nginx:.tag".into(), "InvalidTag"),
            (format!("nginx:{}", "a".repeat(129)), "InvalidTag"),
            (format!("nginx:@{d256}"), "InvalidTag"),
            (":tag".into(), "MissingRepository"),
            (format!("@{d256}"), "MissingRepository"),
            ("ghcr.io/".into(), "MissingRepository"),
            ("ghcr.io/:tag".into(), "MissingRepository"),
            ("nginx@".into(), "InvalidDigest"),
            ("nginx@sha256:abc".into(), "InvalidDigest"),
            (
                format!("nginx@sha256:{}", HEX64.to_uppercase()),
                "InvalidDigest",
            ),
            (format!("nginx@sha256:{HEX64}0"), "InvalidDigest"),
            (format!("nginx@sha512:{HEX64}"), "InvalidDigest"),
            (format!("nginx@SHA256:{HEX64}"), "InvalidDigest"),
            ("nginx@md5:d41d8cd98f00b204".into(), "InvalidDigest"),
            (format!("nginx@{HEX64}"), "InvalidDigest"),
            (format!("nginx@sha256:{HEX64}@x"), "InvalidDigest"),
            ("ghcr.io/org/app:v1@".into(), "InvalidDigest"),
            ("a//b".into(), "InvalidRepository"),
            ("/nginx".into(), "InvalidRepository"),
            ("nginx/".into(), "InvalidRepository"),
            ("a/b_-c".into(), "InvalidRepository"),
            ("a/b___c".into(), "InvalidRepository"),
            ("a/.b".into(), "InvalidRepository"),
            ("a/b.".into(), "InvalidRepository"),
            ("-a/b".into(), "InvalidRepository"),
            ("nginx:1:2".into(), "InvalidRepository"),
            ("[zz]/app".into(), "InvalidRepository"),
            ("Nginx".into(), "UppercaseRepository"),
            ("org/App".into(), "UppercaseRepository"),
            ("ghcr.io/Org/app".into(), "UppercaseRepository"),
            ("UPPER/Repo:tag".into(), "UppercaseRepository"),
            ("-ghcr.io/app".into(), "InvalidRegistry"),
            ("ghcr-.io/app".into(), "InvalidRegistry"),
            ("ghcr..io/app".into(), "InvalidRegistry"),
            (".ghcr.io/app".into(), "InvalidRegistry"),
            ("ghcr_io.com/app".into(), "InvalidRegistry"),
            ("localhost:/app".into(), "InvalidRegistry"),
            ("localhost:123456/app".into(), "InvalidRegistry"),
            ("localhost:12a/app".into(), "InvalidRegistry"),
            ("localhost:1:2/app".into(), "InvalidRegistry"),
            (":5000/app".into(), "InvalidRegistry"),
            ("[zz]:5000/app".into(), "InvalidRegistry"),
            ("[::1/app".into(), "InvalidRegistry"),
            ("[::1]x/app".into(), "InvalidRegistry"),
            ("[::1]:/app".into(), "InvalidRegistry"),
            ("[]:5000/app".into(), "InvalidRegistry"),
            ("[:::]/app".into(), "InvalidRegistry"),
            ("[1::2::3]/app".into(), "InvalidRegistry"),
            ("[12345::1]/app".into(), "InvalidRegistry"),
            ("[1:2:3:4:5:6:7]/app".into(), "InvalidRegistry"),
            ("[1:2:3:4:5:6:7:8:9]/app".into(), "InvalidRegistry"),
            ("[::ffff:1.2.3.4]/app".into(), "InvalidRegistry"),
            ("Foo_Bar/app".into(), "InvalidRegistry"),
            (HEX64.into(), "ImageId"),
            (d256.clone(), "ImageId"),
            (too_long, "TooLong"),
            (format!("ghcr.io/{}", "a/".repeat(124) + "abcd"), "TooLong"),
        ];
        cases
    }

    #[test]
    fn invalid_references_are_rejected_with_the_right_variant() {
        let cases = invalid_cases();
        assert!(cases.len() >= 25, "only {} invalid cases", cases.len());
        for (input, expected) in &cases {
            match parse(input) {
                Ok(r) => panic!("{input:?} parsed as {r:?}, expected {expected}"),
                Err(error) => {
                    assert_eq!(kind(&error), *expected, "{input:?}: {error}");
                    if !input.is_empty() {
                        let message = error.to_string();
                        assert!(
                            message.contains(&format!("{input:?}")),
                            "message for {input:?} does not name it: {message}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn errors_carry_the_offending_part() {
        assert_eq!(
            parse("nginx:-x"),
            Err(ImageRefError::InvalidTag {
                input: "nginx:-x".into(),
                tag: "-x".into()
            })
        );
        assert_eq!(
            parse("a//b"),
            Err(ImageRefError::InvalidRepository {
                input: "a//b".into(),
                component: String::new()
            })
        );
        assert_eq!(
            parse("ghcr..io/app"),
            Err(ImageRefError::InvalidRegistry {
                input: "ghcr..io/app".into(),
                registry: "ghcr..io".into()
            })
        );
        assert_eq!(
            parse("ng nx"),
            Err(ImageRefError::InvalidCharacter {
                input: "ng nx".into(),
                character: ' ',
                index: 2
            })
        );
        assert_eq!(
            parse("nginx@sha256:abc"),
            Err(ImageRefError::InvalidDigest {
                input: "nginx@sha256:abc".into(),
                digest: "sha256:abc".into()
            })
        );
        let too_long = format!("org/{}", "a".repeat(242));
        assert_eq!(
            parse(&too_long),
            Err(ImageRefError::TooLong {
                input: too_long.clone(),
                len: 256
            })
        );
        assert_eq!(parse(""), Err(ImageRefError::Empty));
    }

    /// Found by the `image_ref` fuzz target (`fuzz/regressions/image_ref/`): the familiar form of
    /// an official image named like an image ID was the image ID, which `parse` refuses.
    #[test]
    fn the_familiar_form_of_an_image_named_like_an_image_id_parses_back()
    -> Result<(), ImageRefError> {
        let cases = [
            (format!("docker.io/{HEX64}"), format!("library/{HEX64}")),
            (
                format!("docker.io/library/sha256:{HEX64}"),
                format!("library/sha256:{HEX64}"),
            ),
            // With a tag the short form is no image ID, and `library/` goes as usual.
            (format!("library/{HEX64}:1"), format!("{HEX64}:1")),
        ];
        for (input, familiar) in cases {
            let r = parse(&input)?;
            assert_eq!(r.familiar(), familiar, "familiar of {input:?}");
            assert_eq!(parse(&r.familiar()), Ok(r), "familiar of {input:?}");
        }
        Ok(())
    }

    #[test]
    fn display_and_familiar_forms() -> Result<(), ImageRefError> {
        let d256 = sha256();
        let cases = [
            ("nginx", "docker.io/library/nginx", "nginx"),
            (
                "library/nginx:1.25",
                "docker.io/library/nginx:1.25",
                "nginx:1.25",
            ),
            (
                "index.docker.io/library/nginx:latest",
                "docker.io/library/nginx:latest",
                "nginx:latest",
            ),
            ("org/app:v1", "docker.io/org/app:v1", "org/app:v1"),
            ("ghcr.io/o/a:1", "ghcr.io/o/a:1", "ghcr.io/o/a:1"),
            (
                "localhost:5000/a/b:tag",
                "localhost:5000/a/b:tag",
                "localhost:5000/a/b:tag",
            ),
            (
                "localhost:5000/a/b",
                "localhost:5000/a/b",
                "localhost:5000/a/b",
            ),
            (
                "docker.io/library/a/b",
                "docker.io/library/a/b",
                "library/a/b",
            ),
            // Dropping `docker.io/` here would turn `foo.bar` into a registry.
            (
                "docker.io/foo.bar/app",
                "docker.io/foo.bar/app",
                "docker.io/foo.bar/app",
            ),
            (
                "docker.io/localhost/app",
                "docker.io/localhost/app",
                "docker.io/localhost/app",
            ),
            ("docker.io/foo.bar", "docker.io/library/foo.bar", "foo.bar"),
            (
                &format!("ghcr.io/org/app:v1.2@{d256}"),
                &format!("ghcr.io/org/app:v1.2@{d256}"),
                &format!("ghcr.io/org/app:v1.2@{d256}"),
            ),
            (
                &format!("nginx@{d256}"),
                &format!("docker.io/library/nginx@{d256}"),
                &format!("nginx@{d256}"),
            ),
            (
                "[::1]:5000/foo:bar",
                "[::1]:5000/foo:bar",
                "[::1]:5000/foo:bar",
            ),
        ];
        for (input, full, familiar) in cases {
            let r = parse(input)?;
            assert_eq!(r.to_string(), full, "to_string of {input:?}");
            assert_eq!(r.familiar(), familiar, "familiar of {input:?}");
            assert_eq!(String::from(r.clone()), full);
        }
        Ok(())
    }

    #[test]
    fn accessors() -> Result<(), ImageRefError> {
        let nginx = parse("nginx")?;
        assert_eq!(nginx.tag(), None);
        assert_eq!(nginx.tag_or_latest(), "latest");
        assert!(nginx.is_docker_hub());
        assert_eq!(nginx.repository_path(), "docker.io/library/nginx");

        let pinned = parse(&format!("nginx@{}", sha256()))?;
        assert_eq!(pinned.tag_or_latest(), "latest");

        let tagged = parse("ghcr.io/org/app:v1.2")?;
        assert_eq!(tagged.tag_or_latest(), "v1.2");
        assert!(!tagged.is_docker_hub());
        assert_eq!(tagged.repository_path(), "ghcr.io/org/app");

        assert!(parse("index.docker.io/org/app")?.is_docker_hub());
        assert!(parse("registry-1.docker.io/org/app")?.is_docker_hub());
        assert!(!parse("localhost:5000/app")?.is_docker_hub());
        Ok(())
    }

    #[test]
    fn spellings_of_the_same_image_are_equal() -> Result<(), ImageRefError> {
        let spellings = [
            "nginx:1.25",
            "library/nginx:1.25",
            "docker.io/nginx:1.25",
            "docker.io/library/nginx:1.25",
            "index.docker.io/nginx:1.25",
            "registry-1.docker.io/library/nginx:1.25",
        ];
        let set = spellings
            .iter()
            .map(|s| parse(s))
            .collect::<Result<HashSet<_>, _>>()?;
        assert_eq!(set.len(), 1);
        assert_ne!(parse("nginx")?, parse("nginx:latest")?);
        assert_ne!(parse("ghcr.io/nginx")?, parse("nginx")?);
        Ok(())
    }

    #[test]
    fn with_tag_and_with_digest() -> Result<(), ImageRefError> {
        let d256 = sha256();
        let pinned = parse(&format!("ghcr.io/org/app:v1@{d256}"))?;

        let retagged = pinned.with_tag("v2")?;
        assert_eq!(retagged.to_string(), "ghcr.io/org/app:v2");
        assert_eq!(retagged.digest(), None);

        let repinned = retagged.with_digest(&d256)?;
        assert_eq!(repinned, pinned.with_tag("v2")?.with_digest(&d256)?);
        assert_eq!(repinned.to_string(), format!("ghcr.io/org/app:v2@{d256}"));

        let untagged = parse("nginx")?.with_digest(&d256)?;
        assert_eq!(
            untagged.to_string(),
            format!("docker.io/library/nginx@{d256}")
        );

        assert_eq!(
            pinned.with_tag("bad tag"),
            Err(ImageRefError::InvalidTag {
                input: "ghcr.io/org/app:bad tag".into(),
                tag: "bad tag".into()
            })
        );
        assert_eq!(
            pinned.with_tag(""),
            Err(ImageRefError::InvalidTag {
                input: "ghcr.io/org/app:".into(),
                tag: String::new()
            })
        );
        assert_eq!(
            pinned.with_digest("sha256:abc"),
            Err(ImageRefError::InvalidDigest {
                input: "ghcr.io/org/app:v1@sha256:abc".into(),
                digest: "sha256:abc".into()
            })
        );
        assert!(matches!(
            pinned.with_digest("sha256:é"),
            Err(ImageRefError::InvalidDigest { .. })
        ));
        Ok(())
    }

    #[test]
    fn image_ids() {
        assert!(is_image_id(HEX64));
        assert!(is_image_id(&sha256()));
        assert!(!is_image_id(&HEX64.to_uppercase()));
        assert!(!is_image_id(HEX64.get(1..).unwrap_or_default()));
        assert!(!is_image_id(&format!("sha512:{HEX64}")));
        assert!(!is_image_id(&format!("{HEX64}0")));
        assert!(!is_image_id("nginx"));
        assert!(!is_image_id(""));
    }

    #[cfg(feature = "serde")]
    #[test]
    fn serde_uses_the_string_form() -> Result<(), Box<dyn std::error::Error>> {
        let r = parse("nginx:1.25")?;
        let json = serde_json::to_string(&r)?;
        assert_eq!(json, "\"docker.io/library/nginx:1.25\"");
        assert_eq!(serde_json::from_str::<ImageReference>("\"nginx:1.25\"")?, r);
        assert!(serde_json::from_str::<ImageReference>("\"Nginx\"").is_err());
        Ok(())
    }

    // ---- property tests ----

    /// Every accepted reference must survive both printed forms.
    fn check_round_trip(r: &ImageReference) -> Result<(), TestCaseError> {
        let full = parse(&r.to_string());
        prop_assert_eq!(full.as_ref(), Ok(r));
        let familiar = parse(&r.familiar());
        prop_assert_eq!(familiar.as_ref(), Ok(r));
        Ok(())
    }

    fn port() -> impl Strategy<Value = String> {
        proptest::option::of(0u32..=99_999)
            .prop_map(|p| p.map(|p| format!(":{p}")).unwrap_or_default())
    }

    /// Registries that `splitDockerDomain` recognises, or `None` for an implicit Docker Hub.
    fn registry() -> impl Strategy<Value = Option<String>> {
        const DOTTED_HOST: &str = concat!(
            "[a-zA-Z0-9]([a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?",
            "(\\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?){1,3}",
        );
        prop_oneof![
            Just(None),
            prop::sample::select(vec!["docker.io", "index.docker.io", "registry-1.docker.io"])
                .prop_map(|r| Some(r.to_owned())),
            (DOTTED_HOST, port()).prop_map(|(host, port)| Some(host + &port)),
            port().prop_map(|port| Some(format!("localhost{port}"))),
            ("[a-z0-9]{1,8}", 0u32..=99_999)
                .prop_map(|(host, port)| Some(format!("{host}:{port}"))),
            ("[A-Z][a-zA-Z0-9]{0,8}", port()).prop_map(|(host, port)| Some(host + &port)),
            (
                prop::sample::select(vec![
                    "::1",
                    "::",
                    "2001:db8::1",
                    "fe80::1:2:3:4",
                    "1:2:3:4:5:6:7:8",
                    "A:b::C",
                    "1::",
                ]),
                port(),
            )
                .prop_map(|(address, port)| Some(format!("[{address}]{port}"))),
        ]
    }

    fn path() -> impl Strategy<Value = String> {
        prop::collection::vec("[a-z0-9]{1,6}(([._]|__|-{1,3})[a-z0-9]{1,6}){0,2}", 1..=4)
            .prop_map(|components| components.join("/"))
    }

    fn digest() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-f0-9]{64}".prop_map(|hex| format!("sha256:{hex}")),
            "[a-f0-9]{128}".prop_map(|hex| format!("sha512:{hex}")),
            "[a-z0-9]{1,6}([.+_-][a-z0-9]{1,6}){0,2}:[a-zA-Z0-9=_-]{32,40}",
        ]
    }

    type Parts = (Option<String>, String, Option<String>, Option<String>);

    fn parts() -> impl Strategy<Value = Parts> {
        (
            registry(),
            path(),
            proptest::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,30}"),
            proptest::option::of(digest()),
        )
    }

    fn render((registry, path, tag, digest): &Parts) -> String {
        let mut s = registry
            .as_ref()
            .map(|r| format!("{r}/"))
            .unwrap_or_default();
        s.push_str(path);
        if let Some(tag) = tag {
            s.push(':');
            s.push_str(tag);
        }
        if let Some(digest) = digest {
            s.push('@');
            s.push_str(digest);
        }
        s
    }

    /// Whether an implicit-Hub path would be read as `registry/path` instead.
    fn ambiguous((registry, path, _, _): &Parts) -> bool {
        registry.is_none()
            && matches!(path.split_once('/'), Some((first, _)) if looks_like_registry(first))
    }

    const ALPHABET: &str = "[a-zA-Z0-9:/@._\\-\\[\\]]{0,80}";

    proptest! {
        #[test]
        fn parse_never_panics_on_any_string(s in any::<String>()) {
            if let Ok(r) = parse(&s) {
                check_round_trip(&r)?;
            }
        }

        #[test]
        fn parse_never_panics_on_reference_alphabet(s in ALPHABET) {
            if let Ok(r) = parse(&s) {
                check_round_trip(&r)?;
            }
        }

        #[test]
        fn generated_references_parse_and_round_trip(parts in parts()) {
            prop_assume!(!ambiguous(&parts));
            let input = render(&parts);
            let r = parse(&input);
            prop_assert!(r.is_ok(), "{:?} rejected: {:?}", input, r);
            let Ok(r) = r else { return Ok(()) };

            let (registry, path, tag, digest) = &parts;
            let expected_registry = normalise_registry(registry.as_deref().unwrap_or(DOCKER_HUB));
            prop_assert_eq!(r.registry(), expected_registry);
            if expected_registry == DOCKER_HUB && !path.contains('/') {
                prop_assert_eq!(r.repository(), format!("library/{path}"));
            } else {
                prop_assert_eq!(r.repository(), path.as_str());
            }
            prop_assert_eq!(r.tag(), tag.as_deref());
            prop_assert_eq!(r.digest(), digest.as_deref());
            check_round_trip(&r)?;
        }

        #[test]
        fn mutated_references_never_panic_and_round_trip_when_accepted(
            parts in parts(),
            at in any::<prop::sample::Index>(),
            insert in proptest::option::of(prop::sample::select(
                ":/@._-[]+=aZ9 é".chars().collect::<Vec<_>>()
            )),
        ) {
            let mut input = render(&parts);
            // `render` yields ASCII only, so every byte offset is a char boundary.
            match insert {
                Some(c) => input.insert(at.index(input.len() + 1), c),
                None => {
                    input.remove(at.index(input.len()));
                }
            }
            if let Ok(r) = parse(&input) {
                check_round_trip(&r)?;
            }
        }

        #[test]
        fn with_tag_and_with_digest_round_trip(
            parts in parts(),
            tag in "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}",
            digest in digest(),
        ) {
            prop_assume!(!ambiguous(&parts));
            let Ok(r) = parse(&render(&parts)) else {
                return Err(TestCaseError::fail("generated reference rejected"));
            };
            let Ok(tagged) = r.with_tag(&tag) else {
                return Err(TestCaseError::fail("valid tag rejected"));
            };
            prop_assert_eq!(tagged.tag(), Some(tag.as_str()));
            prop_assert_eq!(tagged.digest(), None);
            check_round_trip(&tagged)?;
            let Ok(pinned) = tagged.with_digest(&digest) else {
                return Err(TestCaseError::fail("valid digest rejected"));
            };
            prop_assert_eq!(pinned.tag(), Some(tag.as_str()));
            prop_assert_eq!(pinned.digest(), Some(digest.as_str()));
            check_round_trip(&pinned)?;
        }
    }
}
