//! Update policies: what keeps an available update from being announced or applied.
//!
//! - **Skips**: the user skipped a tag or digest (`skip-current`); that candidate is suppressed, a
//!   newer one is not.
//! - **Snooze**: everything is suppressed until a date.
//! - **Maturity**: a candidate is suppressed until it is old enough, counted from when drydock first
//!   saw it (not from the image's `created`, which the publisher sets).
//! - **Thresholds**: which update levels a trigger acts on (`all`, `major`, `minor`, `patch`,
//!   `digest`, the `-only` and `-no-digest` forms), as in drydock.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};

use crate::update_kind::{KindOfUpdate, UpdateKind, UpdateLevel};

/// The longest snooze or maturity period accepted, in days.
pub const MAX_DAYS: u32 = 365;

/// A container's update policy (the API's `updatePolicy`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase", default))]
pub struct UpdatePolicy {
    /// Tags never to offer.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Vec::is_empty"))]
    pub skip_tags: Vec<String>,
    /// Digests never to offer.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Vec::is_empty"))]
    pub skip_digests: Vec<String>,
    /// No update is announced before this moment.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub snooze_until: Option<DateTime<Utc>>,
    /// Whether candidates must mature first.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub maturity_mode: Option<MaturityMode>,
    /// How old a candidate must be, in days, in [`MaturityMode::Mature`] (default 7).
    #[cfg_attr(
        feature = "serde",
        serde(
            skip_serializing_if = "Option::is_none",
            deserialize_with = "whole_days"
        )
    )]
    pub maturity_min_age_days: Option<u32>,
}

/// Whether updates wait to mature.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum MaturityMode {
    /// Every update as soon as it is seen.
    #[default]
    All,
    /// Only updates seen for at least the minimum age.
    Mature,
}

/// A change to an update policy, as the `PATCH /api/containers/{id}/update-policy` actions name them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyChange {
    /// Skip the update currently offered (its tag or its digest).
    SkipCurrent,
    /// Forget all skipped tags and digests.
    ClearSkips,
    /// Suppress updates for a number of days from now.
    SnoozeDays(u32),
    /// Suppress updates until a moment.
    SnoozeUntil(DateTime<Utc>),
    /// End the snooze.
    Unsnooze,
    /// Remove the whole policy.
    Clear,
}

/// A policy change that cannot be applied, naming why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// `skip-current` when no update is offered.
    #[error("there is no update to skip")]
    NothingToSkip,
    /// A snooze of 0 or more than [`MAX_DAYS`] days.
    #[error("days must be between 1 and {MAX_DAYS}, got {0}")]
    DaysOutOfRange(u32),
    /// A snooze date not in the future.
    #[error("snoozeUntil {0} is not in the future")]
    SnoozeInPast(DateTime<Utc>),
}

/// Why an available update is not announced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suppression {
    /// Snoozed until this moment.
    Snoozed(DateTime<Utc>),
    /// The offered tag was skipped.
    SkippedTag,
    /// The offered digest was skipped.
    SkippedDigest,
    /// The candidate is too young; it matures at this moment.
    Maturing(DateTime<Utc>),
}

impl fmt::Display for Suppression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Snoozed(until) => write!(f, "snoozed until {}", until.to_rfc3339()),
            Self::SkippedTag => f.write_str("the offered tag is skipped"),
            Self::SkippedDigest => f.write_str("the offered digest is skipped"),
            Self::Maturing(at) => write!(f, "maturing until {}", at.to_rfc3339()),
        }
    }
}

