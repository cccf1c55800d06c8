//! Choosing the tag to update to, with the reasons behind every choice.
//!
//! [`select`] takes the installed tag, the registry's tag list and the container's [`TagRules`], and
//! returns a [`Selection`]: the outcome (a newer tag and how big a step it is, up to date, or "watch
//! the digest only") and a trace with one [`Decision`] per tag considered. The trace is what
//! `drydock explain <container>` prints: no more guessing why `2021.12.16` was not offered for
//! `10.11.4`.
//!
//! The rules, in order, for each registry tag:
//! 1. signature and attestation artefacts (`*.sig`, `*.att`, `*.sbom`) are dropped;
//! 2. the include rule keeps matches, the exclude rule drops matches (both on the raw tag);
//! 3. commit-named tags (`sha-1a2b3c4`) are dropped;
//! 4. the tag, transformed, must read as a [`Version`];
//! 5. it must be in the installed tag's family (see [`Version::family_conflict`]);
//! 6. prereleases are kept only when the installed tag is a prerelease of the same release;
//! 7. it must be newer than the installed tag: a later release, or the same release with a later
//!    build number in the same variant (`-ls245` → `-ls246`). Never a downgrade.
//!
//! Among the survivors the best is the latest release; ties go to the variant shaped like the
//! installed one (`-alpine` over `-alpine3.19`), then to the later build counter, then to the spelling
//! closest to the installed tag, then to the tag text, so the result does not depend on the order the
//! registry listed the tags in.
//!
//! An installed tag that is not a version (`latest`, `stable`) is watched by digest. With an include
//! rule it is offered the latest included release instead, as in drydock.

use std::cmp::Ordering;
use std::fmt;

use crate::rules::{FamilyMode, TagRules};
use crate::version::{FamilyConflict, SemverDiff, Version, looks_like_commit};

/// The result of choosing among a registry's tags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    /// The installed tag as compared (after the transform).
    pub current: String,
    /// Whether the installed tag reads as a version (the API's `image.tag.semver`).
    pub current_is_version: bool,
    /// What was chosen.
    pub outcome: Outcome,
    /// One decision per registry tag examined, in the registry's order. Empty when the installed tag
    /// is watched by digest only.
    pub decisions: Vec<Decision>,
}

/// What the selection concluded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A newer tag exists.
    Update {
        /// The tag to update to, as the registry spells it.
        tag: String,
        /// Its position in the tag list given to [`select`].
        index: usize,
        /// How big a step it is.
        diff: SemverDiff,
    },
    /// No tag of the family is newer than the installed one.
    UpToDate,
    /// Tags are not compared for this image; only its digest is watched.
    DigestOnly {
        /// Why.
        reason: DigestOnlyReason,
    },
}

/// Why an installed tag is watched by digest only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DigestOnlyReason {
    /// The tag does not read as a version (`latest`, `stable`, `edge`, a commit) and no include rule
    /// asks for versions.
    NotAVersion,
}

/// What happened to one registry tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Position of the tag in the list given to [`select`].
    pub index: usize,
    /// The verdict.
    pub verdict: Verdict,
}

/// The verdict on one registry tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The chosen update.
    Chosen,
    /// Newer than the installed tag, but not the best.
    Passed,
    /// Not a candidate.
    Dropped(DropReason),
}

/// Why a registry tag is not a candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// A cosign signature, attestation or SBOM artefact (`sha256-….sig`).
    Artifact,
    /// The include rule did not match.
    NotIncluded,
    /// The exclude rule matched.
    Excluded,
    /// Names a commit (`sha-1a2b3c4`).
    CommitTag,
    /// Does not read as a version.
    NotAVersion,
    /// Not in the installed tag's family.
    OtherFamily(Family),
    /// A prerelease, and the installed tag is not one.
    Prerelease,
    /// The installed tag itself.
    Current,
    /// Not newer than the installed tag.
    NotNewer,
}

/// [`FamilyConflict`] as a `Copy` value for the trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// Different prefix.
    Prefix,
    /// Different number of numeric segments.
    SegmentCount,
    /// Calendar against semantic version.
    Scheme,
    /// Different variant suffix.
    Variant,
    /// A leading zero where the installed tag has none.
    LeadingZero,
}

