//! Tags read as versions.
//!
//! Registries hold tags in every shape: `1.25.3`, `v2.4`, `16-alpine`, `2021.6.4`, `1.2.3.4`,
//! `4.0.1-ls245`, `1.3.0-rc.1`, `20240101`, `latest`. A tag is read as
//!
//! ```text
//! prefix  numeric core   prerelease  variant
//! v       1.2.3          -rc.1       -alpine3.19
//! ```
//!
//! - the *prefix* is the run of letters (and `-`, `_`, `.`) before the first digit (`v`, `release-`);
//! - the *numeric core* is one to [`MAX_SEGMENTS`] dot-separated numbers;
//! - the *prerelease* is a known prerelease keyword (`alpha`, `beta`, `rc`, `pre`, `preview`, `dev`,
//!   `snapshot`, `canary`, `nightly`, `milestone`, and `a`/`b`/`m` when a number follows) with its
//!   numbers;
//! - the *variant* is whatever remains (`-alpine`, `-ls245`, `-slim-bookworm`, `-r1`).
//!
//! Two tags belong to the same *family* when they share prefix, number of numeric segments, version
//! scheme (semantic or calendar) and variant template; see [`Version::family_conflict`]. In a variant,
//! digits inside a word name the family (`-jdk17` is not `-jdk21`, `-alpine3.18` is not
//! `-alpine3.19`); numbers standing alone or beside single letters count up (`-12`, `-r5`, `-k3s1`,
//! a timestamp), as do build markers (`-ls245`); commit hashes match any hash. Within a family,
//! versions are ordered by [`Version::cmp_precedence`]: numeric core, then prerelease (a release beats
//! its prereleases), then the counting numbers (`-ls99` < `-ls100`, as numbers, not text).
//!
//! Tags that name a commit (`sha-1a2b3c4`, `8f4248874`) or carry no number (`latest`, `stable`) are
//! not versions.

use std::cmp::Ordering;
use std::fmt;

/// The most numeric segments a version may have (`1.2.3.4.5.6.7.8`). Longer runs are not versions.
pub const MAX_SEGMENTS: usize = 8;

/// The longest prefix accepted before the numeric core (`release-candidate-` fits).
const MAX_PREFIX: usize = 24;

/// Numbers with more digits than this are identifiers, not versions (a 64-bit value holds 19).
const MAX_DIGITS: usize = 18;

/// A tag read as a version. Borrows the tag text; parsing never allocates.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Version<'a> {
    text: &'a str,
    prefix: &'a str,
    segments: [Segment; MAX_SEGMENTS],
    len: u8,
    prerelease: Option<Prerelease<'a>>,
    variant: &'a str,
}

/// One number of the numeric core.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Segment {
    value: u64,
    /// Written with a leading zero (`06` in `2021.06.04`).
    leading_zero: bool,
}

/// The prerelease part of a version (`rc.1` in `1.3.0-rc.1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Prerelease<'a> {
    stage: Stage,
    /// The text of the prerelease, separator excluded (`rc.1`).
    text: &'a str,
    /// The text after the keyword, holding the prerelease numbers (`.1`).
    numbers: &'a str,
}

/// Prerelease stages, least mature first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Dev,
    Alpha,
    Beta,
    Milestone,
    Preview,
    ReleaseCandidate,
}

/// The version scheme, read from the first number: calendar versions start with a year or a date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// Semantic-style numbers (`1.2.3`, `16`).
    Semantic,
    /// Calendar versions and dates (`2021.6.4`, `20240101`): the first number is 1000 or more.
    Calendar,
}

/// Why two versions are not of the same family. Used in selection traces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FamilyConflict {
    /// The text before the numbers differs (`v1.2.3` against `1.2.4`).
    Prefix,
    /// The number of numeric segments differs (`1.2` against `1.2.3`).
    SegmentCount,
    /// One is a calendar version and the other is not (`10.11.4` against `2021.12.16`).
    Scheme,
    /// The variant after the version differs (`-alpine` against `-slim`).
    Variant,
    /// The other version writes a segment with a leading zero where this one does not.
    LeadingZero,
}

