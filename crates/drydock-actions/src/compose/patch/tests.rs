//! The compose patcher's unit tests.
use super::scan::*;
use super::*;

/// Patches and checks that only the expected line changed, into `expected_line`.
fn patch_ok(text: &str, service: &str, new: &str) -> Patched {
    let patched = patch_image(text, service, new)
        .unwrap_or_else(|e| panic!("patching {service:?} failed: {e}\n{text}"));
    let before: Vec<&str> = text.split_inclusive('\n').collect();
    let after: Vec<&str> = patched.text.split_inclusive('\n').collect();
    assert_eq!(before.len(), after.len(), "line count changed");
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        if i + 1 != patched.line {
            assert_eq!(b, a, "line {} changed", i + 1);
        }
    }
    patched
}

fn line(text: &str, n: usize) -> &str {
    text.split_inclusive('\n').nth(n - 1).unwrap_or_default()
}

fn unsupported(text: &str, service: &str) -> (usize, String) {
    match patch_image(text, service, "nginx:1.27") {
        Err(ComposeError::Unsupported {
            service: s,
            line,
            reason,
        }) => {
            assert_eq!(s, service);
            (line, reason)
        }
        other => panic!("expected Unsupported for {service:?}, got {other:?}\n{text}"),
    }
}

const BASIC: &str = "\
# Production stack
version: \"3.8\"

services:
  # The front
  web:
    image: nginx:1.25   # pinned
    ports:
    - \"80:80\"
    labels:
      image: nginx:1.25
  db:
    image: nginx:1.25
    build:
      context: .
      image: nginx:1.25

volumes:
  data: {}
";

#[test]
fn replaces_only_the_value_keeping_the_trailing_comment() {
    let p = patch_ok(BASIC, "web", "nginx:1.27");
    assert_eq!(p.line, 7);
    assert_eq!(p.old_image, "nginx:1.25");
    assert_eq!(line(&p.text, 7), "    image: nginx:1.27   # pinned\n");
    assert_eq!(p.text, BASIC.replacen("nginx:1.25", "nginx:1.27", 1));
}

#[test]
fn other_services_and_nested_image_keys_are_left_alone() {
    let p = patch_ok(BASIC, "db", "postgres:16");
    assert_eq!(p.line, 13);
    assert_eq!(line(&p.text, 13), "    image: postgres:16\n");
    assert_eq!(p.text.matches("nginx:1.25").count(), 3);
}

#[test]
fn quoting_style_is_kept() {
    for (value, expected) in [
        ("'nginx:1.25'", "'nginx:1.27'"),
        ("\"nginx:1.25\"", "\"nginx:1.27\""),
        ("nginx:1.25", "nginx:1.27"),
    ] {
        let text = format!("services:\n  web:\n    image: {value} # c\n");
        let p = patch_ok(&text, "web", "nginx:1.27");
        assert_eq!(p.old_image, "nginx:1.25");
        assert_eq!(
            p.text,
            format!("services:\n  web:\n    image: {expected} # c\n")
        );
    }
    let p = patch_ok("services:\n  web:\n    image: 'it''s'\n", "web", "nginx");
    assert_eq!(p.old_image, "it's");
    assert_eq!(p.text, "services:\n  web:\n    image: 'nginx'\n");
}

