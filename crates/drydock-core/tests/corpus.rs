//! Golden tag corpus: realistic registry tag lists with the update a demanding user expects,
//! checked against `selection::select` (outcome, diff kind and, where given, the trace).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

use drydock_core::rules::TagRules;
use drydock_core::selection::{Outcome, Selection, Verdict, select};
use serde_json::Value;

const CORPUS: &str = include_str!("corpus/tags.json");

/// Every `DropReason::code()`; the corpus must assert each at least once.
const DROP_CODES: [&str; 13] = [
    "artifact",
    "not-included",
    "excluded",
    "commit-tag",
    "not-a-version",
    "other-family:prefix",
    "other-family:segments",
    "other-family:scheme",
    "other-family:variant",
    "other-family:leading-zero",
    "prerelease",
    "current",
    "not-newer",
];

/// `kind` values: a diff for an update, or what an outcome without an update is.
const KINDS: [&str; 7] = [
    "major",
    "minor",
    "patch",
    "prerelease",
    "unknown",
    "up-to-date",
    "digest",
];

const MIN_CASES: usize = 90;
const MIN_TRACED: usize = 25;

struct Case {
    name: String,
    why: String,
    current: String,
    tags: Vec<String>,
    include: Option<String>,
    exclude: Option<String>,
    transform: Option<String>,
    family: Option<String>,
    expect: Option<String>,
    kind: String,
    /// Tag → expected drop code, in file order.
    dropped: Vec<(String, String)>,
}

fn string(case: &str, value: &Value, key: &str) -> String {
    match value.get(key) {
        Some(Value::String(s)) => s.clone(),
        other => panic!("case {case}: `{key}` must be a string, found {other:?}"),
    }
}

fn optional_string(case: &str, value: &Value, key: &str) -> Option<String> {
    match value.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => panic!("case {case}: `{key}` must be a string or null, found {other}"),
    }
}

fn load() -> Vec<Case> {
    let root: Value = serde_json::from_str(CORPUS).expect("corpus/tags.json is valid JSON");
    let entries = root.as_array().expect("corpus/tags.json is a JSON array");
    entries
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let name = match entry.get("name") {
                Some(Value::String(s)) => s.clone(),
                _ => panic!("case #{i} has no string `name`"),
            };
            let tags = entry
                .get("tags")
                .and_then(Value::as_array)
                .unwrap_or_else(|| panic!("case {name}: `tags` must be an array"))
                .iter()
                .map(|t| {
                    t.as_str()
                        .unwrap_or_else(|| panic!("case {name}: tags must be strings"))
                        .to_owned()
                })
                .collect();
            let dropped = match entry.get("dropped") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Object(map)) => map
                    .iter()
                    .map(|(tag, code)| {
                        let code = code.as_str().unwrap_or_else(|| {
                            panic!("case {name}: dropped[{tag}] must be a string")
                        });
                        (tag.clone(), code.to_owned())
                    })
                    .collect(),
                Some(other) => panic!("case {name}: `dropped` must be an object, found {other}"),
            };
            Case {
                why: string(&name, entry, "why"),
                current: string(&name, entry, "current"),
                tags,
                include: optional_string(&name, entry, "include"),
                exclude: optional_string(&name, entry, "exclude"),
                transform: optional_string(&name, entry, "transform"),
                family: optional_string(&name, entry, "family"),
                expect: optional_string(&name, entry, "expect"),
                kind: string(&name, entry, "kind"),
                dropped,
                name,
            }
        })
        .collect()
}

fn rules(case: &Case) -> Result<TagRules, String> {
    let mut builder = TagRules::builder();
    if let Some(include) = &case.include {
        builder = builder.include(include.as_str());
    }
    if let Some(exclude) = &case.exclude {
        builder = builder.exclude(exclude.as_str());
    }
    if let Some(transform) = &case.transform {
        builder = builder.transform(transform.as_str());
    }
    if let Some(family) = &case.family {
        builder = builder.family(family.as_str());
    }
    builder.build().map_err(|e| e.to_string())
}

/// The outcome as the corpus writes it: the chosen tag (if any) and the kind.
fn outcome_text(outcome: &Outcome) -> (Option<&str>, &'static str) {
    match outcome {
        Outcome::Update { tag, diff, .. } => (Some(tag.as_str()), diff.as_str()),
        Outcome::UpToDate => (None, "up-to-date"),
        Outcome::DigestOnly { .. } => (None, "digest"),
    }
}