/// A whole number of days, also when a JSON writer spells it `7.0` (JSON has one number type, and
/// the API's schema says `integer`, which `7.0` is).
#[cfg(feature = "serde")]
fn whole_days<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    use serde::de::{Error, Unexpected, Visitor};

    struct Days;
    impl<'de> Visitor<'de> for Days {
        type Value = Option<u32>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a whole number of days")
        }

        fn visit_none<E: Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: serde::Deserializer<'de>>(
            self,
            deserializer: D,
        ) -> Result<Self::Value, D::Error> {
            deserializer.deserialize_any(self)
        }

        fn visit_u64<E: Error>(self, v: u64) -> Result<Self::Value, E> {
            u32::try_from(v)
                .map(Some)
                .map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
        }

        fn visit_i64<E: Error>(self, v: i64) -> Result<Self::Value, E> {
            u32::try_from(v)
                .map(Some)
                .map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))
        }

        fn visit_f64<E: Error>(self, v: f64) -> Result<Self::Value, E> {
            if v.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&v) {
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                Ok(Some(v as u32))
            } else {
                Err(E::invalid_value(Unexpected::Float(v), &self))
            }
        }
    }

    deserializer.deserialize_option(Days)
}

impl UpdatePolicy {
    /// Whether the policy holds nothing.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Applies a change. `offered` is the update currently offered (for `skip-current`).
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use drydock_core::policy::{PolicyChange, UpdatePolicy};
    /// use drydock_core::model::UpdateKind;
    ///
    /// let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    /// let mut policy = UpdatePolicy::default();
    /// policy.apply(PolicyChange::SnoozeDays(7), &UpdateKind::none(), now).unwrap();
    /// assert_eq!(policy.snooze_until, Some(Utc.with_ymd_and_hms(2026, 1, 8, 0, 0, 0).unwrap()));
    /// ```
    pub fn apply(
        &mut self,
        change: PolicyChange,
        offered: &UpdateKind,
        now: DateTime<Utc>,
    ) -> Result<(), PolicyError> {
        match change {
            PolicyChange::SkipCurrent => {
                let value = offered
                    .remote_value
                    .clone()
                    .ok_or(PolicyError::NothingToSkip)?;
                let list = match offered.kind {
                    KindOfUpdate::Tag => &mut self.skip_tags,
                    KindOfUpdate::Digest => &mut self.skip_digests,
                    KindOfUpdate::Unknown => return Err(PolicyError::NothingToSkip),
                };
                if !list.contains(&value) {
                    list.push(value);
                }
            }
            PolicyChange::ClearSkips => {
                self.skip_tags.clear();
                self.skip_digests.clear();
            }
            PolicyChange::SnoozeDays(days) => {
                if days == 0 || days > MAX_DAYS {
                    return Err(PolicyError::DaysOutOfRange(days));
                }
                self.snooze_until = Some(now + Duration::days(i64::from(days)));
            }
            PolicyChange::SnoozeUntil(until) => {
                if until <= now {
                    return Err(PolicyError::SnoozeInPast(until));
                }
                self.snooze_until = Some(until);
            }
            PolicyChange::Unsnooze => self.snooze_until = None,
            PolicyChange::Clear => *self = Self::default(),
        }
        Ok(())
    }