impl From<FamilyConflict> for Family {
    fn from(conflict: FamilyConflict) -> Self {
        match conflict {
            FamilyConflict::Prefix => Self::Prefix,
            FamilyConflict::SegmentCount => Self::SegmentCount,
            FamilyConflict::Scheme => Self::Scheme,
            FamilyConflict::Variant => Self::Variant,
            FamilyConflict::LeadingZero => Self::LeadingZero,
        }
    }
}

impl DropReason {
    /// A short, stable identifier for the API and the corpus (`not-included`, `other-family:variant`).
    pub fn code(self) -> &'static str {
        match self {
            Self::Artifact => "artifact",
            Self::NotIncluded => "not-included",
            Self::Excluded => "excluded",
            Self::CommitTag => "commit-tag",
            Self::NotAVersion => "not-a-version",
            Self::OtherFamily(Family::Prefix) => "other-family:prefix",
            Self::OtherFamily(Family::SegmentCount) => "other-family:segments",
            Self::OtherFamily(Family::Scheme) => "other-family:scheme",
            Self::OtherFamily(Family::Variant) => "other-family:variant",
            Self::OtherFamily(Family::LeadingZero) => "other-family:leading-zero",
            Self::Prerelease => "prerelease",
            Self::Current => "current",
            Self::NotNewer => "not-newer",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Self::Artifact => "a signature or attestation artefact",
            Self::NotIncluded => "does not match the include rule",
            Self::Excluded => "matches the exclude rule",
            Self::CommitTag => "names a commit, not a version",
            Self::NotAVersion => "does not read as a version",
            Self::OtherFamily(Family::Prefix) => "other family: different prefix",
            Self::OtherFamily(Family::SegmentCount) => {
                "other family: different number of numeric segments"
            }
            Self::OtherFamily(Family::Scheme) => "other family: calendar against semantic version",
            Self::OtherFamily(Family::Variant) => "other family: different variant suffix",
            Self::OtherFamily(Family::LeadingZero) => "other family: leading zero",
            Self::Prerelease => "a prerelease, and the installed tag is not one",
            Self::Current => "the installed tag",
            Self::NotNewer => "not newer than the installed tag",
        };
        f.write_str(text)
    }
}

impl Selection {
    /// The chosen tag, if any.
    pub fn update_tag(&self) -> Option<&str> {
        match &self.outcome {
            Outcome::Update { tag, .. } => Some(tag),
            _ => None,
        }
    }

    /// Pairs each decision with its tag, for display. `tags` must be the list given to [`select`].
    pub fn explain<'t, S: AsRef<str>>(
        &'t self,
        tags: &'t [S],
    ) -> impl Iterator<Item = (&'t str, Verdict)> + 't {
        self.decisions
            .iter()
            .filter_map(|d| tags.get(d.index).map(|t| (t.as_ref(), d.verdict)))
    }
}

fn is_artifact(tag: &str) -> bool {
    tag.ends_with(".sig") || tag.ends_with(".att") || tag.ends_with(".sbom")
}

