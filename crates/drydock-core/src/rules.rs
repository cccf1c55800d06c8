//! The user's tag rules: include and exclude regexes, a transform, and the family mode.
//!
//! They come from container labels (`dd.tag.include`, `dd.tag.exclude`, `dd.tag.transform`,
//! `dd.tag.family`), read by [`crate::discovery::LabelSettings`]. Regexes compile with the `regex`
//! crate, which matches in linear time: a user pattern cannot stall a watch cycle. Include and exclude are *unanchored*
//! (a match anywhere in the tag counts), as in drydock and What's Up Docker.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use regex::{Regex, RegexBuilder};

/// The longest pattern accepted, in bytes, for include, exclude and transform rules.
pub const MAX_PATTERN_LEN: usize = 1024;

/// Compiled-program size limit: keeps a hostile pattern (`(a{1000}){1000}`) from eating memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// A rule that could not be built, naming the rule and the offending input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    /// A pattern longer than [`MAX_PATTERN_LEN`].
    #[error("{rule} pattern is {len} bytes long; at most {MAX_PATTERN_LEN} are accepted")]
    TooLong {
        /// Which rule (`include`, `exclude`, `transform`).
        rule: &'static str,
        /// The pattern's length in bytes.
        len: usize,
    },
    /// A pattern the regex engine rejects (syntax, look-around, backreferences, size).
    #[error("{rule} pattern `{pattern}` is not a valid regex: {reason}")]
    InvalidRegex {
        /// Which rule (`include`, `exclude`, `transform`).
        rule: &'static str,
        /// The pattern as given.
        pattern: String,
        /// The regex engine's explanation.
        reason: String,
    },
    /// A transform without the `=>` between pattern and replacement.
    #[error("transform `{input}` must be written `<regex> => <replacement>`")]
    TransformSyntax {
        /// The transform as given.
        input: String,
    },
    /// A family mode other than `strict` or `loose`.
    #[error("tag family `{input}` is not one of: strict, loose")]
    UnknownFamily {
        /// The value as given.
        input: String,
    },
}

fn compile(rule: &'static str, pattern: &str) -> Result<Regex, RuleError> {
    if pattern.len() > MAX_PATTERN_LEN {
        return Err(RuleError::TooLong {
            rule,
            len: pattern.len(),
        });
    }
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| RuleError::InvalidRegex {
            rule,
            pattern: pattern.to_owned(),
            reason: e.to_string(),
        })
}

/// A tag transform, written `<regex> => <replacement>` (`dd.tag.transform`).
///
/// The first match of the regex is replaced by the replacement, where `$1`..`$99` stand for the
/// capture groups (a group that did not take part is empty, `$0` is the whole match). A tag that does
/// not match is left as it is. Transforms change how a tag is *compared*; results keep the raw tag.
///
/// ```
/// use drydock_core::rules::Transform;
///
/// let t: Transform = r"^(\d+\.\d+\.\d+)-ls(\d+)$ => $1.$2".parse().unwrap();
/// assert_eq!(t.apply("4.0.1-ls245"), "4.0.1.245");
/// assert_eq!(t.apply("latest"), "latest");
/// ```
#[derive(Clone)]
pub struct Transform {
    source: String,
    regex: Regex,
    replacement: Vec<Piece>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    Group(usize),
}

impl Transform {
    /// Applies the transform to a tag.
    pub fn apply<'t>(&self, tag: &'t str) -> Cow<'t, str> {
        let Some(caps) = self.regex.captures(tag) else {
            return Cow::Borrowed(tag);
        };
        let Some(whole) = caps.get(0) else {
            return Cow::Borrowed(tag);
        };
        let mut out = String::with_capacity(tag.len() + 8);
        out.push_str(&tag[..whole.start()]);
        for piece in &self.replacement {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Group(n) => out.push_str(caps.get(*n).map_or("", |m| m.as_str())),
            }
        }
        out.push_str(&tag[whole.end()..]);
        Cow::Owned(out)
    }

    /// The transform as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

/// `$` followed by digits is a group reference; any other `$` is literal.
fn parse_replacement(replacement: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = replacement.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let digits: usize = replacement[i + c.len_utf8()..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .take(2)
            .count();
        if c == '$' && digits > 0 {
            let start = i + 1;
            let group = replacement[start..start + digits].parse().unwrap_or(0);
            if !text.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut text)));
            }
            pieces.push(Piece::Group(group));
            for _ in 0..digits {
                chars.next();
            }
        } else {
            text.push(c);
        }
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    pieces
}

impl FromStr for Transform {
    type Err = RuleError;

