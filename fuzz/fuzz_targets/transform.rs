//! `dd.tag.transform` rules (`<regex> => <replacement>`): parsing never panics, and applying a
//! rule agrees with the `regex` crate's own replacement of the first match (with `$N` read as
//! group N, at most two digits, and every other `$` literal). Input: the rule on the first line,
//! tags on the following lines.
#![no_main]

use std::borrow::Cow;

use drydock_core::rules::{RuleError, TagRules, Transform};
use libfuzzer_sys::fuzz_target;
use regex::Regex;

/// The replacement in the `regex` crate's syntax: `$N` becomes `${N}`, any other `$` is `$$`.
fn regex_syntax(replacement: &str) -> String {
    let mut out = String::new();
    let mut rest = replacement;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).take(2).count();
        if digits > 0 {
            out.push_str("${");
            out.push_str(&after[..digits]);
            out.push('}');
            rest = &after[digits..];
        } else {
            out.push_str("$$");
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let (rule, tags) = input.split_once('\n').unwrap_or((input, ""));
    let transform = match rule.parse::<Transform>() {
        Ok(t) => t,
        Err(RuleError::TransformSyntax { .. }) => {
            assert!(
                !rule.contains("=>")
                    || rule
                        .split_once("=>")
                        .is_some_and(|(p, _)| p.trim().is_empty()),
                "{rule:?} refused as syntax"
            );
            return;
        }
        Err(_) => return,
    };
    assert_eq!(transform.as_str(), rule);
    let Some((pattern, replacement)) = rule.split_once("=>") else {
        panic!("{rule:?} accepted without `=>`");
    };
    // The rule compiled under drydock's tighter limits, so it compiles under the defaults.
    let Ok(regex) = Regex::new(pattern.trim()) else {
        panic!("{rule:?} accepted, but its pattern is not a regex");
    };
    let replacement = regex_syntax(replacement.trim());
    let rules = TagRules::builder().transform(rule).build();

    for tag in tags.split('\n') {
        let applied = transform.apply(tag);
        let expected = regex.replacen(tag, 1, replacement.as_str());
        assert_eq!(applied, expected, "{rule:?} on {tag:?}");
        if matches!(applied, Cow::Borrowed(_)) {
            assert_eq!(applied, tag);
        }
        if let Ok(rules) = &rules {
            assert_eq!(
                rules.transform(tag),
                applied,
                "the label's rules differ from the transform"
            );
        }
    }
});
