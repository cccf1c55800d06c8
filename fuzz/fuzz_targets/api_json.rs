//! The request bodies the API deserializes (`PATCH /update-policy`, `POST /rollback`), read and
//! validated as the server does: a bad body is always a 400, never a panic or a 500; an accepted
//! body means what its JSON says; and the policy it produces is stored and read back unchanged.
#![no_main]

use chrono::{DateTime, TimeZone as _, Utc};
use drydock::fuzzing::{policy_body, rollback_body};
use drydock_core::model::{KindOfUpdate, UpdateKind};
use drydock_core::policy::{PolicyChange, Suppression, UpdatePolicy};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// A field of a body: by name in an object or, since serde's derived structs also read arrays,
/// by position in an array (`["snooze", 7]`).
fn field<'v>(body: &'v Value, name: &str, position: usize) -> Option<&'v Value> {
    match body {
        Value::Array(items) => items.get(position),
        _ => body.get(name),
    }
}

fn offered() -> UpdateKind {
    UpdateKind {
        kind: KindOfUpdate::Tag,
        local_value: Some("1.25.3".into()),
        remote_value: Some("1.27.0".into()),
        semver_diff: None,
    }
}

fn now() -> DateTime<Utc> {
    match Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0) {
        chrono::LocalResult::Single(t) => t,
        _ => unreachable!("a valid date"),
    }
}

/// `PATCH /update-policy`: refused with a 400, or a change that means what the JSON says and
/// produces a policy the store reads back.
fn check_policy(data: &[u8], json: Option<&Value>) {
    let change = match policy_body(data) {
        Err(refusal) => {
            assert_eq!(refusal.status, 400, "{refusal:?} for {json:?}");
            return;
        }
        Ok(change) => change,
    };
    if let Some(body) = json {
        let action = field(body, "action", 0).and_then(Value::as_str);
        let expected = match &change {
            PolicyChange::SkipCurrent => "skip-current",
            PolicyChange::ClearSkips => "clear-skips",
            PolicyChange::Unsnooze => "unsnooze",
            PolicyChange::Clear => "clear",
            PolicyChange::SnoozeDays(days) => {
                let given = field(body, "days", 1).and_then(Value::as_u64);
                assert_eq!(given, Some(u64::from(*days)));
                "snooze"
            }
            PolicyChange::SnoozeUntil(until) => {
                let text = field(body, "snoozeUntil", 2).and_then(Value::as_str);
                assert_eq!(text.and_then(|t| t.parse().ok()), Some(*until));
                "snooze"
            }
        };
        assert_eq!(action, Some(expected));
    }

    // What the handler does next, against an offered tag update.
    let mut policy = UpdatePolicy::default();
    let snooze = matches!(
        change,
        PolicyChange::SnoozeDays(_) | PolicyChange::SnoozeUntil(_)
    );
    if policy.apply(change, &offered(), now()).is_err() {
        return;
    }
    let suppression = policy.suppression(&offered(), None, now());
    if snooze {
        assert!(matches!(suppression, Some(Suppression::Snoozed(t)) if t > now()));
    }
    // The store keeps the policy as JSON, and the API answers with it.
    let stored = serde_json::to_vec(&policy).unwrap_or_else(|e| panic!("{e}"));
    let read: UpdatePolicy = serde_json::from_slice(&stored).unwrap_or_else(|e| {
        panic!(
            "{policy:?} stored as {} cannot be read back: {e}",
            String::from_utf8_lossy(&stored)
        )
    });
    assert_eq!(read, policy);
}

/// `POST /rollback`: refused with a 400, or the backup id the JSON names.
fn check_rollback(data: &[u8], json: Option<&Value>) {
    match rollback_body(data) {
        Err(refusal) => assert_eq!(refusal.status, 400, "{refusal:?}"),
        Ok(backup) => {
            if let Some(body) = json {
                let named = field(body, "backupId", 0).and_then(Value::as_str);
                assert_eq!(backup.as_deref(), named);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // serde_json skips the fields a body type does not name without checking them fully (strings
    // need not be UTF-8, numbers need not fit an f64), so a body may be accepted while the bytes,
    // as a whole, are not JSON that `Value` reads: only then is the meaning left unchecked. The
    // lossy reading keeps the values of the fields that are read, which must be valid.
    let json: Option<Value> = serde_json::from_str(&String::from_utf8_lossy(data)).ok();
    check_policy(data, json.as_ref());
    check_rollback(data, json.as_ref());
});