    fn from_str(input: &str) -> Result<Self, RuleError> {
        if input.len() > MAX_PATTERN_LEN {
            return Err(RuleError::TooLong {
                rule: "transform",
                len: input.len(),
            });
        }
        let Some((pattern, replacement)) = input.split_once("=>") else {
            return Err(RuleError::TransformSyntax {
                input: input.to_owned(),
            });
        };
        let pattern = pattern.trim();
        if pattern.is_empty() {
            return Err(RuleError::TransformSyntax {
                input: input.to_owned(),
            });
        }
        Ok(Self {
            source: input.to_owned(),
            regex: compile("transform", pattern)?,
            replacement: parse_replacement(replacement.trim()),
        })
    }
}

impl fmt::Debug for Transform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Transform").field(&self.source).finish()
    }
}

impl PartialEq for Transform {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

/// How far a tag may move from its family (`dd.tag.family`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FamilyMode {
    /// Same prefix, number of segments, scheme and variant (the default).
    #[default]
    Strict,
    /// Only the version scheme must match: `1.2` may move to `1.3.0-alpine`.
    Loose,
}

impl FromStr for FamilyMode {
    type Err = RuleError;

    fn from_str(input: &str) -> Result<Self, RuleError> {
        match input.trim().to_ascii_lowercase().as_str() {
            "strict" => Ok(Self::Strict),
            "loose" => Ok(Self::Loose),
            _ => Err(RuleError::UnknownFamily {
                input: input.to_owned(),
            }),
        }
    }
}

/// The compiled tag rules of one container.
///
/// ```
/// use drydock_core::rules::TagRules;
///
/// let rules = TagRules::builder()
///     .include(r"^\d+\.\d+\.\d+$")
///     .exclude(r"^0\.")
///     .build()
///     .unwrap();
/// assert!(rules.includes("1.2.3"));
/// assert!(!rules.includes("1.2.3-alpine"));
/// assert!(rules.excludes("0.9.1"));
/// ```
///
/// Two rule sets are equal, and hash alike, when they were compiled from the same text, so a
/// cycle can share one selection between containers whose labels say the same.
#[derive(Clone, Debug, Default)]
pub struct TagRules {
    source: RuleSource,
    include: Option<Regex>,
    exclude: Option<Regex>,
    transform: Option<Transform>,
    family: FamilyMode,
}

impl PartialEq for TagRules {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for TagRules {}

impl std::hash::Hash for TagRules {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.source.hash(state);
    }
}

impl TagRules {
    /// Starts a builder with no include, exclude or transform and the strict family mode.
    pub fn builder() -> TagRulesBuilder {
        TagRulesBuilder::default()
    }

    /// Whether an include rule is set.
    pub fn has_include(&self) -> bool {
        self.include.is_some()
    }

    /// Whether `tag` passes the include rule (always true without one).
    pub fn includes(&self, tag: &str) -> bool {
        self.include.as_ref().is_none_or(|r| r.is_match(tag))
    }

    /// Whether `tag` is rejected by the exclude rule (never without one).
    pub fn excludes(&self, tag: &str) -> bool {
        self.exclude.as_ref().is_some_and(|r| r.is_match(tag))
    }

    /// The tag as compared: transformed when a transform is set.
    pub fn transform<'t>(&self, tag: &'t str) -> Cow<'t, str> {
        match &self.transform {
            Some(t) => t.apply(tag),
            None => Cow::Borrowed(tag),
        }
    }

    /// The family mode.
    pub fn family(&self) -> FamilyMode {
        self.family
    }

    /// The rules as written, empty ones left out.
    pub fn source(&self) -> &RuleSource {
        &self.source
    }
}

/// Tag rules as users write them (`dd.tag.include`, `dd.tag.exclude`, `dd.tag.transform`,
/// `dd.tag.family`), before they are compiled. `None` or an empty string means no rule.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct RuleSource {
    /// The include regex.
    pub include: Option<String>,
    /// The exclude regex.
    pub exclude: Option<String>,
    /// The transform, `<regex> => <replacement>`.
    pub transform: Option<String>,
    /// The family mode, `strict` or `loose`.
    pub family: Option<String>,
}

impl RuleSource {
    /// Compiles the rules; errors name the rule and the input.
    ///
    /// ```
    /// use drydock_core::rules::RuleSource;
    ///
    /// let source = RuleSource { include: Some(r"^\d+$".into()), ..RuleSource::default() };
    /// let rules = source.compile().unwrap();
    /// assert!(rules.includes("42") && !rules.includes("latest"));
    /// assert_eq!(rules, RuleSource { include: Some(r"^\d+$".into()), family: Some(" ".into()), ..RuleSource::default() }.compile().unwrap());
    /// ```
    pub fn compile(&self) -> Result<TagRules, RuleError> {
        let non_empty = |s: &Option<String>| s.clone().filter(|s| !s.trim().is_empty());
        let source = Self {
            include: non_empty(&self.include),
            exclude: non_empty(&self.exclude),
            transform: non_empty(&self.transform),
            family: non_empty(&self.family),
        };
        Ok(TagRules {
            include: source
                .include
                .as_deref()
                .map(|p| compile("include", p))
                .transpose()?,
            exclude: source
                .exclude
                .as_deref()
                .map(|p| compile("exclude", p))
                .transpose()?,
            transform: source.transform.as_deref().map(str::parse).transpose()?,
            family: source
                .family
                .as_deref()
                .map(str::parse)
                .transpose()?
                .unwrap_or_default(),
            source,
        })
    }
}