fn verdict_text(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Chosen => "chosen",
        Verdict::Passed => "passed",
        Verdict::Dropped(reason) => reason.code(),
    }
}

fn show(tag: Option<&str>, kind: &str) -> String {
    match tag {
        Some(tag) => format!("{tag} ({kind})"),
        None => format!("none ({kind})"),
    }
}

/// Every disagreement between the case and the engine, one line each.
fn check(case: &Case) -> Vec<String> {
    let rules = match rules(case) {
        Ok(rules) => rules,
        Err(e) => return vec![format!("rules do not build: {e}")],
    };
    let selection: Selection = select(&case.current, &case.tags, &rules);
    let mut problems = Vec::new();

    let (got_tag, got_kind) = outcome_text(&selection.outcome);
    if got_tag != case.expect.as_deref() || got_kind != case.kind {
        problems.push(format!(
            "expected {}, got {}",
            show(case.expect.as_deref(), &case.kind),
            show(got_tag, got_kind)
        ));
    }

    let verdicts: HashMap<&str, Verdict> = selection.explain(&case.tags).collect();
    for (tag, code) in &case.dropped {
        match verdicts.get(tag.as_str()) {
            Some(&verdict) if verdict_text(verdict) == code => {}
            Some(&verdict) => problems.push(format!(
                "tag {tag}: expected dropped `{code}`, got `{}`",
                verdict_text(verdict)
            )),
            None => problems.push(format!(
                "tag {tag}: expected dropped `{code}`, got no verdict"
            )),
        }
    }
    problems
}

#[test]
fn corpus_is_well_formed() {
    let cases = load();
    let mut problems = Vec::new();

    if cases.len() < MIN_CASES {
        problems.push(format!(
            "{} cases, at least {MIN_CASES} wanted",
            cases.len()
        ));
    }
    let traced = cases.iter().filter(|c| !c.dropped.is_empty()).count();
    if traced < MIN_TRACED {
        problems.push(format!(
            "{traced} cases assert the trace, at least {MIN_TRACED} wanted"
        ));
    }

    let mut names = BTreeSet::new();
    for case in &cases {
        let name = &case.name;
        if !names.insert(name.as_str()) {
            problems.push(format!("duplicate case name `{name}`"));
        }
        if name.trim().is_empty() || case.why.trim().is_empty() {
            problems.push(format!("case `{name}`: empty name or why"));
        }
        if !KINDS.contains(&case.kind.as_str()) {
            problems.push(format!("case {name}: unknown kind `{}`", case.kind));
        }
        let no_update_kind = matches!(case.kind.as_str(), "up-to-date" | "digest");
        if case.expect.is_some() == no_update_kind {
            problems.push(format!(
                "case {name}: kind `{}` does not fit expect {:?}",
                case.kind, case.expect
            ));
        }
        if let Some(expect) = &case.expect
            && !case.tags.contains(expect)
        {
            problems.push(format!(
                "case {name}: expected tag {expect} is not in its tags"
            ));
        }
        let unique: BTreeSet<&str> = case.tags.iter().map(String::as_str).collect();
        if unique.len() != case.tags.len() {
            problems.push(format!("case {name}: a tag is listed twice"));
        }
        for (tag, code) in &case.dropped {
            if !case.tags.contains(tag) {
                problems.push(format!("case {name}: dropped tag {tag} is not in its tags"));
            }
            if !DROP_CODES.contains(&code.as_str()) {
                problems.push(format!("case {name}: unknown drop code `{code}`"));
            }
        }
    }

    let asserted: BTreeSet<&str> = cases
        .iter()
        .flat_map(|c| c.dropped.iter().map(|(_, code)| code.as_str()))
        .collect();
    for code in DROP_CODES {
        if !asserted.contains(code) {
            problems.push(format!("no case asserts the drop code `{code}`"));
        }
    }

    assert!(
        problems.is_empty(),
        "corpus/tags.json is malformed:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn corpus_matches_the_engine() {
    let cases = load();
    let mut report = String::new();
    let mut failed = 0usize;
    for case in &cases {
        let problems = check(case);
        if problems.is_empty() {
            continue;
        }
        failed += 1;
        let _ = writeln!(
            report,
            "\n{} (current {}): {}",
            case.name, case.current, case.why
        );
        for problem in problems {
            let _ = writeln!(report, "    {problem}");
        }
    }
    assert!(
        failed == 0,
        "{failed} of {} corpus cases disagree with the engine:\n{report}",
        cases.len()
    );
}