/// Chooses the tag to update to. Pure and allocation-light: one pass over `tags`.
///
/// ```
/// use drydock_core::rules::TagRules;
/// use drydock_core::selection::{select, Outcome};
/// use drydock_core::version::SemverDiff;
///
/// let tags = ["1.2.3", "1.2.4", "1.3.0-rc.1", "2.0.0", "2.0.0-alpine", "latest"];
/// let selection = select("1.2.3", &tags, &TagRules::default());
/// assert_eq!(
///     selection.outcome,
///     Outcome::Update { tag: "2.0.0".into(), index: 3, diff: SemverDiff::Major }
/// );
/// ```
pub fn select<S: AsRef<str>>(current_tag: &str, tags: &[S], rules: &TagRules) -> Selection {
    let current_text = rules.transform(current_tag);
    let current = Version::parse(&current_text);
    let Some(current) = current else {
        let current_text = current_text.into_owned();
        return if rules.has_include() {
            select_for_unversioned(current_text, tags, rules)
        } else {
            Selection {
                current: current_text,
                current_is_version: false,
                outcome: Outcome::DigestOnly {
                    reason: DigestOnlyReason::NotAVersion,
                },
                decisions: Vec::new(),
            }
        };
    };

    let mut decisions = Vec::with_capacity(tags.len());
    // The best candidate so far: its decision slot, tag index and transformed text.
    let mut best: Option<(usize, usize, std::borrow::Cow<'_, str>)> = None;
    for (index, tag) in tags.iter().enumerate() {
        let raw = tag.as_ref();
        let verdict = match prefilter(raw, rules) {
            Some(reason) => Verdict::Dropped(reason),
            None => {
                let text = rules.transform(raw);
                match judge(&current, &text, rules.family()) {
                    Err(reason) => Verdict::Dropped(reason),
                    Ok(candidate) => {
                        let better = match &best {
                            None => true,
                            Some((_, best_index, best_text)) => {
                                let best_raw = tags[*best_index].as_ref();
                                Version::parse(best_text).is_none_or(|b| {
                                    rank(&current, current_tag, (&candidate, raw), (&b, best_raw))
                                        == Ordering::Greater
                                })
                            }
                        };
                        if better {
                            best = Some((decisions.len(), index, text));
                        }
                        Verdict::Passed
                    }
                }
            }
        };
        decisions.push(Decision { index, verdict });
    }

    let outcome = match best {
        Some((slot, index, text)) => {
            decisions[slot].verdict = Verdict::Chosen;
            let diff = Version::parse(&text).map_or(SemverDiff::Unknown, |v| current.diff(&v));
            Outcome::Update {
                tag: tags[index].as_ref().to_owned(),
                index,
                diff,
            }
        }
        None => Outcome::UpToDate,
    };
    Selection {
        current: current.as_str().to_owned(),
        current_is_version: true,
        outcome,
        decisions,
    }
}

/// Drops that need no version reading.
fn prefilter(raw: &str, rules: &TagRules) -> Option<DropReason> {
    if is_artifact(raw) {
        Some(DropReason::Artifact)
    } else if !rules.includes(raw) {
        Some(DropReason::NotIncluded)
    } else if rules.excludes(raw) {
        Some(DropReason::Excluded)
    } else if looks_like_commit(raw) {
        Some(DropReason::CommitTag)
    } else {
        None
    }
}

/// Whether the (transformed) candidate is a newer member of the installed tag's family.
fn judge<'c>(
    current: &Version<'_>,
    text: &'c str,
    mode: FamilyMode,
) -> Result<Version<'c>, DropReason> {
    let candidate = Version::parse(text).ok_or(DropReason::NotAVersion)?;
    let conflict = match mode {
        FamilyMode::Strict => current.family_conflict(&candidate),
        FamilyMode::Loose => current.loose_family_conflict(&candidate),
    };
    if let Some(conflict) = conflict {
        return Err(DropReason::OtherFamily(conflict.into()));
    }
    // Prereleases only for a container already on a prerelease of the same release (as npm and
    // Renovate do): `2.0.0-rc.1` may move to `2.0.0-rc.2` or `2.0.0`, never to `2.1.0-beta.1`.
    if candidate.is_prerelease() && !(current.is_prerelease() && candidate.same_core(current)) {
        return Err(DropReason::Prerelease);
    }
    if candidate.as_str() == current.as_str() {
        return Err(DropReason::Current);
    }
    let newer = match candidate.cmp_release(current) {
        Ordering::Greater => true,
        Ordering::Less => false,
        // Same release: only a later build of the same variant (`-ls245` → `-ls246`) is newer.
        Ordering::Equal => {
            candidate.same_variant_template(current)
                && candidate.cmp_build(current) == Ordering::Greater
        }
    };
    if newer {
        Ok(candidate)
    } else {
        Err(DropReason::NotNewer)
    }
}

