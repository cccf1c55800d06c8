//! Property tests of the version and selection logic: no downgrade, no dependence on the
//! registry's tag order, no panic on any input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cmp::Ordering;
use std::collections::BTreeMap;

use drydock_core::rules::TagRules;
use drydock_core::selection::{Outcome, Verdict, select};
use drydock_core::version::Version;
use proptest::prelude::*;

/// Tags shaped like real registries': versions in several families, prereleases, noise.
fn tag() -> impl Strategy<Value = String> {
    let version = (
        prop::sample::select(vec!["", "", "", "v", "release-"]),
        prop::collection::vec(0u64..25, 1..=4),
        prop::sample::select(vec![
            "", "", "", "-rc.1", "-rc.2", "-beta2", "rc1", "-alpha",
        ]),
        prop::sample::select(vec![
            "",
            "",
            "",
            "-alpine",
            "-alpine3.19",
            "-ls12",
            "-ls100",
            "-slim",
        ]),
    )
        .prop_map(|(prefix, numbers, pre, variant)| {
            let core: Vec<String> = numbers.iter().map(u64::to_string).collect();
            format!("{prefix}{}{pre}{variant}", core.join("."))
        });
    let noise = prop::sample::select(vec![
        "latest".to_owned(),
        "edge".to_owned(),
        "sha-1a2b3c4d".to_owned(),
        "sha256-0123456789abcdef.sig".to_owned(),
        "2021.12.16".to_owned(),
        "20240101".to_owned(),
    ]);
    prop_oneof![8 => version, 1 => noise]
}

fn newer_than(candidate: &str, current: &str) -> bool {
    let (Some(c), Some(cur)) = (Version::parse(candidate), Version::parse(current)) else {
        return false;
    };
    match c.cmp_release(&cur) {
        Ordering::Greater => true,
        Ordering::Equal => c.cmp_build(&cur) == Ordering::Greater,
        Ordering::Less => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn never_a_downgrade(current in tag(), tags in prop::collection::vec(tag(), 0..40)) {
        let selection = select(&current, &tags, &TagRules::default());
        if let Outcome::Update { tag, .. } = &selection.outcome {
            prop_assert!(selection.current_is_version);
            prop_assert!(newer_than(tag, &current), "{current} -> {tag} is not an upgrade");
            let cur = Version::parse(&current).unwrap();
            let chosen = Version::parse(tag).unwrap();
            prop_assert_eq!(cur.family_conflict(&chosen), None, "{} -> {} leaves the family", current, tag);
            prop_assert!(cur.is_prerelease() || !chosen.is_prerelease(), "{} -> prerelease {}", current, tag);
        }
    }

    #[test]
    fn the_best_candidate_beats_every_other_candidate(
        current in tag(),
        tags in prop::collection::vec(tag(), 0..40),
    ) {
        let selection = select(&current, &tags, &TagRules::default());
        if let Some(best) = selection.update_tag() {
            let best = Version::parse(best).unwrap();
            for (tag, verdict) in selection.explain(&tags) {
                if verdict == Verdict::Passed {
                    let other = Version::parse(tag).unwrap();
                    prop_assert_ne!(other.cmp_release(&best), Ordering::Greater, "{} beats the chosen {}", tag, best);
                }
            }
        }
    }

    #[test]
    fn stable_under_shuffling(
        (current, tags, shuffled) in (tag(), prop::collection::vec(tag(), 0..40))
            .prop_flat_map(|(current, tags)| {
                let shuffled = Just(tags.clone()).prop_shuffle();
                (Just(current), Just(tags), shuffled)
            })
    ) {
        let rules = TagRules::default();
        let a = select(&current, &tags, &rules);
        let b = select(&current, &shuffled, &rules);
        prop_assert_eq!(a.update_tag(), b.update_tag());
        let by_tag = |s: &drydock_core::selection::Selection, tags: &[String]| {
            s.explain(tags)
                .map(|(t, v)| (t.to_owned(), format!("{v:?}")))
                .collect::<BTreeMap<_, _>>()
        };
        prop_assert_eq!(by_tag(&a, &tags), by_tag(&b, &shuffled));
    }

    #[test]
    fn precedence_is_antisymmetric(a in tag(), b in tag()) {
        if let (Some(x), Some(y)) = (Version::parse(&a), Version::parse(&b)) {
            prop_assert_eq!(x.cmp_precedence(&y), y.cmp_precedence(&x).reverse());
        }
    }

    #[test]
    fn parsing_never_panics(s in any::<String>(), t in "[0-9a-zA-Z.+_~-]{0,40}") {
        let _ = Version::parse(&s);
        if let Some(v) = Version::parse(&t) {
            prop_assert!(v.segment_count() >= 1);
            let _ = v.to_semver();
        }
    }

    #[test]
    fn selection_never_panics_on_any_input(
        current in any::<String>(),
        tags in prop::collection::vec(any::<String>(), 0..20),
        pattern in "[a-z0-9.*+?()|\\\\^$-]{0,12}",
    ) {
        let _ = select(&current, &tags, &TagRules::default());
        if let Ok(rules) = TagRules::builder().include(pattern.clone()).exclude(pattern.clone()).build() {
            let _ = select(&current, &tags, &rules);
        }
        if let Ok(rules) = TagRules::builder().transform(format!("{pattern} => $1.$2$0")).build() {
            let _ = select(&current, &tags, &rules);
        }
    }
}