    /// Why `update` is not announced at `now`, or `None` when it is. `first_seen` is when drydock
    /// first saw this candidate (for maturity); unknown counts as now.
    pub fn suppression(
        &self,
        update: &UpdateKind,
        first_seen: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Option<Suppression> {
        if !update.is_update() {
            return None;
        }
        if let Some(until) = self.snooze_until.filter(|until| *until > now) {
            return Some(Suppression::Snoozed(until));
        }
        let remote = update.remote_value.as_deref().unwrap_or_default();
        match update.kind {
            KindOfUpdate::Tag if self.skip_tags.iter().any(|t| t == remote) => {
                return Some(Suppression::SkippedTag);
            }
            KindOfUpdate::Digest if self.skip_digests.iter().any(|d| d == remote) => {
                return Some(Suppression::SkippedDigest);
            }
            _ => {}
        }
        if self.maturity_mode == Some(MaturityMode::Mature) {
            let days = self.maturity_min_age_days.unwrap_or(7).clamp(1, MAX_DAYS);
            let matures = first_seen.unwrap_or(now) + Duration::days(i64::from(days));
            if matures > now {
                return Some(Suppression::Maturing(matures));
            }
        }
        None
    }
}

/// Which update levels a trigger acts on (`THRESHOLD`), with drydock's semantics:
///
/// | threshold | acts on |
/// |---|---|
/// | `all` | everything, unclassified updates included |
/// | `major` | major, minor, patch, prerelease, digest |
/// | `minor` | minor, patch, prerelease, digest |
/// | `patch` | patch, prerelease, digest |
/// | `major-only`, `minor-only`, `patch-only` | that level only |
/// | `digest` | digest updates only |
/// | `…-no-digest` | as without the suffix, digest updates excluded |
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Threshold {
    /// Everything.
    #[default]
    All,
    /// Major and smaller.
    Major,
    /// Minor and smaller.
    Minor,
    /// Patch and smaller.
    Patch,
    /// Major only.
    MajorOnly,
    /// Minor only.
    MinorOnly,
    /// Patch only.
    PatchOnly,
    /// Digest updates only.
    Digest,
    /// Everything but digest updates.
    AllNoDigest,
    /// Major and smaller, no digest updates.
    MajorNoDigest,
    /// Minor and smaller, no digest updates.
    MinorNoDigest,
    /// Patch and smaller, no digest updates.
    PatchNoDigest,
}

/// A threshold name that is not one of [`Threshold`]'s.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "threshold `{0}` is not one of: all, major, minor, patch, major-only, minor-only, patch-only, digest, all-no-digest, major-no-digest, minor-no-digest, patch-no-digest"
)]
pub struct UnknownThreshold(pub String);

impl FromStr for Threshold {
    type Err = UnknownThreshold;

    fn from_str(input: &str) -> Result<Self, UnknownThreshold> {
        Ok(match input.trim().to_ascii_lowercase().as_str() {
            "all" => Self::All,
            "major" => Self::Major,
            "minor" => Self::Minor,
            "patch" => Self::Patch,
            "major-only" => Self::MajorOnly,
            "minor-only" => Self::MinorOnly,
            "patch-only" => Self::PatchOnly,
            "digest" => Self::Digest,
            "all-no-digest" => Self::AllNoDigest,
            "major-no-digest" => Self::MajorNoDigest,
            "minor-no-digest" => Self::MinorNoDigest,
            "patch-no-digest" => Self::PatchNoDigest,
            _ => return Err(UnknownThreshold(input.to_owned())),
        })
    }
}

impl Threshold {
    /// The name it is configured by (`minor`, `patch-no-digest`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Major => "major",
            Self::Minor => "minor",
            Self::Patch => "patch",
            Self::MajorOnly => "major-only",
            Self::MinorOnly => "minor-only",
            Self::PatchOnly => "patch-only",
            Self::Digest => "digest",
            Self::AllNoDigest => "all-no-digest",
            Self::MajorNoDigest => "major-no-digest",
            Self::MinorNoDigest => "minor-no-digest",
            Self::PatchNoDigest => "patch-no-digest",
        }
    }

    /// Whether a trigger with this threshold acts on an update of `level`.
    ///
    /// ```
    /// use drydock_core::model::UpdateLevel;
    /// use drydock_core::policy::Threshold;
    ///
    /// assert!(Threshold::Minor.allows(UpdateLevel::Patch));
    /// assert!(!Threshold::Minor.allows(UpdateLevel::Major));
    /// assert!(Threshold::Minor.allows(UpdateLevel::Digest));
    /// assert!(!Threshold::MinorNoDigest.allows(UpdateLevel::Digest));
    /// ```
    pub fn allows(self, level: UpdateLevel) -> bool {
        use UpdateLevel as L;
        let at_most = |max: u8| {
            let rank = match level {
                L::Major => 3,
                L::Minor => 2,
                L::Patch | L::Prerelease => 1,
                L::Digest | L::Unknown => return false,
            };
            rank <= max
        };
        match self {
            Self::All => true,
            Self::AllNoDigest => level != L::Digest,
            Self::Major => at_most(3) || level == L::Digest,
            Self::Minor => at_most(2) || level == L::Digest,
            Self::Patch => at_most(1) || level == L::Digest,
            Self::MajorNoDigest => at_most(3),
            Self::MinorNoDigest => at_most(2),
            Self::PatchNoDigest => at_most(1),
            Self::MajorOnly => level == L::Major,
            Self::MinorOnly => level == L::Minor,
            Self::PatchOnly => level == L::Patch,
            Self::Digest => level == L::Digest,
        }
    }
}