/// Orders two candidates: later release, then the variant shaped like the installed one, then the
/// later build, then the spelling closest to the installed tag (same prefix, same number of
/// segments), then the tag text (for a result independent of the registry's order).
fn rank(
    current: &Version<'_>,
    current_raw: &str,
    (a, a_raw): (&Version<'_>, &str),
    (b, b_raw): (&Version<'_>, &str),
) -> Ordering {
    let spelled_alike = |raw: &str| raw_prefix(raw) == raw_prefix(current_raw);
    a.cmp_release(b)
        .then_with(|| {
            a.same_variant_template(current)
                .cmp(&b.same_variant_template(current))
        })
        .then_with(|| a.cmp_build(b))
        .then_with(|| spelled_alike(a_raw).cmp(&spelled_alike(b_raw)))
        .then_with(|| {
            let alike = |v: &Version<'_>| v.segment_count() == current.segment_count();
            alike(a).cmp(&alike(b))
        })
        .then_with(|| a_raw.cmp(b_raw))
}

/// The text before the first digit of a raw tag.
fn raw_prefix(raw: &str) -> &str {
    &raw[..raw.find(|c: char| c.is_ascii_digit()).unwrap_or(raw.len())]
}

/// An installed tag that is not a version, with an include rule: the latest included release.
fn select_for_unversioned<S: AsRef<str>>(
    current: String,
    tags: &[S],
    rules: &TagRules,
) -> Selection {
    let mut decisions = Vec::with_capacity(tags.len());
    let mut best: Option<(usize, usize, String)> = None;
    for (index, tag) in tags.iter().enumerate() {
        let raw = tag.as_ref();
        let verdict = if let Some(reason) = prefilter(raw, rules) {
            Verdict::Dropped(reason)
        } else if raw == current {
            Verdict::Dropped(DropReason::Current)
        } else {
            let text = rules.transform(raw);
            match Version::parse(&text) {
                None => Verdict::Dropped(DropReason::NotAVersion),
                Some(v) if v.is_prerelease() => Verdict::Dropped(DropReason::Prerelease),
                Some(v) => {
                    let better = best.as_ref().is_none_or(|(_, best_index, best_text)| {
                        Version::parse(best_text).is_none_or(|b| {
                            v.cmp_precedence(&b)
                                .then_with(|| raw.cmp(tags[*best_index].as_ref()))
                                == Ordering::Greater
                        })
                    });
                    if better {
                        best = Some((decisions.len(), index, text.into_owned()));
                    }
                    Verdict::Passed
                }
            }
        };
        decisions.push(Decision { index, verdict });
    }
    let outcome = match best {
        Some((slot, index, _)) => {
            decisions[slot].verdict = Verdict::Chosen;
            Outcome::Update {
                tag: tags[index].as_ref().to_owned(),
                index,
                diff: SemverDiff::Unknown,
            }
        }
        None => Outcome::UpToDate,
    };
    Selection {
        current,
        current_is_version: false,
        outcome,
        decisions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(current: &str, tags: &[&str]) -> Option<String> {
        select(current, tags, &TagRules::default())
            .update_tag()
            .map(str::to_owned)
    }

    #[test]
    fn climbs_within_the_family() {
        let tags = [
            "1.2.3",
            "1.2.4",
            "1.3.0",
            "2.0.0",
            "2.0.0-alpine",
            "v3.0.0",
            "3.0",
        ];
        assert_eq!(pick("1.2.3", &tags).as_deref(), Some("2.0.0"));
        assert_eq!(pick("2.0.0", &tags), None);
        assert_eq!(pick("1.2.3-alpine", &tags).as_deref(), Some("2.0.0-alpine"));
    }

    #[test]
    fn traces_every_tag() {
        let tags = [
            "1.0.0",
            "1.1.0",
            "1.1.0-rc.1",
            "v2.0.0",
            "latest",
            "sha256-ab12cd34ef.sig",
        ];
        let selection = select("1.0.0", &tags, &TagRules::default());
        let verdicts: Vec<_> = selection.explain(&tags).collect();
        assert_eq!(
            verdicts,
            [
                ("1.0.0", Verdict::Dropped(DropReason::Current)),
                ("1.1.0", Verdict::Chosen),
                ("1.1.0-rc.1", Verdict::Dropped(DropReason::Prerelease)),
                (
                    "v2.0.0",
                    Verdict::Dropped(DropReason::OtherFamily(Family::Prefix))
                ),
                ("latest", Verdict::Dropped(DropReason::NotAVersion)),
                (
                    "sha256-ab12cd34ef.sig",
                    Verdict::Dropped(DropReason::Artifact)
                ),
            ]
        );
    }

    #[test]
    fn unversioned_tags_are_digest_watched_unless_included() {
        let tags = ["latest", "1.0.0", "2.0.0", "2.1.0-beta"];
        let s = select("latest", &tags, &TagRules::default());
        assert_eq!(
            s.outcome,
            Outcome::DigestOnly {
                reason: DigestOnlyReason::NotAVersion
            }
        );
        let rules = TagRules::builder().include(r"^\d").build().unwrap();
        let s = select("latest", &tags, &rules);
        assert_eq!(s.update_tag(), Some("2.0.0"));
    }
}
