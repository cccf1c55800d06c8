//! `selection::select` with the user's tag rules (include, exclude, transform, family mode):
//! never a downgrade, never out of the family in strict mode, never a prerelease for a release,
//! exactly one chosen tag that beats every other candidate, and a result that does not depend on
//! the order of the registry's tag list.
//!
//! Input, one item per line: the installed tag first; then `include=`, `exclude=`, `transform=`
//! and `family=` lines set the rules (as the `dd.tag.*` labels); every other line is a registry
//! tag.
#![no_main]

use std::cmp::Ordering;

use drydock_core::rules::{FamilyMode, TagRules};
use drydock_core::selection::{DropReason, Outcome, Verdict, select};
use drydock_core::version::Version;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let current = lines.next().unwrap_or_default();
    let mut builder = TagRules::builder();
    let mut tags = Vec::new();
    for line in lines {
        if let Some(pattern) = line.strip_prefix("include=") {
            builder = builder.include(pattern);
        } else if let Some(pattern) = line.strip_prefix("exclude=") {
            builder = builder.exclude(pattern);
        } else if let Some(rule) = line.strip_prefix("transform=") {
            builder = builder.transform(rule);
        } else if let Some(mode) = line.strip_prefix("family=") {
            builder = builder.family(mode);
        } else {
            tags.push(line.to_owned());
        }
    }
    let Ok(rules) = builder.build() else {
        return;
    };
    let tags = &tags;
    let selection = select(current, tags, &rules);

    // One decision per tag, in order, unless the installed tag is watched by digest only.
    match &selection.outcome {
        Outcome::DigestOnly { .. } => {
            assert!(selection.decisions.is_empty());
            assert!(!selection.current_is_version);
        }
        _ => {
            assert_eq!(selection.decisions.len(), tags.len());
            for (i, d) in selection.decisions.iter().enumerate() {
                assert_eq!(d.index, i);
            }
        }
    }
    assert_eq!(selection.current, rules.transform(&current));
    assert_eq!(
        selection.current_is_version,
        Version::parse(&selection.current).is_some()
    );
    let chosen: Vec<usize> = selection
        .decisions
        .iter()
        .filter(|d| d.verdict == Verdict::Chosen)
        .map(|d| d.index)
        .collect();

    // The same list reversed gives the same tag.
    let reversed: Vec<&str> = tags.iter().rev().map(String::as_str).collect();
    let other = select(&current, &reversed, &rules);
    assert_eq!(
        selection.update_tag(),
        other.update_tag(),
        "the result depends on the order of the tags"
    );

    let Outcome::Update { tag, index, .. } = &selection.outcome else {
        assert!(chosen.is_empty(), "a tag is chosen without an update");
        return;
    };
    assert_eq!(chosen, [*index]);
    assert_eq!(&tags[*index], tag);
    assert!(rules.includes(tag) && !rules.excludes(tag));
    let chosen_text = rules.transform(tag);
    let Some(best) = Version::parse(&chosen_text) else {
        panic!("chosen tag {tag:?} ({chosen_text:?}) is not a version");
    };
    assert!(!best.is_prerelease() || selection.current_is_version);

    if let Some(current) = Version::parse(&selection.current) {
        let newer = match best.cmp_release(&current) {
            Ordering::Greater => true,
            Ordering::Equal => best.cmp_build(&current) == Ordering::Greater,
            Ordering::Less => false,
        };
        assert!(newer, "{current:?} -> {best:?} is not an upgrade");
        if rules.family() == FamilyMode::Strict {
            assert_eq!(
                current.family_conflict(&best),
                None,
                "{current:?} -> {best:?}"
            );
        }
        assert_eq!(current.loose_family_conflict(&best), None);
        if best.is_prerelease() {
            assert!(current.is_prerelease() && best.same_core(&current));
        }
    }

    // No candidate that passed is a later release than the chosen one.
    for d in &selection.decisions {
        if d.verdict == Verdict::Passed {
            let text = rules.transform(&tags[d.index]);
            let Some(v) = Version::parse(&text) else {
                panic!("passed tag {:?} is not a version", tags[d.index]);
            };
            assert_ne!(
                v.cmp_release(&best),
                Ordering::Greater,
                "{v:?} passed over for {best:?}"
            );
        }
        if d.verdict == Verdict::Dropped(DropReason::Current) {
            assert_ne!(d.index, *index);
        }
    }
});
