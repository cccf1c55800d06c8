//! Containers as notification templates see them, and the sample container a trigger test
//! announces.

use drydock_core::model::{Container, Image, ImageTag, KindOfUpdate, UpdateKind, UpdateResult};
use drydock_core::template::Value;
use drydock_core::version::SemverDiff;

/// A container as templates see it: the API's JSON.
pub fn template_value(container: &Container) -> Value {
    serde_json::to_value(container)
        .map(|v| from_json(&v))
        .unwrap_or_default()
}

fn from_json(value: &serde_json::Value) -> Value {
    match value {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => Value::Number(n.as_f64().unwrap_or_default()),
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(items) => Value::Array(items.iter().map(from_json).collect()),
        serde_json::Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), from_json(v))).collect())
        }
    }
}

/// The container a trigger test announces when none is given: `drydock-test`, on `1.0.0`, with
/// `1.1.0` available.
pub fn sample_container() -> Container {
    Container {
        id: "drydock-test".into(),
        name: "drydock-test".into(),
        watcher: "local".into(),
        image: Image {
            name: "drydock/test".into(),
            tag: ImageTag {
                value: "1.0.0".into(),
                semver: true,
            },
            ..Image::default()
        },
        result: Some(UpdateResult {
            tag: Some("1.1.0".into()),
            ..UpdateResult::default()
        }),
        update_available: true,
        update_kind: UpdateKind {
            kind: KindOfUpdate::Tag,
            local_value: Some("1.0.0".into()),
            remote_value: Some("1.1.0".into()),
            semver_diff: Some(SemverDiff::Minor),
        },
        ..Container::default()
    }
}
