//! What a recreation carries over: the container's own settings without its image's defaults,
//! and the same settings as comparable fields for the configuration check.

use std::collections::{BTreeMap, HashSet};

use bollard::models::{ContainerCreateBody, EndpointSettings, ImageConfig};
use serde_json::Value;

/// Removes from `body` what the container inherited from its old image rather than was given by
/// the user, so the new image's own defaults (its `PATH`, `CMD`, labels, ...) apply after the
/// update instead of being frozen at the old image's values.
///
/// A value is inherited when it equals the image's: environment entries and labels one by one,
/// exposed ports and volumes one by one, the other fields whole. `Cmd` is kept when `Entrypoint`
/// was overridden, because the engine drops the image's `CMD` when an entrypoint is given.
pub(crate) fn strip_image_defaults(body: &mut ContainerCreateBody, image: &ImageConfig) {
    if let (Some(env), Some(defaults)) = (body.env.as_mut(), image.env.as_ref()) {
        let defaults: HashSet<&String> = defaults.iter().collect();
        env.retain(|e| !defaults.contains(e));
    }
    if let (Some(labels), Some(defaults)) = (body.labels.as_mut(), image.labels.as_ref()) {
        labels.retain(|k, v| defaults.get(k) != Some(v));
    }
    if let (Some(ports), Some(defaults)) = (body.exposed_ports.as_mut(), &image.exposed_ports) {
        ports.retain(|p| !defaults.contains(p));
    }
    if let (Some(volumes), Some(defaults)) = (body.volumes.as_mut(), &image.volumes) {
        volumes.retain(|v| !defaults.contains(v));
    }
    let entrypoint_inherited = body.entrypoint == image.entrypoint || body.entrypoint.is_none();
    if entrypoint_inherited {
        body.entrypoint = None;
        if body.cmd == image.cmd {
            body.cmd = None;
        }
    }
    clear_if_same(&mut body.working_dir, &image.working_dir);
    clear_if_same(&mut body.user, &image.user);
    clear_if_same(&mut body.stop_signal, &image.stop_signal);
    clear_if_same(&mut body.healthcheck, &image.healthcheck);
    clear_if_same(&mut body.on_build, &image.on_build);
    clear_if_same(&mut body.shell, &image.shell);
    clear_if_same(&mut body.args_escaped, &image.args_escaped);
    // Empty collections and strings mean "unset" to the engine; drop them so both sides of a
    // comparison agree.
    body.env = body.env.take().filter(|v| !v.is_empty());
    body.labels = body.labels.take().filter(|v| !v.is_empty());
    body.exposed_ports = body.exposed_ports.take().filter(|v| !v.is_empty());
    body.volumes = body.volumes.take().filter(|v| !v.is_empty());
    body.working_dir = body.working_dir.take().filter(|v| !v.is_empty());
    body.user = body.user.take().filter(|v| !v.is_empty());
}

fn clear_if_same<T: PartialEq>(value: &mut Option<T>, default: &Option<T>) {
    if value.is_some() && value == default {
        *value = None;
    }
}

/// The settings of a create body and its extra networks as `field path → canonical JSON`,
/// the image left out. Unset fields (`null`, and the engine's empty defaults) are absent, so a
/// field the engine fills in differently for an unset value does not count as a change.
pub(crate) fn settings(
    body: &ContainerCreateBody,
    extra_networks: &[(String, EndpointSettings)],
) -> Result<BTreeMap<String, String>, String> {
    let mut body = body.clone();
    body.image = None;
    // Which operation created a container is not part of its configuration.
    if let Some(labels) = body.labels.as_mut() {
        labels.remove(drydock_core::operation::OPERATION_LABEL);
        if labels.is_empty() {
            body.labels = None;
        }
    }
    let host_config = body.host_config.take();
    let networking = body.networking_config.take();
    let mut out = BTreeMap::new();
    // One field per environment variable: a diff names the variable, never its neighbours' values.
    for variable in body.env.take().unwrap_or_default() {
        let (name, value) = match variable.split_once('=') {
            Some((name, value)) => (name.to_owned(), Value::String(value.to_owned())),
            // `NAME` alone: passed through from the engine's environment, no value.
            None => (variable.clone(), Value::Null),
        };
        out.insert(
            format!("{}{name}", drydock_core::operation::ENV_FIELD_PREFIX),
            canonical(&value),
        );
    }
    flatten_into(&mut out, "Config", to_value(&body)?);
    if let Some(host_config) = host_config {
        flatten_into(&mut out, "HostConfig", to_value(&host_config)?);
    }
    let endpoints = networking
        .and_then(|n| n.endpoints_config)
        .unwrap_or_default()
        .into_iter()
        .chain(extra_networks.iter().cloned());
    for (name, endpoint) in endpoints {
        out.insert(format!("Networks.{name}"), canonical(&to_value(&endpoint)?));
    }
    Ok(out)
}

