//! `Version::parse` and the family and precedence rules, on up to three tags (one per line):
//! parsing never panics and reads the tag back in order; the orderings are total orders
//! (reflexive, antisymmetric, transitive); the family relation is symmetric except for the
//! deliberately one-sided leading-zero rule; and the numeric order agrees with semver's where
//! both speak of the same thing.
#![no_main]

use std::cmp::Ordering;

use drydock_core::version::{FamilyConflict, MAX_SEGMENTS, Version};
use libfuzzer_sys::fuzz_target;

/// Checks what one version says about itself.
fn check_one(tag: &str, v: &Version<'_>) {
    assert_eq!(v.as_str(), tag);
    assert_eq!(v.to_string(), tag);
    assert!(tag.starts_with(v.prefix()), "{v:?}");
    assert!(tag.ends_with(v.variant()), "{v:?}");
    if let Some(pre) = v.prerelease() {
        assert!(tag.contains(pre), "{v:?}");
        assert!(v.is_prerelease());
    }
    assert!((1..=MAX_SEGMENTS).contains(&v.segment_count()), "{v:?}");
    assert_eq!(v.numbers().count(), v.segment_count());
    assert_eq!(v.cmp_precedence(v), Ordering::Equal, "{v:?}");
    assert_eq!(v.cmp_release(v), Ordering::Equal, "{v:?}");
    assert_eq!(v.cmp_build(v), Ordering::Equal, "{v:?}");
    assert_eq!(v.family_conflict(v), None, "{v:?} is not in its own family");
    assert_eq!(v.loose_family_conflict(v), None);
    assert!(v.same_variant_template(v));
    assert!(v.same_core(v));
    // Reading is deterministic.
    assert_eq!(Version::parse(tag), Some(*v));
    let _ = v.to_semver();
}

/// The family conflicts that must hold both ways (the leading-zero rule is one-sided on purpose).
fn symmetric(conflict: Option<FamilyConflict>) -> Option<FamilyConflict> {
    conflict.filter(|c| *c != FamilyConflict::LeadingZero)
}

fn check_pair(a: &Version<'_>, b: &Version<'_>) {
    for cmp in [
        Version::cmp_precedence,
        Version::cmp_release,
        Version::cmp_build,
    ] {
        assert_eq!(cmp(a, b), cmp(b, a).reverse(), "{a:?} against {b:?}");
    }
    assert_eq!(
        symmetric(a.family_conflict(b)),
        symmetric(b.family_conflict(a)),
        "{a:?} against {b:?}"
    );
    assert_eq!(a.loose_family_conflict(b), b.loose_family_conflict(a));
    assert_eq!(a.same_variant_template(b), b.same_variant_template(a));
    assert_eq!(a.same_core(b), b.same_core(a));
    // Precedence is release first, then build.
    assert_eq!(a.cmp_precedence(b), a.cmp_release(b).then(a.cmp_build(b)));
    // A change between two versions is classified whichever is newer.
    let _ = a.diff(b);
    // Without prereleases and with at most three numbers, the order is semver's.
    if !a.is_prerelease() && !b.is_prerelease() && a.segment_count() <= 3 && b.segment_count() <= 3
    {
        assert_eq!(
            a.cmp_release(b),
            a.to_semver().cmp_precedence(&b.to_semver()),
            "{a:?} against {b:?}"
        );
    }
}

fn check_transitive<'v>(cmp: fn(&Version<'v>, &Version<'v>) -> Ordering, vs: [&Version<'v>; 3]) {
    let [a, b, c] = vs;
    if cmp(a, b) != Ordering::Greater && cmp(b, c) != Ordering::Greater {
        assert_ne!(cmp(a, c), Ordering::Greater, "{a:?} <= {b:?} <= {c:?}");
    }
    if cmp(a, b) == Ordering::Equal && cmp(b, c) == Ordering::Equal {
        assert_eq!(cmp(a, c), Ordering::Equal, "{a:?} = {b:?} = {c:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let tags: Vec<&str> = input.splitn(3, '\n').collect();
    let versions: Vec<Version<'_>> = tags
        .iter()
        .filter_map(|tag| {
            let v = Version::parse(tag)?;
            check_one(tag, &v);
            Some(v)
        })
        .collect();
    for a in &versions {
        for b in &versions {
            check_pair(a, b);
        }
    }
    if let [a, b, c] = versions.as_slice() {
        for cmp in [
            Version::cmp_precedence,
            Version::cmp_release,
            Version::cmp_build,
        ] {
            for order in [
                [a, b, c],
                [a, c, b],
                [b, a, c],
                [b, c, a],
                [c, a, b],
                [c, b, a],
            ] {
                check_transitive(cmp, order);
            }
        }
    }
});