/// Builds [`TagRules`] from the strings users write; errors name the rule and the input.
#[derive(Clone, Debug, Default)]
pub struct TagRulesBuilder {
    source: RuleSource,
}

impl TagRulesBuilder {
    /// Sets the include regex (`dd.tag.include`). An empty string means no rule.
    pub fn include(mut self, pattern: impl Into<String>) -> Self {
        self.source.include = Some(pattern.into());
        self
    }

    /// Sets the exclude regex (`dd.tag.exclude`). An empty string means no rule.
    pub fn exclude(mut self, pattern: impl Into<String>) -> Self {
        self.source.exclude = Some(pattern.into());
        self
    }

    /// Sets the transform (`dd.tag.transform`). An empty string means no transform.
    pub fn transform(mut self, rule: impl Into<String>) -> Self {
        self.source.transform = Some(rule.into());
        self
    }

    /// Sets the family mode (`dd.tag.family`: `strict` or `loose`).
    pub fn family(mut self, mode: impl Into<String>) -> Self {
        self.source.family = Some(mode.into());
        self
    }

    /// Compiles the rules.
    pub fn build(self) -> Result<TagRules, RuleError> {
        self.source.compile()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transform(rule: &str) -> Transform {
        match rule.parse() {
            Ok(t) => t,
            Err(e) => panic!("{rule}: {e}"),
        }
    }

    #[test]
    fn transforms_replace_the_first_match_with_groups() {
        let t = transform(r"^(\d+\.\d+\.\d+)-ls(\d+)$ => $1.$2");
        assert_eq!(t.apply("4.0.1-ls245"), "4.0.1.245");
        assert_eq!(t.apply("4.0.1"), "4.0.1");
        let t = transform(r"^v(\d+)_(\d+)$=>$1.$2");
        assert_eq!(t.apply("v3_14"), "3.14");
        // A missing group is empty, a lone `$` is literal, `$1a` is group 1 then `a`.
        let t = transform(r"^(\d+)(x)?$ => $1$2$ $1a");
        assert_eq!(t.apply("7"), "7$ 7a");
        // Only the matched part is replaced.
        let t = transform(r"-ls\d+ => ");
        assert_eq!(t.apply("1.2.3-ls9-extra"), "1.2.3-extra");
    }

    #[test]
    fn bad_rules_are_named_errors() {
        assert!(matches!(
            "no arrow".parse::<Transform>(),
            Err(RuleError::TransformSyntax { .. })
        ));
        assert!(matches!(
            " => $1".parse::<Transform>(),
            Err(RuleError::TransformSyntax { .. })
        ));
        let err = TagRules::builder()
            .include("(unclosed")
            .build()
            .unwrap_err();
        assert!(matches!(
            err,
            RuleError::InvalidRegex {
                rule: "include",
                ..
            }
        ));
        assert!(err.to_string().contains("(unclosed"));
        // Look-around and backreferences are not supported by a linear-time engine.
        assert!(TagRules::builder().exclude(r"(?=a)").build().is_err());
        assert!(TagRules::builder().exclude(r"(a)\1").build().is_err());
        let long = "a".repeat(MAX_PATTERN_LEN + 1);
        assert!(matches!(
            TagRules::builder().include(long).build(),
            Err(RuleError::TooLong {
                rule: "include",
                ..
            })
        ));
        assert!(matches!(
            TagRules::builder().family("fuzzy").build(),
            Err(RuleError::UnknownFamily { .. })
        ));
    }

    #[test]
    fn include_and_exclude_are_unanchored() {
        let rules = TagRules::builder()
            .include(r"\d+\.\d+")
            .exclude("rc")
            .build()
            .unwrap();
        assert!(rules.includes("v1.2-alpine"));
        assert!(!rules.includes("latest"));
        assert!(rules.excludes("1.2.3-rc1"));
        let none = TagRules::default();
        assert!(none.includes("anything") && !none.excludes("anything"));
    }

    #[test]
    fn catastrophic_patterns_cannot_stall() {
        // `(a+)+$` against `aaa…a!` backtracks exponentially in PCRE-style engines and would never
        // finish; the linear-time engine answers at once. Finishing is the assertion.
        let rules = TagRules::builder().include("(a+)+$").build().unwrap();
        let hostile = format!("{}!", "a".repeat(100_000));
        assert!(!rules.includes(&hostile));
        assert!(rules.includes(&hostile[..hostile.len() - 1]));
    }
}
