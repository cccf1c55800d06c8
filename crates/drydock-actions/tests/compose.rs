//! Property tests of the compose `image:` patch: on generated compose files (several services,
//! comments and blank lines anywhere, any indentation, quoting styles, CRLF, nested `image:` keys
//! that are not the service's own), a patch changes exactly the target's image line, the new
//! line reads back as the new image, and patching back restores the file byte for byte. And no
//! input makes it panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use drydock_actions::compose::patch_image;
use drydock_core::image_ref::ImageReference;
use proptest::prelude::*;

/// Image references that YAML reads as strings when unquoted.
const IMAGES: &[&str] = &[
    "nginx",
    "nginx:1.25",
    "nginx:1.27-alpine",
    "ghcr.io/org/app:v1.2.3",
    "localhost:5000/team/api:2024.01",
    "redis:7",
    "docker.io/library/busybox:latest",
    "postgres@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "registry.example.com:8443/a/b/c:1.0.0-rc.1",
];

const NAMES: &[&str] = &[
    "web",
    "db",
    "cache",
    "worker",
    "proxy",
    "app-1",
    "api.v2",
    "my_service",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quote {
    None,
    Single,
    Double,
}

fn quote() -> impl Strategy<Value = Quote> {
    prop_oneof![3 => Just(Quote::None), 1 => Just(Quote::Single), 1 => Just(Quote::Double)]
}

fn quoted(s: &str, q: Quote) -> String {
    match q {
        Quote::None => s.to_owned(),
        Quote::Single => format!("'{s}'"),
        Quote::Double => format!("\"{s}\""),
    }
}

/// Keys a service may have besides `image:`, some with nested `image:` keys of their own.
#[derive(Debug, Clone, Copy)]
enum Extra {
    PortsCompact,
    PortsIndented,
    Labels,
    Build,
    Command,
    Entrypoint,
    MultiLineFlow,
    Environment,
    MultiLinePlain,
    Extension,
}

fn extra() -> impl Strategy<Value = Extra> {
    prop::sample::select(vec![
        Extra::PortsCompact,
        Extra::PortsIndented,
        Extra::Labels,
        Extra::Build,
        Extra::Command,
        Extra::Entrypoint,
        Extra::MultiLineFlow,
        Extra::Environment,
        Extra::MultiLinePlain,
        Extra::Extension,
    ])
}

/// The lines of one extra key, at child indentation `c` with nested step `n`.
fn extra_lines(extra: Extra, c: &str, n: &str) -> Vec<String> {
    let lines: Vec<String> = match extra {
        Extra::PortsCompact => vec![format!("{c}ports:"), format!("{c}- \"80:80\"")],
        Extra::PortsIndented => vec![format!("{c}ports:"), format!("{c}{n}- 443:443")],
        Extra::Labels => vec![
            format!("{c}labels:"),
            format!("{c}{n}image: nginx:1.25"),
            format!("{c}{n}com.example.x: \"y\""),
        ],
        Extra::Build => vec![
            format!("{c}build:"),
            format!("{c}{n}context: ."),
            format!("{c}{n}image: redis:7 # not the service's"),
        ],
        Extra::Command => vec![
            format!("{c}command: |"),
            format!("{c}{n}image: nginx:1.25"),
            String::new(),
            format!("{c}{n}  # not a comment"),
            format!("{c}{n}echo \"it's [ {{ \t- ? x"),
            format!("{c}{n}\tindented with a tab"),
        ],
        Extra::Entrypoint => vec![format!("{c}entrypoint: [\"sh\", \"-c\", \"image: x\"]")],
        Extra::MultiLineFlow => vec![
            format!("{c}healthcheck: {{test: [\"CMD\", \"true\"],"),
            format!("{c}{n}interval: 10s}}"),
        ],
        Extra::Environment => vec![
            format!("{c}environment:"),
            format!("{c}{n}- image: nginx"),
            format!("{c}{n}  other: 1"),
        ],
        Extra::MultiLinePlain => vec![
            format!("{c}description: a plain"),
            format!("{c}{n}scalar \"on' two [lines"),
        ],
        Extra::Extension => vec![
            format!("{c}x-drydock:"),
            format!("{c}{n}image: ghcr.io/org/app:v1.2.3"),
        ],
    };
    lines
}

#[derive(Debug, Clone)]
struct ImageLine {
    image: String,
    quote: Quote,
    /// Spaces after `image:`.
    gap: String,
    /// Text after the value: blanks and perhaps a comment.
    trailer: String,
}

#[derive(Debug, Clone)]
struct Service {
    name_quote: Quote,
    image: Option<ImageLine>,
    image_pos: prop::sample::Index,
    extras: Vec<Extra>,
}

fn image_line() -> impl Strategy<Value = ImageLine> {
    (
        prop::sample::select(IMAGES),
        quote(),
        prop::sample::select(vec![" ", " ", "  ", "   "]),
        prop::sample::select(vec![
            "",
            "",
            " ",
            "  # pinned",
            " #x",
            "\t# tab",
            " # image: x",
        ]),
    )
        .prop_map(|(image, quote, gap, trailer)| ImageLine {
            image: image.to_owned(),
            quote,
            gap: gap.to_owned(),
            trailer: trailer.to_owned(),
        })
}

fn service() -> impl Strategy<Value = Service> {
    (
        quote(),
        prop::option::weighted(0.85, image_line()),
        any::<prop::sample::Index>(),
        prop::collection::vec(extra(), 0..5),
    )
        .prop_map(|(name_quote, image, image_pos, extras)| Service {
            name_quote,
            image,
            image_pos,
            extras,
        })
}

/// A line between items: blank (perhaps with blanks) or a comment at any indentation.
fn noise() -> impl Strategy<Value = Option<String>> {
    prop::option::weighted(
        0.3,
        prop_oneof![
            prop::sample::select(vec!["", "  ", "\t"]).prop_map(str::to_owned),
            (
                0usize..9,
                prop::sample::select(vec![
                    "# image: evil:9",
                    "#",
                    "# services:",
                    "#   web:",
                    "# - image: x",
                ])
            )
                .prop_map(|(indent, text)| format!("{}{text}", " ".repeat(indent))),
        ],
    )
}

#[derive(Debug, Clone)]
struct Doc {
    names: Vec<&'static str>,
    services: Vec<Service>,
    service_indent: usize,
    child_step: usize,
    nested_step: usize,
    crlf: bool,
    final_newline: bool,
    prelude: bool,
    postlude: bool,
    services_key: &'static str,
    noise: Vec<Option<String>>,
}

fn doc() -> impl Strategy<Value = Doc> {
    (
        prop::sample::subsequence(NAMES, 1..=5).prop_shuffle(),
        prop::collection::vec(service(), 5),
        1usize..=4,
        1usize..=4,
        1usize..=4,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::sample::select(vec!["services:", "\"services\":", "services: # the stack"]),
        prop::collection::vec(noise(), 1..40),
    )
        .prop_map(
            |(
                names,
                services,
                service_indent,
                child_step,
                nested_step,
                crlf,
                final_newline,
                prelude,
                postlude,
                services_key,
                noise,
            )| Doc {
                services: services.into_iter().take(names.len()).collect(),
                names,
                service_indent,
                child_step,
                nested_step,
                crlf,
                final_newline,
                prelude,
                postlude,
                services_key,
                noise,
            },
        )
}

/// The rendered file and, per service, the 0-based line of its image line.
struct Rendered {
    text: String,
    image_lines: Vec<Option<usize>>,
}

fn render_image(c: &str, image: &ImageLine, value: &str) -> String {
    format!(
        "{c}image:{}{}{}",
        image.gap,
        quoted(value, image.quote),
        image.trailer
    )
}

fn render(doc: &Doc) -> Rendered {
    let s = " ".repeat(doc.service_indent);
    let c = " ".repeat(doc.service_indent + doc.child_step);
    let n = " ".repeat(doc.nested_step);
    // Groups of lines that must stay together; noise goes between groups.
    let mut groups: Vec<(Vec<String>, Option<usize>)> = Vec::new();
    if doc.prelude {
        groups.push((vec!["version: \"3.8\"".to_owned()], None));
        groups.push((
            vec![
                "x-common: &common".to_owned(),
                format!("{n}image: nginx:1.25"),
            ],
            None,
        ));
    }
    groups.push((vec![doc.services_key.to_owned()], None));
    for (index, (name, service)) in doc.names.iter().zip(&doc.services).enumerate() {
        groups.push((
            vec![format!("{s}{}:", quoted(name, service.name_quote))],
            None,
        ));
        let mut items: Vec<(Vec<String>, Option<usize>)> = service
            .extras
            .iter()
            .map(|&e| (extra_lines(e, &c, &n), None))
            .collect();
        if let Some(image) = &service.image {
            let at = service.image_pos.index(items.len() + 1);
            items.insert(
                at,
                (vec![render_image(&c, image, &image.image)], Some(index)),
            );
        }
        groups.extend(items);
    }
    if doc.postlude {
        groups.push((vec!["volumes:".to_owned(), format!("{n}data: {{}}")], None));
    }

    let mut lines: Vec<String> = Vec::new();
    let mut image_lines = vec![None; doc.names.len()];
    for (g, (group, owner)) in groups.into_iter().enumerate() {
        // Nothing may come between `services:` and its first service's key except noise, so
        // noise before any group is fine.
        if let Some(Some(noise)) = doc.noise.get(g % doc.noise.len()) {
            lines.push(noise.clone());
        }
        if let Some(owner) = owner {
            image_lines[owner] = Some(lines.len());
        }
        lines.extend(group);
    }
    let eol = if doc.crlf { "\r\n" } else { "\n" };
    let mut text = lines.join(eol);
    if doc.final_newline {
        text.push_str(eol);
    }
    Rendered { text, image_lines }
}

/// The value of an `image:` line, unquoted, without trailer.
fn value_of(line: &str) -> &str {
    let line = line.trim_end_matches(['\n', '\r']);
    let value = line
        .split_once("image:")
        .map_or("", |(_, v)| v)
        .trim_start();
    let value = match value.split_once(" #").or_else(|| value.split_once("\t#")) {
        Some((v, _)) => v,
        None => value,
    };
    value.trim_end().trim_matches(['"', '\''])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn patching_changes_exactly_the_targets_image_line_and_patching_back_restores_the_file(
        doc in doc(),
        target in any::<prop::sample::Index>(),
        new in prop::sample::select(IMAGES),
    ) {
        let rendered = render(&doc);
        let with_image: Vec<usize> = (0..doc.names.len())
            .filter(|&i| rendered.image_lines[i].is_some())
            .collect();
        prop_assume!(!with_image.is_empty());
        let target = with_image[target.index(with_image.len())];
        let name = doc.names[target];
        let image = doc.services[target].image.clone().unwrap();
        let image_line = rendered.image_lines[target].unwrap();
        let text = &rendered.text;

        let patched = patch_image(text, name, new);
        prop_assert!(patched.is_ok(), "{:?} failed: {:?}\n{}", name, patched, text);
        let patched = patched.unwrap();
        prop_assert_eq!(patched.line, image_line + 1);
        prop_assert_eq!(&patched.old_image, &image.image);

        let before: Vec<&str> = text.split_inclusive('\n').collect();
        let after: Vec<&str> = patched.text.split_inclusive('\n').collect();
        prop_assert_eq!(before.len(), after.len());
        let changed: Vec<usize> = (0..before.len()).filter(|&i| before[i] != after[i]).collect();
        if new == image.image {
            prop_assert!(changed.is_empty());
        } else {
            prop_assert_eq!(changed, vec![image_line]);
        }
        let c = " ".repeat(doc.service_indent + doc.child_step);
        let eol = if doc.crlf { "\r\n" } else { "\n" };
        let new_line = after[image_line];
        let expected = render_image(&c, &image, new);
        prop_assert_eq!(new_line.trim_end_matches(['\n', '\r']), expected.as_str());
        prop_assert!(new_line.ends_with(eol) || image_line + 1 == after.len());
        prop_assert_eq!(
            ImageReference::parse(value_of(new_line)),
            ImageReference::parse(new)
        );

        let back = patch_image(&patched.text, name, &image.image);
        prop_assert!(back.is_ok(), "patching back failed: {:?}", back);
        let back = back.unwrap();
        prop_assert_eq!(&back.text, text);
        prop_assert_eq!(back.old_image.as_str(), new);
    }

    #[test]
    fn every_service_without_an_image_line_is_refused(doc in doc()) {
        let rendered = render(&doc);
        for (i, name) in doc.names.iter().enumerate() {
            if rendered.image_lines[i].is_none() {
                prop_assert!(patch_image(&rendered.text, name, "nginx:1").is_err());
            }
        }
        prop_assert!(patch_image(&rendered.text, "absent", "nginx:1").is_err());
    }

    #[test]
    fn patch_never_panics_on_any_string(text in any::<String>(), service in any::<String>()) {
        let _ = patch_image(&text, &service, "nginx:1");
        let _ = patch_image(&text, "web", &service);
    }

    #[test]
    fn patch_never_panics_on_yaml_like_text(
        text in "(services:\n)?([ \t]{0,4}(- |\\? )?[\"'a-z&*!|>#\\[\\]{},:@$-]{0,8}( [\"'a-z:&*#\\[\\]{}|>-]{0,8})?\r?\n){0,12}",
    ) {
        for service in ["web", "a", "services", ""] {
            if let Ok(patched) = patch_image(&text, service, "nginx:1") {
                let before: Vec<&str> = text.split_inclusive('\n').collect();
                let after: Vec<&str> = patched.text.split_inclusive('\n').collect();
                prop_assert_eq!(before.len(), after.len());
                let changed = (0..before.len()).filter(|&i| before[i] != after[i]).count();
                prop_assert!(changed <= 1);
            }
        }
    }

    #[test]
    fn mutated_files_never_panic_and_change_at_most_one_line(
        doc in doc(),
        at in any::<prop::sample::Index>(),
        insert in prop::option::of(prop::sample::select(
            " \t\r\n:#'\"-|>&*![]{},é".chars().collect::<Vec<_>>()
        )),
    ) {
        let mut text = render(&doc).text;
        let boundaries: Vec<usize> =
            (0..=text.len()).filter(|&i| text.is_char_boundary(i)).collect();
        let at = boundaries[at.index(boundaries.len())];
        match insert {
            Some(ch) => text.insert(at, ch),
            None => {
                if at < text.len() {
                    text.remove(at);
                }
            }
        }
        for name in &doc.names {
            if let Ok(patched) = patch_image(&text, name, "nginx:1") {
                let before: Vec<&str> = text.split_inclusive('\n').collect();
                let after: Vec<&str> = patched.text.split_inclusive('\n').collect();
                prop_assert_eq!(before.len(), after.len());
                let changed: Vec<usize> =
                    (0..before.len()).filter(|&i| before[i] != after[i]).collect();
                prop_assert!(changed.len() <= 1);
                if let Some(&line) = changed.first() {
                    prop_assert_eq!(line + 1, patched.line);
                }
            }
        }
    }
}