impl fmt::Display for FamilyConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Prefix => "different prefix",
            Self::SegmentCount => "different number of numeric segments",
            Self::Scheme => "different version scheme (calendar against semantic)",
            Self::Variant => "different variant suffix",
            Self::LeadingZero => "leading zero in a segment",
        })
    }
}

/// Which part of a version changed between two versions of a family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum SemverDiff {
    /// The first number changed, or a prerelease of `x.0.0` was released.
    Major,
    /// The second number changed, or a prerelease of `x.y.0` was released.
    Minor,
    /// A later number or the variant's build number changed (`1.2.3` → `1.2.4`, `-ls245` → `-ls246`).
    Patch,
    /// Only the prerelease changed (`1.3.0-rc.1` → `1.3.0-rc.2`).
    Prerelease,
    /// The change cannot be classified (for instance the current tag is not a version).
    Unknown,
}

impl SemverDiff {
    /// The lower-case name used in the API and in configuration (`major`, `minor`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Major => "major",
            Self::Minor => "minor",
            Self::Patch => "patch",
            Self::Prerelease => "prerelease",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for SemverDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'a> Version<'a> {
    /// Reads `tag` as a version, or returns `None` when it is not one.
    ///
    /// ```
    /// use drydock_core::version::Version;
    ///
    /// let v = Version::parse("v1.2.3-rc.1-alpine").unwrap();
    /// assert_eq!(v.prefix(), "v");
    /// assert_eq!(v.numbers().collect::<Vec<_>>(), [1, 2, 3]);
    /// assert!(v.is_prerelease());
    /// assert_eq!(v.variant(), "-alpine");
    /// assert!(Version::parse("latest").is_none());
    /// assert!(Version::parse("sha-1a2b3c4").is_none());
    /// ```
    pub fn parse(tag: &'a str) -> Option<Self> {
        // Only characters a tag may hold: `sha256:…` (a digest) or `a b` are not versions.
        let tag_like = tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'+' | b'~'));
        if tag.is_empty() || tag.len() > 128 || !tag_like || looks_like_commit(tag) {
            return None;
        }
        let bytes = tag.as_bytes();
        let start = bytes.iter().position(u8::is_ascii_digit)?;
        let prefix = &tag[..start];
        if !valid_prefix(prefix) {
            return None;
        }
        let mut segments = [Segment::default(); MAX_SEGMENTS];
        let mut len = 0usize;
        let mut pos = start;
        loop {
            let digits_end = pos
                + bytes[pos..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
            let digits = &tag[pos..digits_end];
            if digits.len() > MAX_DIGITS || len == MAX_SEGMENTS {
                return None;
            }
            segments[len] = Segment {
                value: digits.parse().ok()?,
                leading_zero: digits.len() > 1 && digits.starts_with('0'),
            };
            len += 1;
            pos = digits_end;
            // Another segment follows only when a dot is followed by a digit.
            if bytes.get(pos) == Some(&b'.') && bytes.get(pos + 1).is_some_and(u8::is_ascii_digit) {
                pos += 1;
            } else {
                break;
            }
        }
        let rest = &tag[pos..];
        let (prerelease, variant) = match split_prerelease(rest) {
            Some((pre, variant)) => (Some(pre), variant),
            None => (None, rest),
        };
        Some(Self {
            text: tag,
            prefix,
            segments,
            len: len as u8,
            prerelease,
            variant,
        })
    }