#[test]
fn plain_values_yaml_would_not_read_as_strings_are_quoted() {
    let text = "services:\n  web:\n    image: nginx\n";
    for (new, written) in [
        ("123", "\"123\""),
        ("null", "\"null\""),
        ("yes", "\"yes\""),
        ("1e5", "\"1e5\""),
        ("0x1f", "\"0x1f\""),
        ("[::1]:5000/app:1", "\"[::1]:5000/app:1\""),
        ("app1", "app1"),
        ("library/123", "library/123"),
        (
            "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ),
    ] {
        let p = patch_ok(text, "web", new);
        assert_eq!(
            p.text,
            format!("services:\n  web:\n    image: {written}\n"),
            "{new}"
        );
    }
}

#[test]
fn crlf_bom_and_missing_final_newline_are_kept() {
    let text = "\u{feff}services:\r\n  web:\r\n    image: nginx:1.25\r\n    restart: always";
    let p = patch_ok(text, "web", "nginx:1.27");
    assert_eq!(
        p.text,
        "\u{feff}services:\r\n  web:\r\n    image: nginx:1.27\r\n    restart: always"
    );
    let p = patch_ok("services:\r\n  web:\r\n    image: nginx", "web", "nginx:2");
    assert_eq!(p.text, "services:\r\n  web:\r\n    image: nginx:2");
}

#[test]
fn any_consistent_indentation_and_quoted_keys() {
    let text = "\"services\":\n    'web' :\n          \"image\"  :   nginx:1.25\n    \"d\\\"b\":\n          image: nginx:1.25\n";
    let p = patch_ok(text, "web", "nginx:1.27");
    assert_eq!(line(&p.text, 3), "          \"image\"  :   nginx:1.27\n");
    let p = patch_ok(text, "d\"b", "nginx:1.27");
    assert_eq!(p.line, 5);
    let one = "services:\n web:\n  image: a\n";
    assert_eq!(
        patch_ok(one, "web", "b").text,
        "services:\n web:\n  image: b\n"
    );
}

#[test]
fn sequences_comments_and_block_scalars_around_the_image_line() {
    let text = "\
x-common: &common
  image: base:1
services:
  web:
    command: |
      image: evil:1
      echo hi
# a comment at column 0 inside the service
    environment:
      - A=1
      - image: evil:2
    entrypoint: [\"sh\",
  \"-c\"]
    healthcheck: {test: [\"CMD\", \"true\"],
                  interval: 10s}
    description: a plain
      multi-line scalar
    image: \"app:1\"

      # a deeper comment after the image
    volumes:
    -   ./a:/a
  other:
    image: app:1
";
    let p = patch_ok(text, "web", "app:2");
    assert_eq!(p.line, 18);
    assert_eq!(line(&p.text, 18), "    image: \"app:2\"\n");
    let p = patch_ok(text, "other", "app:2");
    assert_eq!(p.line, 24);
}

#[test]
fn the_service_key_may_carry_an_unused_anchor_or_merge_with_its_own_image() {
    let text = "\
x-base: &base
  image: base:1
  restart: always
services:
  web: &web # comment
    <<: *base
    image: app:1
";
    let p = patch_ok(text, "web", "app:2");
    assert_eq!(p.line, 7);
}

#[test]
fn missing_services_and_images() {
    let err = patch_image("version: '3'\n", "web", "nginx").unwrap_err();
    assert_eq!(
        err,
        ComposeError::NoServices {
            service: "web".into()
        }
    );
    assert!(err.to_string().contains("\"web\""));

    let err = patch_image(BASIC, "cache", "nginx").unwrap_err();
    assert_eq!(
        err,
        ComposeError::ServiceNotFound {
            service: "cache".into()
        }
    );
    assert!(err.to_string().contains("\"cache\""));

    let build_only = "services:\n  web:\n    build: .\n    labels:\n      image: x\n";
    let err = patch_image(build_only, "web", "nginx").unwrap_err();
    assert_eq!(
        err,
        ComposeError::NoImage {
            service: "web".into(),
            line: 2
        }
    );
    assert!(err.to_string().contains("\"web\""));

    let empty = "services:\n  web:\n  db:\n    image: x\n";
    let err = patch_image(empty, "web", "nginx").unwrap_err();
    assert_eq!(
        err,
        ComposeError::NoImage {
            service: "web".into(),
            line: 2
        }
    );
    assert!(patch_image("services:\n", "web", "nginx").is_err());
}

#[test]
fn invalid_new_images_are_refused() {
    let err = patch_image(BASIC, "web", "Nginx:1 # x").unwrap_err();
    assert!(
        matches!(err, ComposeError::InvalidImage { ref service, ref image, .. }
            if service == "web" && image == "Nginx:1 # x")
    );
    assert!(err.to_string().contains("\"web\""));
}

#[test]
fn flow_style_is_refused() {
    let (line, reason) = unsupported("services:\n  web: {image: nginx}\n", "web");
    assert_eq!(line, 2);
    assert!(reason.contains("flow style"), "{reason}");
    let (line, reason) = unsupported("services: {web: {image: nginx}}\n", "web");
    assert_eq!(line, 1);
    assert!(reason.contains("flow style"), "{reason}");
    let (_, reason) = unsupported("services:\n  web:\n    image: [nginx]\n", "web");
    assert!(reason.contains("flow"), "{reason}");
}

#[test]
fn aliases_merges_and_shared_anchors_are_refused() {
    let merged = "x: &base\n  image: nginx\nservices:\n  web:\n    <<: *base\n    ports: []\n";
    let (line, reason) = unsupported(merged, "web");
    assert_eq!(line, 5);
    assert!(reason.contains("merge"), "{reason}");

    let alias = "x: &img nginx\nservices:\n  web:\n    image: *img\n";
    let (line, reason) = unsupported(alias, "web");
    assert_eq!(line, 4);
    assert!(reason.contains("alias"), "{reason}");

    let service_alias = "x: &svc\n  image: nginx\nservices:\n  web: *svc\n";
    let (_, reason) = unsupported(service_alias, "web");
    assert!(reason.contains("alias"), "{reason}");

    let shared = "services:\n  web: &web\n    image: nginx\n  copy:\n    <<: *web\n";
    let (line, reason) = unsupported(shared, "web");
    assert_eq!(line, 2);
    assert!(reason.contains("&web"), "{reason}");

    let shared_value = "services:\n  web:\n    image: &img nginx\n  db:\n    image: *img\n";
    let (line, _) = unsupported(shared_value, "web");
    assert_eq!(line, 3);
    // An anchor nobody aliases is harmless.
    let p = patch_ok(
        "services:\n  web:\n    image: &img nginx\n",
        "web",
        "nginx:2",
    );
    assert_eq!(p.text, "services:\n  web:\n    image: &img nginx:2\n");
}

#[test]
fn multi_line_empty_null_tagged_and_interpolated_images_are_refused() {
    for (value, expect) in [
        ("nginx\n      :1.25", "several lines"),
        ("\"nginx\n      :1.25\"", "several lines"),
        ("|\n      nginx", "block scalar"),
        (">-\n      nginx", "block scalar"),
        ("", "no value"),
        ("# soon", "no value"),
        ("\n      nginx", "no value"),
        ("~", "null"),
        ("null", "null"),
        ("!!str nginx", "tag"),
        ("nginx:${TAG:-1}", "interpolation"),
        ("\"${REGISTRY}/app\"", "interpolation"),
        ("\"ngi\\u006ex\"", "escape"),
    ] {
        let text = format!("services:\n  web:\n    image: {value}\n    ports: []\n");
        let (line, reason) = unsupported(&text, "web");
        assert_eq!(line, 3, "{value:?}");
        assert!(reason.contains(expect), "{value:?}: {reason}");
    }
}

#[test]
fn duplicates_and_several_documents_are_refused() {
    let (line, reason) = unsupported(
        "services:\n  web:\n    image: a\n  web:\n    image: b\n",
        "web",
    );
    assert_eq!(line, 4);
    assert!(reason.contains("twice"), "{reason}");
    let (line, reason) = unsupported("services:\n  web:\n    image: a\n    image: b\n", "web");
    assert_eq!(line, 4);
    assert!(reason.contains("two `image:`"), "{reason}");
    let (_, reason) = unsupported("services:\n  a:\n    image: a\nservices:\n  b: {}\n", "a");
    assert!(reason.contains("two top-level"), "{reason}");
    let (line, reason) = unsupported(
        "---\nservices:\n  web:\n    image: a\n---\nservices: {}\n",
        "web",
    );
    assert_eq!(line, 5);
    assert!(reason.contains("documents"), "{reason}");
    // A leading `---` is fine.
    patch_ok(
        "%YAML 1.2\n--- # doc\nservices:\n  web:\n    image: a\n",
        "web",
        "b",
    );
}

#[test]
fn malformed_text_is_refused() {
    let cases = [
        ("services:\n  web:\n\timage: a\n", 3),
        ("services:\n  web:\n    image: a\n   db:\n    image: b\n", 4),
        ("services:\n  web:\n      image: a\n    ports: []\n", 4),
        ("services:\n  web:\n    image: \"a\n", 3),
        ("services:\n  web:\n    image: \"a\" b\n", 3),
        ("services:\n  web:\n    image: a: b\n", 3),
        ("services:\n  web:\r    image: a\n", 2),
        ("services:\n  web:\n    image: a\u{2028}\n", 3),
    ];
    for (text, expected_line) in cases {
        match patch_image(text, "web", "nginx") {
            Err(ComposeError::Malformed { service, line, .. }) => {
                assert_eq!(service, "web");
                assert_eq!(line, expected_line, "{text:?}");
            }
            other => panic!("{text:?}: expected Malformed, got {other:?}"),
        }
    }
}

#[test]
fn other_unreadable_structures_are_refused() {
    let (_, reason) = unsupported("services:\n  - web\n", "web");
    assert!(reason.contains("`name:`"), "{reason}");
    let (_, reason) = unsupported("services:\n  ? web\n  : {image: a}\n", "web");
    assert!(reason.contains("`name:`"), "{reason}");
    let (_, reason) = unsupported("services:\n  web: nginx\n", "web");
    assert!(reason.contains("not a mapping"), "{reason}");
    let (_, reason) = unsupported("services:\n  web:\n    ? image\n    : a\n", "web");
    assert!(reason.contains("`key:`"), "{reason}");
}

#[test]
fn plain_string_detection() {
    for s in ["nginx", "nginx:1.25", "a/b", "app1", "y2k", "0xzz"] {
        assert!(plain_is_string(s), "{s}");
    }
    for s in [
        "", "1", "1.25", "1:30", "true", "Off", "n", "1e5", "1.5e-3", "0o17", "[::1]/a",
    ] {
        assert!(!plain_is_string(s), "{s}");
    }
}
