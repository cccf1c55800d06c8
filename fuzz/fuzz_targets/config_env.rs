//! Start-up configuration from `DD_*` / `WUD_*` environment variables, read exactly as the server
//! reads it (`drydock::fuzzing::config_from_env`): never panics; variables outside `DD_*` and
//! `WUD_*` change nothing; `WUD_X` means what `DD_X` means; and an error message never repeats a
//! secret's value.
//!
//! Input: an environment file, one `KEY=value` per line.
#![no_main]

use std::collections::BTreeMap;

use drydock::fuzzing::config_from_env;
use libfuzzer_sys::fuzz_target;

/// Name endings of variables whose value is a secret.
const SECRET_NAMES: &[&str] = &["TOKEN", "PASSWORD", "SECRET", "BEARER", "PRIVATEKEY"];

fn is_secret(key: &str) -> bool {
    let last = key.rsplit('_').next().unwrap_or(key);
    SECRET_NAMES.iter().any(|s| last.contains(s))
        || last == "PASS"
        // A registry's `_AUTH` is base64 credentials; `DD_SERVER_METRICS_AUTH` is a switch.
        || (last == "AUTH" && key.contains("REGISTRY_"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut env = BTreeMap::new();
    for line in text.lines() {
        let (key, value) = line.split_once('=').unwrap_or((line, ""));
        // `X__FILE` names a file to read: I/O, not parsing, and a path such as /dev/zero would
        // only measure the machine.
        if key.contains("__FILE") {
            continue;
        }
        env.insert(key.to_owned(), value.to_owned());
    }
    let outcome = config_from_env(env.clone());

    // Other programs' variables are none of drydock's business.
    let mut with_others = env.clone();
    with_others.insert("PATH".into(), "/usr/bin:/bin".into());
    with_others.insert("HOME".into(), "/root".into());
    with_others.insert("D_SERVER_PORT".into(), "not a port".into());
    assert_eq!(
        config_from_env(with_others),
        outcome,
        "unrelated variables changed the result"
    );

    // What's Up Docker's names mean the same (when no `WUD_` name is there already: a `DD_` one
    // would win over it).
    if !env.keys().any(|k| k.starts_with("WUD_")) {
        let wud: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| match k.strip_prefix("DD_") {
                Some(rest) => (format!("WUD_{rest}"), v.clone()),
                None => (k.clone(), v.clone()),
            })
            .collect();
        assert_eq!(
            config_from_env(wud),
            outcome,
            "WUD_ aliases read differently"
        );
    }

    // Errors name variables, never a secret's value.
    if let Err(message) = &outcome {
        for (key, value) in &env {
            let distinctive = value.len() >= 12
                && value.bytes().any(|b| b.is_ascii_lowercase())
                && value.bytes().any(|b| b.is_ascii_digit())
                && !env.iter().any(|(k, v)| {
                    k.contains(value.as_str()) || (k != key && v.contains(value.as_str()))
                });
            if is_secret(key) && distinctive {
                assert!(
                    !message.contains(value.as_str()),
                    "the error repeats the value of {key}: {message}"
                );
            }
        }
    }
});