    /// The tag this version was read from.
    pub fn as_str(&self) -> &'a str {
        self.text
    }

    /// The text before the first number (`v` in `v1.2`), possibly empty.
    pub fn prefix(&self) -> &'a str {
        self.prefix
    }

    /// The numbers of the numeric core, in order.
    pub fn numbers(&self) -> impl Iterator<Item = u64> + '_ {
        self.segments().iter().map(|s| s.value)
    }

    /// How many numbers the numeric core has (`16` has 1, `1.2.3.4` has 4).
    pub fn segment_count(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether the version is a prerelease (`rc`, `beta`, ...).
    pub fn is_prerelease(&self) -> bool {
        self.prerelease.is_some()
    }

    /// The prerelease text without its separator (`rc.1`), if any.
    pub fn prerelease(&self) -> Option<&'a str> {
        self.prerelease.map(|p| p.text)
    }

    /// What follows the numbers and the prerelease (`-alpine3.19`), possibly empty.
    pub fn variant(&self) -> &'a str {
        self.variant
    }

    /// The version scheme, read from the first number.
    pub fn scheme(&self) -> Scheme {
        if self.segments[0].value >= 1000 {
            Scheme::Calendar
        } else {
            Scheme::Semantic
        }
    }

    fn segments(&self) -> &[Segment] {
        &self.segments[..usize::from(self.len)]
    }

    /// Why `other` is not in this version's family under the strict rules, or `None` when it is.
    ///
    /// Strict rules: same prefix, same number of segments, same scheme, compatible variant (equal
    /// templates, or one template extends the other with a version number, as `-alpine` and
    /// `-alpine3.19`), and no leading zero where this version has none (calendar versions excepted).
    pub fn family_conflict(&self, other: &Version<'_>) -> Option<FamilyConflict> {
        if self.prefix != other.prefix {
            return Some(FamilyConflict::Prefix);
        }
        if self.len != other.len {
            return Some(FamilyConflict::SegmentCount);
        }
        if self.scheme() != other.scheme() {
            return Some(FamilyConflict::Scheme);
        }
        if !variants_compatible(self.variant, other.variant) {
            return Some(FamilyConflict::Variant);
        }
        if self.scheme() == Scheme::Semantic {
            let introduces_zero = self
                .segments()
                .iter()
                .zip(other.segments())
                .any(|(mine, theirs)| theirs.leading_zero && !mine.leading_zero);
            if introduces_zero {
                return Some(FamilyConflict::LeadingZero);
            }
        }
        None
    }

    /// Why `other` is not in this version's family under the loose rules (`dd.tag.family=loose`):
    /// only the version scheme must match.
    pub fn loose_family_conflict(&self, other: &Version<'_>) -> Option<FamilyConflict> {
        (self.scheme() != other.scheme()).then_some(FamilyConflict::Scheme)
    }

    /// Orders two versions by precedence: numeric core (missing numbers count as 0), then a release
    /// above its prereleases, then prerelease stage and numbers, then the numbers inside the variant.
    /// Equal precedence does not mean equal text (`1.2` and `1.2.0`).
    pub fn cmp_precedence(&self, other: &Version<'_>) -> Ordering {
        self.cmp_release(other).then_with(|| self.cmp_build(other))
    }

    /// Whether both variants have the same template (`-ls245` and `-ls300` do; `-alpine` and
    /// `-alpine3.19` do not, though they are compatible).
    pub fn same_variant_template(&self, other: &Version<'_>) -> bool {
        self.variant == other.variant
            || variant_template(self.variant).eq(variant_template(other.variant))
    }

    /// Orders by the numbers of the variants that count up (`-ls99` < `-ls100`, `-r1` < `-r2`,
    /// `-debian-12-r5` < `-debian-12-r15`), compared as numbers in order.
    pub fn cmp_build(&self, other: &Version<'_>) -> Ordering {
        build_numbers(self.variant).cmp(build_numbers(other.variant))
    }

    /// Whether both have the same numeric core (`1.3.0-rc.1` and `1.3.0`; not `1.3` and `1.3.0`).
    pub fn same_core(&self, other: &Version<'_>) -> bool {
        self.len == other.len && self.numbers().eq(other.numbers())
    }

    /// Orders by numeric core, then release above prerelease, then prerelease stage and numbers;
    /// the variant is ignored.
    pub fn cmp_release(&self, other: &Version<'_>) -> Ordering {
        let width = self.len.max(other.len);
        for i in 0..usize::from(width) {
            let a = self.segments.get(i).filter(|_| i < usize::from(self.len));
            let b = other.segments.get(i).filter(|_| i < usize::from(other.len));
            let ord = a.map_or(0, |s| s.value).cmp(&b.map_or(0, |s| s.value));
            if ord != Ordering::Equal {
                return ord;
            }
        }
        match (&self.prerelease, &other.prerelease) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(a), Some(b)) => a
                .stage
                .cmp(&b.stage)
                .then_with(|| cmp_number_runs(a.numbers, b.numbers)),
        }
    }

    /// Classifies the change from `self` (installed) to `newer` (candidate).
    pub fn diff(&self, newer: &Version<'_>) -> SemverDiff {
        let width = usize::from(self.len.max(newer.len));
        let value = |v: &Version<'_>, i: usize| {
            if i < usize::from(v.len) {
                v.segments[i].value
            } else {
                0
            }
        };
        if let Some(i) = (0..width).find(|&i| value(self, i) != value(newer, i)) {
            return match i {
                0 => SemverDiff::Major,
                1 => SemverDiff::Minor,
                _ => SemverDiff::Patch,
            };
        }
        match (&self.prerelease, &newer.prerelease) {
            // A prerelease was released: node-semver calls `2.0.0-rc.1` → `2.0.0` a major release.
            (Some(_), None) => {
                if (1..width).all(|i| value(self, i) == 0) {
                    SemverDiff::Major
                } else if (2..width).all(|i| value(self, i) == 0) {
                    SemverDiff::Minor
                } else {
                    SemverDiff::Patch
                }
            }
            (a, b) if a != b => SemverDiff::Prerelease,
            _ => SemverDiff::Patch,
        }
    }

    /// The version as a `semver::Version` (missing numbers are 0, numbers past the third and the
    /// prerelease become prerelease identifiers), for callers that speak semver.
    pub fn to_semver(&self) -> semver::Version {
        let value = |i: usize| {
            if i < usize::from(self.len) {
                self.segments[i].value
            } else {
                0
            }
        };
        let mut pre: Vec<String> = self
            .segments()
            .iter()
            .skip(3)
            .map(|s| s.value.to_string())
            .collect();
        if let Some(p) = self.prerelease {
            pre.extend(
                p.text
                    .split(['.', '-', '_'])
                    .filter(|s| !s.is_empty())
                    .map(str::to_ascii_lowercase),
            );
        }
        let pre = semver::Prerelease::new(&pre.join(".")).unwrap_or(semver::Prerelease::EMPTY);
        semver::Version {
            major: value(0),
            minor: value(1),
            patch: value(2),
            pre,
            build: semver::BuildMetadata::EMPTY,
        }
    }
}

