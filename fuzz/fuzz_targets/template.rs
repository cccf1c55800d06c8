//! Notification templates: compiling never panics, errors point inside the template, rendering
//! never panics and stays within `MAX_OUTPUT`, text without `${` renders as itself, and any text
//! quoted as a string literal renders back to itself.
#![no_main]

use std::collections::BTreeMap;

use drydock_core::template::{MAX_OUTPUT, MAX_TEMPLATE, Template, Value};
use libfuzzer_sys::fuzz_target;

/// A scope shaped like the one notifications render against.
fn scope() -> Value {
    let object = |pairs: Vec<(&str, Value)>| {
        Value::Object(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect::<BTreeMap<_, _>>(),
        )
    };
    let container = object(vec![
        ("name", Value::from("web")),
        ("watcher", Value::from("local")),
        ("updateAvailable", Value::Bool(true)),
        (
            "image",
            object(vec![
                ("name", Value::from("library/nginx")),
                ("tag", object(vec![("value", Value::from("1.25.3"))])),
            ]),
        ),
        (
            "updateKind",
            object(vec![
                ("kind", Value::from("tag")),
                ("localValue", Value::from("1.25.3")),
                ("remoteValue", Value::from("1.27.0")),
                ("semverDiff", Value::from("minor")),
            ]),
        ),
        (
            "result",
            object(vec![
                ("tag", Value::from("1.27.0")),
                ("link", Value::from("https://example.test/r/1.27.0")),
            ]),
        ),
        (
            "ports",
            Value::Array(vec![Value::Number(80.0), Value::Number(443.0)]),
        ),
        ("ratio", Value::Number(-0.5)),
        ("nothing", Value::Null),
    ]);
    object(vec![
        ("container", container.clone()),
        (
            "containers",
            Value::Array(vec![container.clone(), container]),
        ),
        ("count", Value::Number(2.0)),
    ])
}

fn render(template: &Template, scope: &Value) -> String {
    let out = template.render(scope);
    assert!(out.len() <= MAX_OUTPUT, "rendered {} bytes", out.len());
    // Rendering is a pure function of the template and the scope.
    assert_eq!(template.render(scope), out);
    out
}

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let scope = scope();
    match Template::compile(source) {
        Ok(template) => {
            let out = render(&template, &scope);
            if !source.contains("${") {
                assert_eq!(out, source);
            }
        }
        Err(e) => {
            assert!(source.contains("${") || source.len() > MAX_TEMPLATE, "{e}");
            if source.len() > MAX_TEMPLATE {
                assert_eq!(e.position, MAX_TEMPLATE, "{e}");
            } else {
                assert!(
                    e.position <= source.len(),
                    "{e} (template of {} bytes)",
                    source.len()
                );
            }
        }
    }

    // Any text, quoted as a string literal, renders as itself.
    let mut quoted = String::from("${\"");
    for c in source.chars() {
        if matches!(c, '"' | '\\') {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push_str("\"}");
    if quoted.len() <= MAX_TEMPLATE {
        match Template::compile(&quoted) {
            Ok(template) => assert_eq!(render(&template, &scope), source),
            Err(e) => panic!("the literal {quoted:?} does not compile: {e}"),
        }
    }
});
