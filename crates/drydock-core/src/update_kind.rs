//! The update-kind computation: what a watch found (a newer tag, a moved digest, nothing) and the
//! update classes thresholds speak of. [`UpdateKind`] is the API's `updateKind` object.

use std::fmt;

use crate::selection::{Outcome, Selection};
use crate::version::SemverDiff;

/// Tag, digest or nothing: the `updateKind.kind` of the API.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum KindOfUpdate {
    /// A newer tag.
    Tag,
    /// The same tag now points at another image.
    Digest,
    /// No update, or one that cannot be classified.
    #[default]
    #[cfg_attr(feature = "serde", serde(other))]
    Unknown,
}

/// The `updateKind` object of the API.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase", default))]
pub struct UpdateKind {
    /// Tag, digest or unknown.
    pub kind: KindOfUpdate,
    /// The installed tag or digest (`null` when there is no update).
    pub local_value: Option<String>,
    /// The available tag or digest (`null` when there is no update).
    pub remote_value: Option<String>,
    /// How big a tag step it is (`null` when there is no update).
    pub semver_diff: Option<SemverDiff>,
}

/// The update classes thresholds and notifications speak of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UpdateLevel {
    /// A new major version.
    Major,
    /// A new minor version.
    Minor,
    /// A new patch (or later-segment, or build) version.
    Patch,
    /// A new prerelease of the installed prerelease line.
    Prerelease,
    /// The tag now points at another image.
    Digest,
    /// No update or an unclassified one.
    Unknown,
}

impl UpdateLevel {
    /// The lower-case name (`major`, `digest`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Major => "major",
            Self::Minor => "minor",
            Self::Patch => "patch",
            Self::Prerelease => "prerelease",
            Self::Digest => "digest",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for UpdateLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl UpdateKind {
    /// No update.
    pub fn none() -> Self {
        Self::default()
    }

    /// Classifies what a watch found. A tag update wins over a digest update; a digest update
    /// counts only when digests are watched and both digests are known and differ.
    ///
    /// ```
    /// use drydock_core::model::{KindOfUpdate, UpdateKind, UpdateLevel};
    /// use drydock_core::rules::TagRules;
    /// use drydock_core::selection::select;
    ///
    /// let selection = select("1.2.3", &["1.2.3", "1.3.0"], &TagRules::default());
    /// let kind = UpdateKind::classify("1.2.3", &selection, true, Some("sha256:a"), Some("sha256:b"));
    /// assert_eq!(kind.kind, KindOfUpdate::Tag);
    /// assert_eq!(kind.level(), UpdateLevel::Minor);
    /// ```
    pub fn classify(
        installed_tag: &str,
        selection: &Selection,
        watch_digest: bool,
        local_digest: Option<&str>,
        remote_digest: Option<&str>,
    ) -> Self {
        if let Outcome::Update { tag, diff, .. } = &selection.outcome {
            return Self {
                kind: KindOfUpdate::Tag,
                local_value: Some(installed_tag.to_owned()),
                remote_value: Some(tag.clone()),
                semver_diff: Some(*diff),
            };
        }
        match (watch_digest, local_digest, remote_digest) {
            (true, Some(local), Some(remote)) if local != remote => Self {
                kind: KindOfUpdate::Digest,
                local_value: Some(local.to_owned()),
                remote_value: Some(remote.to_owned()),
                semver_diff: Some(SemverDiff::Unknown),
            },
            _ => Self::none(),
        }
    }

    /// Whether there is an update at all (before policies).
    pub fn is_update(&self) -> bool {
        self.kind != KindOfUpdate::Unknown
    }

    /// The update class, for thresholds.
    pub fn level(&self) -> UpdateLevel {
        match (self.kind, self.semver_diff) {
            (KindOfUpdate::Digest, _) => UpdateLevel::Digest,
            (KindOfUpdate::Tag, Some(SemverDiff::Major)) => UpdateLevel::Major,
            (KindOfUpdate::Tag, Some(SemverDiff::Minor)) => UpdateLevel::Minor,
            (KindOfUpdate::Tag, Some(SemverDiff::Patch)) => UpdateLevel::Patch,
            (KindOfUpdate::Tag, Some(SemverDiff::Prerelease)) => UpdateLevel::Prerelease,
            _ => UpdateLevel::Unknown,
        }
    }
}