impl fmt::Debug for Version<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Version")
            .field("text", &self.text)
            .field("prefix", &self.prefix)
            .field("numbers", &self.numbers().collect::<Vec<_>>())
            .field("prerelease", &self.prerelease())
            .field("variant", &self.variant)
            .finish()
    }
}

impl fmt::Display for Version<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text)
    }
}

/// A prefix is empty, or letters possibly joined by `-`, `_` or `.` (`v`, `release-`, `jdk-`).
fn valid_prefix(prefix: &str) -> bool {
    prefix.len() <= MAX_PREFIX
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphabetic() || matches!(b, b'-' | b'_' | b'.'))
        && !prefix.starts_with(['-', '_', '.'])
}

/// Commit-named tags (`1a2b3c4`, `sha-1a2b3c4d`, `git-8f42488`) are identifiers, not versions:
/// seven or more hex characters mixing digits and letters, optionally after `sha-`/`git-`/`commit-`.
pub(crate) fn looks_like_commit(tag: &str) -> bool {
    let lower_hex = |s: &str| {
        s.len() >= 7
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            && s.bytes().any(|b| b.is_ascii_digit())
            && s.bytes().any(|b| b.is_ascii_alphabetic())
    };
    let body = ["sha-", "sha256-", "git-", "commit-", "g"]
        .iter()
        .find_map(|p| tag.strip_prefix(p).filter(|rest| lower_hex(rest)))
        .unwrap_or(tag);
    lower_hex(body)
}