/// One entry of a trigger list label (`dd.notification.include`, `dd.action.include`, ...):
/// `triggerRef[:threshold]`, where the reference is a trigger's `name` or `type.name`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TriggerListEntry {
    /// The trigger reference, trimmed, lower case.
    pub reference: String,
    /// The threshold after `:`: `None` when none is given, the name when it is not one of
    /// [`Threshold`]'s.
    pub threshold: Option<Result<Threshold, UnknownThreshold>>,
}

impl TriggerListEntry {
    /// Whether the entry names the trigger `{kind}.{name}` (either spelling, any case).
    pub fn names(&self, kind: &str, name: &str) -> bool {
        self.reference.eq_ignore_ascii_case(name)
            || self
                .reference
                .split_once('.')
                .is_some_and(|(k, n)| k.eq_ignore_ascii_case(kind) && n.eq_ignore_ascii_case(name))
    }
}

/// Reads a trigger list label: comma-separated `triggerRef[:threshold]` entries, blanks skipped.
///
/// ```
/// use drydock_core::policy::{Threshold, trigger_list};
///
/// let list = trigger_list("docker.local:minor, ntfy.one ,slack.ops:sometimes");
/// assert_eq!(list[0].threshold, Some(Ok(Threshold::Minor)));
/// assert!(list[0].names("docker", "local") && !list[0].names("dockercompose", "local"));
/// assert!(list[1].threshold.is_none() && list[1].names("ntfy", "one"));
/// assert!(matches!(list[2].threshold, Some(Err(_))));
/// ```
pub fn trigger_list(list: &str) -> Vec<TriggerListEntry> {
    list.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|entry| {
            let (reference, threshold) = match entry.rsplit_once(':') {
                Some((reference, threshold)) => (reference, Some(threshold.parse())),
                None => (entry, None),
            };
            TriggerListEntry {
                reference: reference.trim().to_ascii_lowercase(),
                threshold,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::SemverDiff;
    use chrono::TimeZone;

    fn at(day: u32) -> DateTime<Utc> {
        match Utc.with_ymd_and_hms(2026, 3, day, 12, 0, 0) {
            chrono::LocalResult::Single(t) => t,
            _ => panic!("bad date"),
        }
    }

    fn tag_update(to: &str) -> UpdateKind {
        UpdateKind {
            kind: KindOfUpdate::Tag,
            local_value: Some("1.0.0".into()),
            remote_value: Some(to.into()),
            semver_diff: Some(SemverDiff::Minor),
        }
    }

    fn digest_update(to: &str) -> UpdateKind {
        UpdateKind {
            kind: KindOfUpdate::Digest,
            local_value: Some("sha256:old".into()),
            remote_value: Some(to.into()),
            semver_diff: Some(SemverDiff::Unknown),
        }
    }

    #[test]
    fn skip_current_suppresses_that_candidate_only() {
        let mut policy = UpdatePolicy::default();
        policy
            .apply(PolicyChange::SkipCurrent, &tag_update("1.1.0"), at(1))
            .unwrap();
        assert_eq!(policy.skip_tags, ["1.1.0"]);
        assert_eq!(
            policy.suppression(&tag_update("1.1.0"), None, at(1)),
            Some(Suppression::SkippedTag)
        );
        assert_eq!(policy.suppression(&tag_update("1.2.0"), None, at(1)), None);

        policy
            .apply(
                PolicyChange::SkipCurrent,
                &digest_update("sha256:new"),
                at(1),
            )
            .unwrap();
        assert_eq!(
            policy.suppression(&digest_update("sha256:new"), None, at(1)),
            Some(Suppression::SkippedDigest)
        );
        policy
            .apply(PolicyChange::ClearSkips, &UpdateKind::none(), at(1))
            .unwrap();
        assert_eq!(policy.suppression(&tag_update("1.1.0"), None, at(1)), None);
        assert_eq!(
            policy.apply(PolicyChange::SkipCurrent, &UpdateKind::none(), at(1)),
            Err(PolicyError::NothingToSkip)
        );
    }

    #[test]
    fn snooze_ends_on_its_date() {
        let mut policy = UpdatePolicy::default();
        policy
            .apply(PolicyChange::SnoozeDays(7), &UpdateKind::none(), at(1))
            .unwrap();
        assert_eq!(
            policy.suppression(&tag_update("2.0.0"), None, at(7)),
            Some(Suppression::Snoozed(at(8)))
        );
        assert_eq!(policy.suppression(&tag_update("2.0.0"), None, at(8)), None);
        policy
            .apply(
                PolicyChange::SnoozeUntil(at(20)),
                &UpdateKind::none(),
                at(9),
            )
            .unwrap();
        policy
            .apply(PolicyChange::Unsnooze, &UpdateKind::none(), at(9))
            .unwrap();
        assert_eq!(policy.suppression(&tag_update("2.0.0"), None, at(9)), None);
        assert_eq!(
            policy.apply(PolicyChange::SnoozeDays(0), &UpdateKind::none(), at(1)),
            Err(PolicyError::DaysOutOfRange(0))
        );
        assert_eq!(
            policy.apply(PolicyChange::SnoozeUntil(at(1)), &UpdateKind::none(), at(2)),
            Err(PolicyError::SnoozeInPast(at(1)))
        );
    }

    #[test]
    fn maturity_counts_from_first_sight() {
        let policy = UpdatePolicy {
            maturity_mode: Some(MaturityMode::Mature),
            maturity_min_age_days: Some(3),
            ..UpdatePolicy::default()
        };
        assert_eq!(
            policy.suppression(&tag_update("2.0.0"), Some(at(1)), at(2)),
            Some(Suppression::Maturing(at(4)))
        );
        assert_eq!(
            policy.suppression(&tag_update("2.0.0"), Some(at(1)), at(4)),
            None
        );
        // A candidate never seen before starts maturing now.
        assert_eq!(
            policy.suppression(&tag_update("2.0.0"), None, at(10)),
            Some(Suppression::Maturing(at(13)))
        );
    }

    #[test]
    fn no_update_is_never_suppressed_and_clear_empties() {
        let mut policy = UpdatePolicy {
            skip_tags: vec!["x".into()],
            snooze_until: Some(at(30)),
            ..UpdatePolicy::default()
        };
        assert_eq!(policy.suppression(&UpdateKind::none(), None, at(1)), None);
        policy
            .apply(PolicyChange::Clear, &UpdateKind::none(), at(1))
            .unwrap();
        assert!(policy.is_empty());
    }

    const THRESHOLDS: [&str; 12] = [
        "all",
        "major",
        "minor",
        "patch",
        "major-only",
        "minor-only",
        "patch-only",
        "digest",
        "all-no-digest",
        "major-no-digest",
        "minor-no-digest",
        "patch-no-digest",
    ];

    #[test]
    fn threshold_names_read_back() {
        for name in THRESHOLDS {
            assert_eq!(name.parse::<Threshold>().map(Threshold::as_str), Ok(name));
        }
    }

    proptest::proptest! {
        /// A list written from entries reads back as those entries, whatever the spacing and
        /// case; each entry names its own trigger and no other.
        #[test]
        fn trigger_lists_read_back(
            entries in proptest::collection::vec(
                ("[a-z]{1,8}", "[a-z0-9]{1,8}", proptest::option::of(0..13usize), " {0,2}", proptest::bool::ANY),
                0..6,
            )
        ) {
            let written: Vec<String> = entries
                .iter()
                .map(|(kind, name, threshold, pad, upper)| {
                    let reference = format!("{kind}.{name}");
                    let reference = if *upper { reference.to_uppercase() } else { reference };
                    match threshold {
                        Some(i) if *i < 12 => format!("{pad}{reference}:{}{pad}", THRESHOLDS[*i]),
                        Some(_) => format!("{pad}{reference}:sometimes"),
                        None => format!("{pad}{reference}{pad}"),
                    }
                })
                .collect();
            let read = trigger_list(&written.join(","));
            proptest::prop_assert_eq!(read.len(), entries.len());
            for (entry, (kind, name, threshold, _, _)) in read.iter().zip(&entries) {
                proptest::prop_assert!(entry.names(kind, name));
                let (other_kind, other_name) = (format!("{kind}x"), format!("{name}x"));
                proptest::prop_assert!(!entry.names(&other_kind, name));
                proptest::prop_assert!(!entry.names(kind, &other_name));
                match threshold {
                    Some(i) if *i < 12 => proptest::prop_assert_eq!(
                        entry.threshold.clone().map(|t| t.map(Threshold::as_str)),
                        Some(Ok(THRESHOLDS[*i]))
                    ),
                    Some(_) => proptest::prop_assert!(matches!(entry.threshold, Some(Err(_)))),
                    None => proptest::prop_assert!(entry.threshold.is_none()),
                }
            }
        }
    }

    #[test]
    fn thresholds_follow_drydock() {
        use UpdateLevel as L;
        let levels = [
            L::Major,
            L::Minor,
            L::Patch,
            L::Prerelease,
            L::Digest,
            L::Unknown,
        ];
        let table: &[(&str, [bool; 6])] = &[
            ("all", [true, true, true, true, true, true]),
            ("major", [true, true, true, true, true, false]),
            ("minor", [false, true, true, true, true, false]),
            ("patch", [false, false, true, true, true, false]),
            ("major-only", [true, false, false, false, false, false]),
            ("minor-only", [false, true, false, false, false, false]),
            ("patch-only", [false, false, true, false, false, false]),
            ("digest", [false, false, false, false, true, false]),
            ("all-no-digest", [true, true, true, true, false, true]),
            ("major-no-digest", [true, true, true, true, false, false]),
            ("minor-no-digest", [false, true, true, true, false, false]),
            ("PATCH-NO-DIGEST", [false, false, true, true, false, false]),
        ];
        for (name, expected) in table {
            let threshold: Threshold = name.parse().unwrap();
            for (level, want) in levels.iter().zip(expected) {
                assert_eq!(threshold.allows(*level), *want, "{name} on {level}");
            }
        }
        assert!("everything".parse::<Threshold>().is_err());
    }

    /// The API's schema says `integer`; JSON writers that spell a whole number `40.0` are right.
    #[cfg(feature = "serde")]
    #[test]
    fn whole_days_read_in_any_json_spelling() {
        let read = |json: &str| serde_json::from_str::<UpdatePolicy>(json);
        assert_eq!(
            read(r#"{"maturityMinAgeDays": 40}"#)
                .unwrap()
                .maturity_min_age_days,
            Some(40)
        );
        assert_eq!(
            read(r#"{"maturityMinAgeDays": 40.0}"#)
                .unwrap()
                .maturity_min_age_days,
            Some(40)
        );
        assert_eq!(
            read(r#"{"maturityMinAgeDays": null}"#)
                .unwrap()
                .maturity_min_age_days,
            None
        );
        assert_eq!(read("{}").unwrap().maturity_min_age_days, None);
        for bad in ["40.5", "-1", "4294967296", "\"7\""] {
            assert!(
                read(&format!(r#"{{"maturityMinAgeDays": {bad}}}"#)).is_err(),
                "{bad}"
            );
        }
    }
}