fn to_value<T: serde::Serialize>(value: &T) -> Result<Value, String> {
    serde_json::to_value(value).map_err(|e| format!("cannot describe the configuration: {e}"))
}

/// One entry per top-level field of `value`, skipping unset and empty ones.
fn flatten_into(out: &mut BTreeMap<String, String>, prefix: &str, value: Value) {
    let Value::Object(fields) = value else {
        return;
    };
    for (key, field) in fields {
        if is_unset(&field) {
            continue;
        }
        out.insert(format!("{prefix}.{key}"), canonical(&field));
    }
}

fn is_unset(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.values().all(is_unset),
    }
}

/// JSON with object keys sorted (serde_json's map is ordered) and unset members dropped.
fn canonical(value: &Value) -> String {
    fn clean(value: &Value) -> Value {
        match value {
            Value::Object(o) => Value::Object(
                o.iter()
                    .filter(|(_, v)| !is_unset(v))
                    .map(|(k, v)| (k.clone(), clean(v)))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(clean).collect()),
            other => other.clone(),
        }
    }
    clean(value).to_string()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use bollard::models::HostConfig;

    use super::*;

    fn image() -> ImageConfig {
        ImageConfig {
            env: Some(vec!["PATH=/bin".into(), "VERSION=1".into()]),
            cmd: Some(vec!["serve".into()]),
            labels: Some(HashMap::from([(
                "org.opencontainers.image.version".into(),
                "1".into(),
            )])),
            working_dir: Some("/app".into()),
            exposed_ports: Some(vec!["80/tcp".into()]),
            ..ImageConfig::default()
        }
    }

    #[test]
    fn inherited_values_are_dropped_and_user_values_kept() {
        let mut body = ContainerCreateBody {
            env: Some(vec![
                "PATH=/bin".into(),
                "VERSION=1".into(),
                "TZ=UTC".into(),
            ]),
            cmd: Some(vec!["serve".into()]),
            labels: Some(HashMap::from([
                ("org.opencontainers.image.version".into(), "1".into()),
                ("dd.watch".into(), "true".into()),
            ])),
            working_dir: Some("/app".into()),
            exposed_ports: Some(vec!["80/tcp".into(), "9000/tcp".into()]),
            user: Some("1000".into()),
            ..ContainerCreateBody::default()
        };
        strip_image_defaults(&mut body, &image());
        assert_eq!(body.env, Some(vec!["TZ=UTC".to_owned()]));
        assert_eq!(
            body.cmd, None,
            "the image's CMD is the new image's to choose"
        );
        assert_eq!(
            body.labels,
            Some(HashMap::from([("dd.watch".to_owned(), "true".to_owned())]))
        );
        assert_eq!(body.working_dir, None);
        assert_eq!(body.exposed_ports, Some(vec!["9000/tcp".to_owned()]));
        assert_eq!(body.user.as_deref(), Some("1000"));
    }

    #[test]
    fn cmd_stays_when_the_entrypoint_was_overridden() {
        let mut body = ContainerCreateBody {
            entrypoint: Some(vec!["/bin/sh".into(), "-c".into()]),
            cmd: Some(vec!["serve".into()]),
            ..ContainerCreateBody::default()
        };
        strip_image_defaults(&mut body, &image());
        assert_eq!(body.cmd, Some(vec!["serve".to_owned()]));
        assert!(body.entrypoint.is_some());
    }

    #[test]
    fn settings_name_fields_and_skip_the_image() {
        let body = ContainerCreateBody {
            image: Some("a:1".into()),
            env: Some(vec!["TZ=UTC".into()]),
            host_config: Some(HostConfig {
                binds: Some(vec!["/data:/data".into()]),
                privileged: Some(false),
                ..HostConfig::default()
            }),
            ..ContainerCreateBody::default()
        };
        let extra = vec![(
            "backend".to_owned(),
            EndpointSettings {
                aliases: Some(vec!["db".into()]),
                ..EndpointSettings::default()
            },
        )];
        let fields = settings(&body, &extra).unwrap();
        assert_eq!(
            fields.keys().collect::<Vec<_>>(),
            vec!["Config.Env.TZ", "HostConfig.Binds", "Networks.backend"]
        );
        assert_eq!(fields["Networks.backend"], r#"{"Aliases":["db"]}"#);
        let other = ContainerCreateBody {
            image: Some("a:2".into()),
            ..body
        };
        assert_eq!(settings(&other, &extra).unwrap(), fields);
    }
}
