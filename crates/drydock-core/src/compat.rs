//! What's Up Docker compatibility: whose names drydock uses where dashboards and Home Assistant
//! look for them (`DD_COMPAT`), and a container flattened the way MQTT and WUD's metrics carry it.

use serde_json::{Map, Value};

/// Whose names drydock uses where dashboards and Home Assistant look for them (`DD_COMPAT`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compat {
    /// drydock's own: metrics `dd_*`, MQTT topic `dd/container`, Home Assistant device `drydock`.
    #[default]
    Drydock,
    /// What's Up Docker's: metrics `wud_*`, MQTT topic `wud/container`, client id `wud_…`,
    /// Home Assistant device `wud`.
    Wud,
}

impl Compat {
    /// `dd` or `wud`: the prefix of metric names, of the MQTT topic and of the client id.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Drydock => "dd",
            Self::Wud => "wud",
        }
    }

    /// The Home Assistant device: `drydock` or `wud`.
    pub fn device(self) -> &'static str {
        match self {
            Self::Drydock => "drydock",
            Self::Wud => "wud",
        }
    }
}

fn snake(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else if c == '.' || c == '-' {
            out.push('_');
        } else {
            out.push(c);
        }
    }
    out
}

/// A container's API JSON flattened as MQTT publishes it: `{"image":{"tag":{"value":"1"}}}` →
/// `{"image_tag_value":"1"}` (snake_case keys joined by `_`); arrays become JSON text.
pub fn flatten_container(container: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    flatten("", container, &mut out);
    out
}

/// `{"image":{"tag":{"value":"1"}}}` → `{"image_tag_value":"1"}`; arrays become JSON text.
fn flatten(prefix: &str, value: &Value, out: &mut Map<String, Value>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                let key = snake(key);
                let joined = if prefix.is_empty() {
                    key
                } else {
                    format!("{prefix}_{key}")
                };
                flatten(&joined, inner, out);
            }
        }
        Value::Array(_) => {
            out.insert(prefix.to_owned(), Value::String(value.to_string()));
        }
        other => {
            out.insert(prefix.to_owned(), other.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn flattens_like_drydock() {
        let out = flatten_container(
            &json!({"image": {"tag": {"value": "1.0"}}, "updateKind": {"semverDiff": "major"}, "labels": {"com.docker.compose.project": "x"}, "list": [1, 2]}),
        );
        assert_eq!(out["image_tag_value"], "1.0");
        assert_eq!(out["update_kind_semver_diff"], "major");
        assert_eq!(out["labels_com_docker_compose_project"], "x");
        assert_eq!(out["list"], "[1,2]");
    }
}
