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
mod tests;