/// A variant token that names a commit (`8f4248874` in plex's `1.32.5.7349-8f4248874`).
fn is_hash_token(token: &str) -> bool {
    token.len() >= 7
        && token.bytes().all(|b| b.is_ascii_hexdigit())
        && token.bytes().any(|b| b.is_ascii_digit())
        && token.bytes().any(|b| b.is_ascii_alphabetic())
}

/// Splits a known prerelease off the start of `rest` (after the numeric core).
/// Returns the prerelease and the variant that follows it.
fn split_prerelease(rest: &str) -> Option<(Prerelease<'_>, &str)> {
    const KEYWORDS: [(&str, Stage); 13] = [
        ("snapshot", Stage::Dev),
        ("nightly", Stage::Dev),
        ("canary", Stage::Dev),
        ("dev", Stage::Dev),
        ("alpha", Stage::Alpha),
        ("beta", Stage::Beta),
        ("milestone", Stage::Milestone),
        ("preview", Stage::Preview),
        ("pre", Stage::Preview),
        ("rc", Stage::ReleaseCandidate),
        ("a", Stage::Alpha),
        ("b", Stage::Beta),
        ("m", Stage::Milestone),
    ];
    let body = rest.strip_prefix(['-', '.', '_', '+', '~']).unwrap_or(rest);
    // `-a1b2c3d4e` is a commit hash, not alpha 1.
    if body
        .split(['-', '_', '.', '+'])
        .next()
        .is_some_and(is_hash_token)
    {
        return None;
    }
    let lower = |s: &str| s.to_ascii_lowercase();
    for (keyword, stage) in KEYWORDS {
        let Some(head) = body.get(..keyword.len()) else {
            continue;
        };
        if lower(head) != keyword {
            continue;
        }
        let after = &body[keyword.len()..];
        // Single letters count only when a number follows at once (`1.0b2`, `3.12.0a1`).
        let short = keyword.len() == 1;
        let next = after.bytes().next();
        let ok = match next {
            None => !short,
            Some(b) if b.is_ascii_digit() => true,
            Some(b'.' | b'-' | b'_') => !short,
            Some(_) => false,
        };
        if !ok {
            continue;
        }
        // The prerelease numbers: digits, each run optionally introduced by one separator.
        let bytes = after.as_bytes();
        let mut end = 0;
        loop {
            let sep = usize::from(matches!(bytes.get(end), Some(b'.' | b'-' | b'_')));
            let digits = bytes[end + sep..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            if digits == 0 {
                break;
            }
            end += sep + digits;
        }
        let numbers = &after[..end];
        let text_len = keyword.len() + end;
        return Some((
            Prerelease {
                stage,
                text: &body[..text_len],
                numbers,
            },
            &body[text_len..],
        ));
    }
    None
}

/// Markers of a build counter at the end of a variant: linuxserver `-ls245`, `-rev3`, `-build12`,
/// `-patch2`. (Single-letter markers such as bitnami's `-r5` need no list: see [`Token`].)
const BUILD_MARKERS: [&str; 5] = ["ls", "rev", "build", "patch", "fix"];

/// What a variant token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token<'a> {
    /// A commit hash: no order, any hash matches any other.
    Hash,
    /// A token whose numbers count up: digits alone (`12`, a date), digits with single letters
    /// (`r5`, `k3s1`, `16T16`), or a known build marker and digits at the end (`ls245`).
    Ordered(&'a str),
    /// A token that names the family, digits included (`jdk17`, `alpine3.19`, `bookworm`).
    Literal(&'a str),
}

/// Reads the tokens of a variant (split on `-`, `_`, `+`; dots stay inside tokens), each with the
/// separator that follows it.
fn variant_tokens(variant: &str) -> impl Iterator<Item = (Token<'_>, Option<char>)> + '_ {
    let mut pieces = variant.split_inclusive(['-', '_', '+']).peekable();
    std::iter::from_fn(move || {
        let piece = pieces.next()?;
        let is_last = pieces.peek().is_none();
        let (word, sep) = match piece.as_bytes().last() {
            Some(&b) if matches!(b, b'-' | b'_' | b'+') => {
                (&piece[..piece.len() - 1], Some(char::from(b)))
            }
            _ => (piece, None),
        };
        let token = if is_hash_token(word) {
            Token::Hash
        } else if !has_word(word) || (is_last && is_marked_build(word)) {
            Token::Ordered(word)
        } else {
            Token::Literal(word)
        };
        Some((token, sep))
    })
}

/// Whether a token holds a word: two letters in a row (`jdk`, `alpine`), as opposed to lone
/// letters between numbers (`r5`, `k3s1`, `16T16`, `38Z`).
fn has_word(token: &str) -> bool {
    token
        .as_bytes()
        .windows(2)
        .any(|w| w[0].is_ascii_alphabetic() && w[1].is_ascii_alphabetic())
}

/// A known build marker followed by digits only (`ls245`, `build12`).
fn is_marked_build(token: &str) -> bool {
    BUILD_MARKERS.iter().any(|marker| {
        token
            .get(..marker.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(marker))
            && token.len() > marker.len()
            && token.as_bytes()[marker.len()..]
                .iter()
                .all(u8::is_ascii_digit)
    })
}

/// The template of a variant, as characters: lower case; in tokens that count up, digit runs as
/// `#`; commit hashes as `#`; in tokens that name the family, digits kept (`jdk17` is not
/// `jdk21`). Streams without allocating: it runs for every candidate tag.
fn variant_template(variant: &str) -> impl Iterator<Item = char> + '_ {
    variant_tokens(variant).flat_map(|(token, sep)| {
        let (word, ordered, hash) = match token {
            Token::Hash => ("", false, true),
            Token::Ordered(word) => (word, true, false),
            Token::Literal(word) => (word, false, false),
        };
        let body = word.char_indices().filter_map(move |(i, c)| {
            if ordered && c.is_ascii_digit() {
                // Digits are ASCII, so the byte before a digit is a digit only in a digit run.
                let continues_run = i > 0 && word.as_bytes()[i - 1].is_ascii_digit();
                (!continues_run).then_some('#')
            } else {
                Some(c.to_ascii_lowercase())
            }
        });
        hash.then_some('#').into_iter().chain(body).chain(sep)
    })
}

/// Two variants are compatible when their templates are equal, or when the longer one extends the
/// shorter with a version number only (`-alpine` and `-alpine3.19`, not `-alpine` and `-alpine-slim`).
fn variants_compatible(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let mut ta = variant_template(a);
    let mut tb = variant_template(b);
    let mut shared = 0usize;
    loop {
        match (ta.next(), tb.next()) {
            (None, None) => return true,
            (Some(x), Some(y)) if x == y => shared += 1,
            (Some(_), Some(_)) => return false,
            (None, Some(c)) | (Some(c), None) => {
                return (c == '#' || c.is_ascii_digit()) && shared > 0;
            }
        }
    }
}

/// The numbers of a variant that count up, in order (`-debian-12-r5` → 12, 5).
fn build_numbers(variant: &str) -> impl Iterator<Item = u64> + '_ {
    variant_tokens(variant).flat_map(|(token, _)| {
        let word = match token {
            Token::Ordered(word) => word,
            Token::Hash | Token::Literal(_) => "",
        };
        word.split(|c: char| !c.is_ascii_digit())
            .filter(|run| !run.is_empty())
            .map(|run| run.parse::<u64>().unwrap_or(u64::MAX))
    })
}

/// Compares the digit runs of two texts as numbers, in order (`ls99` < `ls100`, `r2` > `r1`).
/// Commit hashes are skipped: they carry no order.
fn cmp_number_runs(a: &str, b: &str) -> Ordering {
    let mut xs = number_runs(a);
    let mut ys = number_runs(b);
    loop {
        match (xs.next(), ys.next()) {
            (None, None) => return Ordering::Equal,
            (Some(_), None) => return Ordering::Greater,
            (None, Some(_)) => return Ordering::Less,
            (Some(x), Some(y)) => {
                let ord = x.cmp(&y);
                if ord != Ordering::Equal {
                    return ord;
                }
            }
        }
    }
}

/// The numbers written in `text`, skipping commit-hash tokens. Overlong runs saturate.
fn number_runs(text: &str) -> impl Iterator<Item = u64> + '_ {
    text.split(['-', '_', '.', '+'])
        .filter(|token| !is_hash_token(token))
        .flat_map(|token| token.split(|c: char| !c.is_ascii_digit()))
        .filter(|run| !run.is_empty())
        .map(|run| run.parse::<u64>().unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(tag: &str) -> Version<'_> {
        match Version::parse(tag) {
            Some(v) => v,
            None => panic!("{tag} should parse"),
        }
    }

    /// tag, prefix, numbers, prerelease, variant
    type Reading = (
        &'static str,
        &'static str,
        &'static [u64],
        Option<&'static str>,
        &'static str,
    );

    #[test]
    fn reads_prefix_numbers_prerelease_and_variant() {
        let cases: &[Reading] = &[
            ("1.2.3", "", &[1, 2, 3], None, ""),
            ("v1.2", "v", &[1, 2], None, ""),
            ("16-alpine", "", &[16], None, "-alpine"),
            ("1.25.3-alpine3.19", "", &[1, 25, 3], None, "-alpine3.19"),
            ("4.0.1-ls245", "", &[4, 0, 1], None, "-ls245"),
            ("1.3.0-rc.1", "", &[1, 3, 0], Some("rc.1"), ""),
            ("1.3.0-rc1-alpine", "", &[1, 3, 0], Some("rc1"), "-alpine"),
            ("3.12.0b1", "", &[3, 12, 0], Some("b1"), ""),
            ("2.0.0-beta", "", &[2, 0, 0], Some("beta"), ""),
            ("1.2.3.4", "", &[1, 2, 3, 4], None, ""),
            ("2021.06.04", "", &[2021, 6, 4], None, ""),
            ("20240101", "", &[20_240_101], None, ""),
            ("release-1.2", "release-", &[1, 2], None, ""),
            ("1.2.3-debian-12-r5", "", &[1, 2, 3], None, "-debian-12-r5"),
            ("1.2.3-bookworm", "", &[1, 2, 3], None, "-bookworm"),
            (
                "1.32.5.7349-8f4248874",
                "",
                &[1, 32, 5, 7349],
                None,
                "-8f4248874",
            ),
            ("1.2.", "", &[1, 2], None, "."),
        ];
        for &(tag, prefix, numbers, pre, variant) in cases {
            let parsed = v(tag);
            assert_eq!(parsed.prefix(), prefix, "{tag}");
            assert_eq!(parsed.numbers().collect::<Vec<_>>(), numbers, "{tag}");
            assert_eq!(parsed.prerelease(), pre, "{tag}");
            assert_eq!(parsed.variant(), variant, "{tag}");
        }
    }

    #[test]
    fn rejects_tags_that_are_not_versions() {
        for tag in [
            "latest",
            "stable",
            "edge",
            "",
            "sha-1a2b3c4",
            "sha256-8f42488f4b7e",
            "1a2b3c4d",
            "abcdef1234",
            "-1.2",
            "1.2.3.4.5.6.7.8.9",
            "1234567890123456789012",
            "my tag 1",
            "sha256:76d6b18da1f244887ef40d245630b8867d879f57f75e568c7ee4dd04dd3c2239",
            "1.2.3@x",
        ] {
            assert!(Version::parse(tag).is_none(), "{tag} should not parse");
        }
    }

    #[test]
    fn families() {
        let cur = v("1.2.3-alpine");
        assert_eq!(cur.family_conflict(&v("1.2.4-alpine")), None);
        assert_eq!(cur.family_conflict(&v("1.2.4-alpine3.19")), None);
        assert_eq!(
            cur.family_conflict(&v("1.2.4")),
            Some(FamilyConflict::Variant)
        );
        assert_eq!(
            cur.family_conflict(&v("1.2.4-alpine-slim")),
            Some(FamilyConflict::Variant)
        );
        assert_eq!(
            cur.family_conflict(&v("v1.2.4-alpine")),
            Some(FamilyConflict::Prefix)
        );
        assert_eq!(
            cur.family_conflict(&v("1.3-alpine")),
            Some(FamilyConflict::SegmentCount)
        );
        assert_eq!(
            v("10.11.4").family_conflict(&v("2021.12.16")),
            Some(FamilyConflict::Scheme)
        );
        assert_eq!(
            v("1.2.3").family_conflict(&v("1.02.4")),
            Some(FamilyConflict::LeadingZero)
        );
        assert_eq!(v("2021.6.4").family_conflict(&v("2021.06.05")), None);
        assert_eq!(v("1.2.3").family_conflict(&v("1.3.0-rc.1")), None);
        assert_eq!(v("1.2.3-ls1").family_conflict(&v("1.2.4-ls20")), None);
        assert_eq!(
            v("1.0.1-8f4248874").family_conflict(&v("1.0.2-a1b2c3d4e")),
            None
        );
    }

    #[test]
    fn precedence() {
        let ordered = [
            "1.3.0-dev",
            "1.3.0-alpha",
            "1.3.0-alpha.2",
            "1.3.0-beta.1",
            "1.3.0-rc.1",
            "1.3.0-rc.2",
            "1.3.0-rc.10",
            "1.3.0",
            "1.3.1",
            "1.10.0",
        ];
        for pair in ordered.windows(2) {
            assert_eq!(
                v(pair[0]).cmp_precedence(&v(pair[1])),
                Ordering::Less,
                "{pair:?}"
            );
        }
        assert_eq!(
            v("1.2.3-ls99").cmp_precedence(&v("1.2.3-ls100")),
            Ordering::Less
        );
        assert_eq!(v("1.2").cmp_precedence(&v("1.2.0")), Ordering::Equal);
    }

    #[test]
    fn diffs() {
        let d = |a, b| v(a).diff(&v(b));
        assert_eq!(d("1.2.3", "2.0.0"), SemverDiff::Major);
        assert_eq!(d("1.2.3", "1.3.0"), SemverDiff::Minor);
        assert_eq!(d("1.2.3", "1.2.4"), SemverDiff::Patch);
        assert_eq!(d("1.2.3.4", "1.2.3.5"), SemverDiff::Patch);
        assert_eq!(d("1.3.0-rc.1", "1.3.0-rc.2"), SemverDiff::Prerelease);
        assert_eq!(d("1.3.0-rc.1", "1.3.0"), SemverDiff::Minor);
        assert_eq!(d("2.0.0-rc.1", "2.0.0"), SemverDiff::Major);
        assert_eq!(d("1.2.3-rc.1", "1.2.3"), SemverDiff::Patch);
        assert_eq!(d("4.0.1-ls245", "4.0.1-ls246"), SemverDiff::Patch);
        assert_eq!(d("16", "17"), SemverDiff::Major);
    }

    #[test]
    fn semver_conversion() {
        assert_eq!(v("v1.2").to_semver().to_string(), "1.2.0");
        assert_eq!(v("1.2.3.4").to_semver().to_string(), "1.2.3-4");
        assert_eq!(v("1.3.0-RC.1").to_semver().to_string(), "1.3.0-rc.1");
    }
}
