//! The image reference grammar's unit tests.

use super::*;
use proptest::prelude::*;
use std::collections::HashSet;

const HEX64: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn sha256() -> String {
    format!("sha256:{HEX64}")
}

fn sha512() -> String {
    format!("sha512:{HEX64}{HEX64}")
}

fn parse(input: &str) -> Result<ImageReference, ImageRefError> {
    ImageReference::parse(input)
}

/// A valid input and the parts it must parse to.
struct Valid {
    input: String,
    registry: &'static str,
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
}

fn ok(
    input: &str,
    registry: &'static str,
    repository: &str,
    tag: Option<&str>,
    digest: Option<&str>,
) -> Valid {
    Valid {
        input: input.to_owned(),
        registry,
        repository: repository.to_owned(),
        tag: tag.map(str::to_owned),
        digest: digest.map(str::to_owned),
    }
}

fn valid_cases() -> Vec<Valid> {
    let d256 = sha256();
    let d512 = sha512();
    let other = "foo.bar+baz_qux-1:AbCdEfGhIjKlMnOpQrStUvWxYz0123456789=_-";
    let tag128 = "A_.-".repeat(32);
    let hex63 = HEX64.get(1..).unwrap_or_default();
    // `docker.io/` plus 245 characters is exactly the 255-character limit.
    let longest_path = format!("org/{}", "a".repeat(241));
    vec![
        ok("nginx", "docker.io", "library/nginx", None, None),
        ok(
            "nginx:1.25",
            "docker.io",
            "library/nginx",
            Some("1.25"),
            None,
        ),
        ok(
            "library/nginx:1.25",
            "docker.io",
            "library/nginx",
            Some("1.25"),
            None,
        ),
        ok("docker.io/nginx", "docker.io", "library/nginx", None, None),
        ok(
            "docker.io/library/nginx",
            "docker.io",
            "library/nginx",
            None,
            None,
        ),
        ok(
            "index.docker.io/library/nginx:latest",
            "docker.io",
            "library/nginx",
            Some("latest"),
            None,
        ),
        ok(
            "index.docker.io/nginx",
            "docker.io",
            "library/nginx",
            None,
            None,
        ),
        ok(
            "registry-1.docker.io/org/app:v1",
            "docker.io",
            "org/app",
            Some("v1"),
            None,
        ),
        ok("org/app", "docker.io", "org/app", None, None),
        ok("org/app:v1", "docker.io", "org/app", Some("v1"), None),
        ok("docker.io/org/app", "docker.io", "org/app", None, None),
        ok("a/b/c/d/e", "docker.io", "a/b/c/d/e", None, None),
        ok("0/1", "docker.io", "0/1", None, None),
        ok(
            "docker.io/library/library",
            "docker.io",
            "library/library",
            None,
            None,
        ),
        ok(
            "docker.io/library/a/b",
            "docker.io",
            "library/a/b",
            None,
            None,
        ),
        ok("ns/a.b", "docker.io", "ns/a.b", None, None),
        ok(&longest_path, "docker.io", &longest_path, None, None),
        ok(
            &format!("ghcr.io/org/app:v1.2@{d256}"),
            "ghcr.io",
            "org/app",
            Some("v1.2"),
            Some(&d256),
        ),
        ok("ghcr.io/org/app", "ghcr.io", "org/app", None, None),
        ok("ghcr.io/app", "ghcr.io", "app", None, None),
        ok(
            "localhost:5000/a/b:tag",
            "localhost:5000",
            "a/b",
            Some("tag"),
            None,
        ),
        ok("localhost:5000/a/b", "localhost:5000", "a/b", None, None),
        ok("localhost:5000/x", "localhost:5000", "x", None, None),
        ok("localhost/a", "localhost", "a", None, None),
        ok("registry:5000/x", "registry:5000", "x", None, None),
        ok(
            "registry.example.com/x/y/z:1",
            "registry.example.com",
            "x/y/z",
            Some("1"),
            None,
        ),
        ok("[::1]:5000/foo:bar", "[::1]:5000", "foo", Some("bar"), None),
        ok("[2001:db8::1]/foo", "[2001:db8::1]", "foo", None, None),
        ok(
            "[2001:DB8::1]:443/foo/bar:baz",
            "[2001:DB8::1]:443",
            "foo/bar",
            Some("baz"),
            None,
        ),
        ok("[1:2:3:4:5:6:7:8]/x", "[1:2:3:4:5:6:7:8]", "x", None, None),
        ok("[::]/x", "[::]", "x", None, None),
        ok(
            "192.168.1.1:5000/app",
            "192.168.1.1:5000",
            "app",
            None,
            None,
        ),
        ok("192.168.1.1/app", "192.168.1.1", "app", None, None),
        ok("example.com:65535/a", "example.com:65535", "a", None, None),
        ok(
            &format!("nginx@{d256}"),
            "docker.io",
            "library/nginx",
            None,
            Some(&d256),
        ),
        ok(
            &format!("nginx:1.25@{d256}"),
            "docker.io",
            "library/nginx",
            Some("1.25"),
            Some(&d256),
        ),
        ok(
            &format!("ghcr.io/o/a@{d512}"),
            "ghcr.io",
            "o/a",
            None,
            Some(&d512),
        ),
        ok(
            &format!("ghcr.io/o/a@{other}"),
            "ghcr.io",
            "o/a",
            None,
            Some(other),
        ),
        ok(
            "a_b/c__d/e-f--g:1_x.y-z",
            "docker.io",
            "a_b/c__d/e-f--g",
            Some("1_x.y-z"),
            None,
        ),
        ok(
            "Registry.Example.com/app",
            "Registry.Example.com",
            "app",
            None,
            None,
        ),
        // Upper case before the first `/` makes it a registry, as in Docker.
        ok("UPPER/repo", "UPPER", "repo", None, None),
        ok("UPPER:5000/x", "UPPER:5000", "x", None, None),
        ok(
            &format!("nginx:{tag128}"),
            "docker.io",
            "library/nginx",
            Some(&tag128),
            None,
        ),
        ok(
            &format!("ghcr.io/o/a:{tag128}@{d256}"),
            "ghcr.io",
            "o/a",
            Some(&tag128),
            Some(&d256),
        ),
        ok(
            "quay.io/prometheus/node-exporter:v1.8.2",
            "quay.io",
            "prometheus/node-exporter",
            Some("v1.8.2"),
            None,
        ),
        ok(
            "gcr.io/google-containers/pause:3.9",
            "gcr.io",
            "google-containers/pause",
            Some("3.9"),
            None,
        ),
        ok(
            "mcr.microsoft.com/dotnet/sdk:8.0-alpine",
            "mcr.microsoft.com",
            "dotnet/sdk",
            Some("8.0-alpine"),
            None,
        ),
        ok(
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-app:2024.01.01",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "my-app",
            Some("2024.01.01"),
            None,
        ),
        ok(
            "my-registry.local:8443/team/service/api:sha-abc123",
            "my-registry.local:8443",
            "team/service/api",
            Some("sha-abc123"),
            None,
        ),
        ok(
            "xn--bcher-kva.example/app",
            "xn--bcher-kva.example",
            "app",
            None,
            None,
        ),
        ok(
            "nginx:_tag",
            "docker.io",
            "library/nginx",
            Some("_tag"),
            None,
        ),
        ok(
            "nginx:Latest",
            "docker.io",
            "library/nginx",
            Some("Latest"),
            None,
        ),
        ok(
            "nginx:1-alpine",
            "docker.io",
            "library/nginx",
            Some("1-alpine"),
            None,
        ),
        // Without a `/` nothing is a registry: these are Docker Hub names.
        ok("ghcr.io", "docker.io", "library/ghcr.io", None, None),
        ok("localhost", "docker.io", "library/localhost", None, None),
        ok(
            "localhost:5000",
            "docker.io",
            "library/localhost",
            Some("5000"),
            None,
        ),
        // `sha256` with a 63-digit tag is a name, not an image ID.
        ok(
            &format!("sha256:{hex63}"),
            "docker.io",
            "library/sha256",
            Some(hex63),
            None,
        ),
    ]
}

#[test]
fn valid_references_parse_to_their_parts() -> Result<(), ImageRefError> {
    let cases = valid_cases();
    assert!(cases.len() >= 40, "only {} valid cases", cases.len());
    for case in &cases {
        let input = case.input.as_str();
        let r = parse(input)?;
        assert_eq!(r.registry(), case.registry, "registry of {input:?}");
        assert_eq!(r.repository(), case.repository, "repository of {input:?}");
        assert_eq!(r.tag(), case.tag.as_deref(), "tag of {input:?}");
        assert_eq!(r.digest(), case.digest.as_deref(), "digest of {input:?}");
        assert_eq!(
            parse(&r.to_string()).as_ref(),
            Ok(&r),
            "to_string of {input:?}"
        );
        assert_eq!(
            parse(&r.familiar()).as_ref(),
            Ok(&r),
            "familiar of {input:?}"
        );
        assert_eq!(input.parse::<ImageReference>().as_ref(), Ok(&r));
        assert_eq!(ImageReference::try_from(input).as_ref(), Ok(&r));
    }
    Ok(())
}

/// The variant name of an error, for table assertions.
fn kind(error: &ImageRefError) -> &'static str {
    match error {
        ImageRefError::Empty => "Empty",
        ImageRefError::InvalidCharacter { .. } => "InvalidCharacter",
        ImageRefError::TooLong { .. } => "TooLong",
        ImageRefError::ImageId { .. } => "ImageId",
        ImageRefError::MissingRepository { .. } => "MissingRepository",
        ImageRefError::InvalidRegistry { .. } => "InvalidRegistry",
        ImageRefError::InvalidRepository { .. } => "InvalidRepository",
        ImageRefError::UppercaseRepository { .. } => "UppercaseRepository",
        ImageRefError::InvalidTag { .. } => "InvalidTag",
        ImageRefError::InvalidDigest { .. } => "InvalidDigest",
    }
}

fn invalid_cases() -> Vec<(String, &'static str)> {
    let d256 = sha256();
    let too_long = format!("org/{}", "a".repeat(242)); // docker.io/ + 246 = 256
    let cases = vec![
        (String::new(), "Empty"),
        (" ".into(), "InvalidCharacter"),
        (" nginx".into(), "InvalidCharacter"),
        ("nginx ".into(), "InvalidCharacter"),
        ("ngi nx".into(), "InvalidCharacter"),
        ("nginx:1.25\n".into(), "InvalidCharacter"),
        ("nginx\t".into(), "InvalidCharacter"),
        ("ngïnx".into(), "InvalidCharacter"),
        ("nginx:tag!".into(), "InvalidCharacter"),
        ("org/app:é".into(), "InvalidCharacter"),
        ("nginx:".into(), "InvalidTag"),
        ("nginx:-tag".into(), "InvalidTag"),
        ("nginx:.tag".into(), "InvalidTag"),
        (format!("nginx:{}", "a".repeat(129)), "InvalidTag"),
        (format!("nginx:@{d256}"), "InvalidTag"),
        (":tag".into(), "MissingRepository"),
        (format!("@{d256}"), "MissingRepository"),
        ("ghcr.io/".into(), "MissingRepository"),
        ("ghcr.io/:tag".into(), "MissingRepository"),
        ("nginx@".into(), "InvalidDigest"),
        ("nginx@sha256:abc".into(), "InvalidDigest"),
        (
            format!("nginx@sha256:{}", HEX64.to_uppercase()),
            "InvalidDigest",
        ),
        (format!("nginx@sha256:{HEX64}0"), "InvalidDigest"),
        (format!("nginx@sha512:{HEX64}"), "InvalidDigest"),
        (format!("nginx@SHA256:{HEX64}"), "InvalidDigest"),
        ("nginx@md5:d41d8cd98f00b204".into(), "InvalidDigest"),
        (format!("nginx@{HEX64}"), "InvalidDigest"),
        (format!("nginx@sha256:{HEX64}@x"), "InvalidDigest"),
        ("ghcr.io/org/app:v1@".into(), "InvalidDigest"),
        ("a//b".into(), "InvalidRepository"),
        ("/nginx".into(), "InvalidRepository"),
        ("nginx/".into(), "InvalidRepository"),
        ("a/b_-c".into(), "InvalidRepository"),
        ("a/b___c".into(), "InvalidRepository"),
        ("a/.b".into(), "InvalidRepository"),
        ("a/b.".into(), "InvalidRepository"),
        ("-a/b".into(), "InvalidRepository"),
        ("nginx:1:2".into(), "InvalidRepository"),
        ("[zz]/app".into(), "InvalidRepository"),
        ("Nginx".into(), "UppercaseRepository"),
        ("org/App".into(), "UppercaseRepository"),
        ("ghcr.io/Org/app".into(), "UppercaseRepository"),
        ("UPPER/Repo:tag".into(), "UppercaseRepository"),
        ("-ghcr.io/app".into(), "InvalidRegistry"),
        ("ghcr-.io/app".into(), "InvalidRegistry"),
        ("ghcr..io/app".into(), "InvalidRegistry"),
        (".ghcr.io/app".into(), "InvalidRegistry"),
        ("ghcr_io.com/app".into(), "InvalidRegistry"),
        ("localhost:/app".into(), "InvalidRegistry"),
        ("localhost:123456/app".into(), "InvalidRegistry"),
        ("localhost:12a/app".into(), "InvalidRegistry"),
        ("localhost:1:2/app".into(), "InvalidRegistry"),
        (":5000/app".into(), "InvalidRegistry"),
        ("[zz]:5000/app".into(), "InvalidRegistry"),
        ("[::1/app".into(), "InvalidRegistry"),
        ("[::1]x/app".into(), "InvalidRegistry"),
        ("[::1]:/app".into(), "InvalidRegistry"),
        ("[]:5000/app".into(), "InvalidRegistry"),
        ("[:::]/app".into(), "InvalidRegistry"),
        ("[1::2::3]/app".into(), "InvalidRegistry"),
        ("[12345::1]/app".into(), "InvalidRegistry"),
        ("[1:2:3:4:5:6:7]/app".into(), "InvalidRegistry"),
        ("[1:2:3:4:5:6:7:8:9]/app".into(), "InvalidRegistry"),
        ("[::ffff:1.2.3.4]/app".into(), "InvalidRegistry"),
        ("Foo_Bar/app".into(), "InvalidRegistry"),
        (HEX64.into(), "ImageId"),
        (d256.clone(), "ImageId"),
        (too_long, "TooLong"),
        (format!("ghcr.io/{}", "a/".repeat(124) + "abcd"), "TooLong"),
    ];
    cases
}

#[test]
fn invalid_references_are_rejected_with_the_right_variant() {
    let cases = invalid_cases();
    assert!(cases.len() >= 25, "only {} invalid cases", cases.len());
    for (input, expected) in &cases {
        match parse(input) {
            Ok(r) => panic!("{input:?} parsed as {r:?}, expected {expected}"),
            Err(error) => {
                assert_eq!(kind(&error), *expected, "{input:?}: {error}");
                if !input.is_empty() {
                    let message = error.to_string();
                    assert!(
                        message.contains(&format!("{input:?}")),
                        "message for {input:?} does not name it: {message}"
                    );
                }
            }
        }
    }
}

#[test]
fn errors_carry_the_offending_part() {
    assert_eq!(
        parse("nginx:-x"),
        Err(ImageRefError::InvalidTag {
            input: "nginx:-x".into(),
            tag: "-x".into()
        })
    );
    assert_eq!(
        parse("a//b"),
        Err(ImageRefError::InvalidRepository {
            input: "a//b".into(),
            component: String::new()
        })
    );
    assert_eq!(
        parse("ghcr..io/app"),
        Err(ImageRefError::InvalidRegistry {
            input: "ghcr..io/app".into(),
            registry: "ghcr..io".into()
        })
    );
    assert_eq!(
        parse("ng nx"),
        Err(ImageRefError::InvalidCharacter {
            input: "ng nx".into(),
            character: ' ',
            index: 2
        })
    );
    assert_eq!(
        parse("nginx@sha256:abc"),
        Err(ImageRefError::InvalidDigest {
            input: "nginx@sha256:abc".into(),
            digest: "sha256:abc".into()
        })
    );
    let too_long = format!("org/{}", "a".repeat(242));
    assert_eq!(
        parse(&too_long),
        Err(ImageRefError::TooLong {
            input: too_long.clone(),
            len: 256
        })
    );
    assert_eq!(parse(""), Err(ImageRefError::Empty));
}

/// Found by the `image_ref` fuzz target (`fuzz/regressions/image_ref/`): the familiar form of
/// an official image named like an image ID was the image ID, which `parse` refuses.
#[test]
fn the_familiar_form_of_an_image_named_like_an_image_id_parses_back() -> Result<(), ImageRefError> {
    let cases = [
        (format!("docker.io/{HEX64}"), format!("library/{HEX64}")),
        (
            format!("docker.io/library/sha256:{HEX64}"),
            format!("library/sha256:{HEX64}"),
        ),
        // With a tag the short form is no image ID, and `library/` goes as usual.
        (format!("library/{HEX64}:1"), format!("{HEX64}:1")),
    ];
    for (input, familiar) in cases {
        let r = parse(&input)?;
        assert_eq!(r.familiar(), familiar, "familiar of {input:?}");
        assert_eq!(parse(&r.familiar()), Ok(r), "familiar of {input:?}");
    }
    Ok(())
}

#[test]
fn display_and_familiar_forms() -> Result<(), ImageRefError> {
    let d256 = sha256();
    let cases = [
        ("nginx", "docker.io/library/nginx", "nginx"),
        (
            "library/nginx:1.25",
            "docker.io/library/nginx:1.25",
            "nginx:1.25",
        ),
        (
            "index.docker.io/library/nginx:latest",
            "docker.io/library/nginx:latest",
            "nginx:latest",
        ),
        ("org/app:v1", "docker.io/org/app:v1", "org/app:v1"),
        ("ghcr.io/o/a:1", "ghcr.io/o/a:1", "ghcr.io/o/a:1"),
        (
            "localhost:5000/a/b:tag",
            "localhost:5000/a/b:tag",
            "localhost:5000/a/b:tag",
        ),
        (
            "localhost:5000/a/b",
            "localhost:5000/a/b",
            "localhost:5000/a/b",
        ),
        (
            "docker.io/library/a/b",
            "docker.io/library/a/b",
            "library/a/b",
        ),
        // Dropping `docker.io/` here would turn `foo.bar` into a registry.
        (
            "docker.io/foo.bar/app",
            "docker.io/foo.bar/app",
            "docker.io/foo.bar/app",
        ),
        (
            "docker.io/localhost/app",
            "docker.io/localhost/app",
            "docker.io/localhost/app",
        ),
        ("docker.io/foo.bar", "docker.io/library/foo.bar", "foo.bar"),
        (
            &format!("ghcr.io/org/app:v1.2@{d256}"),
            &format!("ghcr.io/org/app:v1.2@{d256}"),
            &format!("ghcr.io/org/app:v1.2@{d256}"),
        ),
        (
            &format!("nginx@{d256}"),
            &format!("docker.io/library/nginx@{d256}"),
            &format!("nginx@{d256}"),
        ),
        (
            "[::1]:5000/foo:bar",
            "[::1]:5000/foo:bar",
            "[::1]:5000/foo:bar",
        ),
    ];
    for (input, full, familiar) in cases {
        let r = parse(input)?;
        assert_eq!(r.to_string(), full, "to_string of {input:?}");
        assert_eq!(r.familiar(), familiar, "familiar of {input:?}");
        assert_eq!(String::from(r.clone()), full);
    }
    Ok(())
}

#[test]
fn accessors() -> Result<(), ImageRefError> {
    let nginx = parse("nginx")?;
    assert_eq!(nginx.tag(), None);
    assert_eq!(nginx.tag_or_latest(), "latest");
    assert!(nginx.is_docker_hub());
    assert_eq!(nginx.repository_path(), "docker.io/library/nginx");

    let pinned = parse(&format!("nginx@{}", sha256()))?;
    assert_eq!(pinned.tag_or_latest(), "latest");

    let tagged = parse("ghcr.io/org/app:v1.2")?;
    assert_eq!(tagged.tag_or_latest(), "v1.2");
    assert!(!tagged.is_docker_hub());
    assert_eq!(tagged.repository_path(), "ghcr.io/org/app");

    assert!(parse("index.docker.io/org/app")?.is_docker_hub());
    assert!(parse("registry-1.docker.io/org/app")?.is_docker_hub());
    assert!(!parse("localhost:5000/app")?.is_docker_hub());
    Ok(())
}

#[test]
fn spellings_of_the_same_image_are_equal() -> Result<(), ImageRefError> {
    let spellings = [
        "nginx:1.25",
        "library/nginx:1.25",
        "docker.io/nginx:1.25",
        "docker.io/library/nginx:1.25",
        "index.docker.io/nginx:1.25",
        "registry-1.docker.io/library/nginx:1.25",
    ];
    let set = spellings
        .iter()
        .map(|s| parse(s))
        .collect::<Result<HashSet<_>, _>>()?;
    assert_eq!(set.len(), 1);
    assert_ne!(parse("nginx")?, parse("nginx:latest")?);
    assert_ne!(parse("ghcr.io/nginx")?, parse("nginx")?);
    Ok(())
}

#[test]
fn with_tag_and_with_digest() -> Result<(), ImageRefError> {
    let d256 = sha256();
    let pinned = parse(&format!("ghcr.io/org/app:v1@{d256}"))?;

    let retagged = pinned.with_tag("v2")?;
    assert_eq!(retagged.to_string(), "ghcr.io/org/app:v2");
    assert_eq!(retagged.digest(), None);

    let repinned = retagged.with_digest(&d256)?;
    assert_eq!(repinned, pinned.with_tag("v2")?.with_digest(&d256)?);
    assert_eq!(repinned.to_string(), format!("ghcr.io/org/app:v2@{d256}"));

    let untagged = parse("nginx")?.with_digest(&d256)?;
    assert_eq!(
        untagged.to_string(),
        format!("docker.io/library/nginx@{d256}")
    );

    assert_eq!(
        pinned.with_tag("bad tag"),
        Err(ImageRefError::InvalidTag {
            input: "ghcr.io/org/app:bad tag".into(),
            tag: "bad tag".into()
        })
    );
    assert_eq!(
        pinned.with_tag(""),
        Err(ImageRefError::InvalidTag {
            input: "ghcr.io/org/app:".into(),
            tag: String::new()
        })
    );
    assert_eq!(
        pinned.with_digest("sha256:abc"),
        Err(ImageRefError::InvalidDigest {
            input: "ghcr.io/org/app:v1@sha256:abc".into(),
            digest: "sha256:abc".into()
        })
    );
    assert!(matches!(
        pinned.with_digest("sha256:é"),
        Err(ImageRefError::InvalidDigest { .. })
    ));
    Ok(())
}

#[test]
fn image_ids() {
    assert!(is_image_id(HEX64));
    assert!(is_image_id(&sha256()));
    assert!(!is_image_id(&HEX64.to_uppercase()));
    assert!(!is_image_id(HEX64.get(1..).unwrap_or_default()));
    assert!(!is_image_id(&format!("sha512:{HEX64}")));
    assert!(!is_image_id(&format!("{HEX64}0")));
    assert!(!is_image_id("nginx"));
    assert!(!is_image_id(""));
}

#[cfg(feature = "serde")]
#[test]
fn serde_uses_the_string_form() -> Result<(), Box<dyn std::error::Error>> {
    let r = parse("nginx:1.25")?;
    let json = serde_json::to_string(&r)?;
    assert_eq!(json, "\"docker.io/library/nginx:1.25\"");
    assert_eq!(serde_json::from_str::<ImageReference>("\"nginx:1.25\"")?, r);
    assert!(serde_json::from_str::<ImageReference>("\"Nginx\"").is_err());
    Ok(())
}

// ---- property tests ----

/// Every accepted reference must survive both printed forms.
fn check_round_trip(r: &ImageReference) -> Result<(), TestCaseError> {
    let full = parse(&r.to_string());
    prop_assert_eq!(full.as_ref(), Ok(r));
    let familiar = parse(&r.familiar());
    prop_assert_eq!(familiar.as_ref(), Ok(r));
    Ok(())
}

fn port() -> impl Strategy<Value = String> {
    proptest::option::of(0u32..=99_999).prop_map(|p| p.map(|p| format!(":{p}")).unwrap_or_default())
}

/// Registries that `splitDockerDomain` recognises, or `None` for an implicit Docker Hub.
fn registry() -> impl Strategy<Value = Option<String>> {
    const DOTTED_HOST: &str = concat!(
        "[a-zA-Z0-9]([a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?",
        "(\\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?){1,3}",
    );
    prop_oneof![
        Just(None),
        prop::sample::select(vec!["docker.io", "index.docker.io", "registry-1.docker.io"])
            .prop_map(|r| Some(r.to_owned())),
        (DOTTED_HOST, port()).prop_map(|(host, port)| Some(host + &port)),
        port().prop_map(|port| Some(format!("localhost{port}"))),
        ("[a-z0-9]{1,8}", 0u32..=99_999).prop_map(|(host, port)| Some(format!("{host}:{port}"))),
        ("[A-Z][a-zA-Z0-9]{0,8}", port()).prop_map(|(host, port)| Some(host + &port)),
        (
            prop::sample::select(vec![
                "::1",
                "::",
                "2001:db8::1",
                "fe80::1:2:3:4",
                "1:2:3:4:5:6:7:8",
                "A:b::C",
                "1::",
            ]),
            port(),
        )
            .prop_map(|(address, port)| Some(format!("[{address}]{port}"))),
    ]
}

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec("[a-z0-9]{1,6}(([._]|__|-{1,3})[a-z0-9]{1,6}){0,2}", 1..=4)
        .prop_map(|components| components.join("/"))
}

fn digest() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-f0-9]{64}".prop_map(|hex| format!("sha256:{hex}")),
        "[a-f0-9]{128}".prop_map(|hex| format!("sha512:{hex}")),
        "[a-z0-9]{1,6}([.+_-][a-z0-9]{1,6}){0,2}:[a-zA-Z0-9=_-]{32,40}",
    ]
}

type Parts = (Option<String>, String, Option<String>, Option<String>);

fn parts() -> impl Strategy<Value = Parts> {
    (
        registry(),
        path(),
        proptest::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,30}"),
        proptest::option::of(digest()),
    )
}

fn render((registry, path, tag, digest): &Parts) -> String {
    let mut s = registry
        .as_ref()
        .map(|r| format!("{r}/"))
        .unwrap_or_default();
    s.push_str(path);
    if let Some(tag) = tag {
        s.push(':');
        s.push_str(tag);
    }
    if let Some(digest) = digest {
        s.push('@');
        s.push_str(digest);
    }
    s
}

/// Whether an implicit-Hub path would be read as `registry/path` instead.
fn ambiguous((registry, path, _, _): &Parts) -> bool {
    registry.is_none()
        && matches!(path.split_once('/'), Some((first, _)) if looks_like_registry(first))
}

const ALPHABET: &str = "[a-zA-Z0-9:/@._\\-\\[\\]]{0,80}";

proptest! {
    #[test]
    fn parse_never_panics_on_any_string(s in any::<String>()) {
        if let Ok(r) = parse(&s) {
            check_round_trip(&r)?;
        }
    }

    #[test]
    fn parse_never_panics_on_reference_alphabet(s in ALPHABET) {
        if let Ok(r) = parse(&s) {
            check_round_trip(&r)?;
        }
    }

    #[test]
    fn generated_references_parse_and_round_trip(parts in parts()) {
        prop_assume!(!ambiguous(&parts));
        let input = render(&parts);
        let r = parse(&input);
        prop_assert!(r.is_ok(), "{:?} rejected: {:?}", input, r);
        let Ok(r) = r else { return Ok(()) };

        let (registry, path, tag, digest) = &parts;
        let expected_registry = normalise_registry(registry.as_deref().unwrap_or(DOCKER_HUB));
        prop_assert_eq!(r.registry(), expected_registry);
        if expected_registry == DOCKER_HUB && !path.contains('/') {
            prop_assert_eq!(r.repository(), format!("library/{path}"));
        } else {
            prop_assert_eq!(r.repository(), path.as_str());
        }
        prop_assert_eq!(r.tag(), tag.as_deref());
        prop_assert_eq!(r.digest(), digest.as_deref());
        check_round_trip(&r)?;
    }

    #[test]
    fn mutated_references_never_panic_and_round_trip_when_accepted(
        parts in parts(),
        at in any::<prop::sample::Index>(),
        insert in proptest::option::of(prop::sample::select(
            ":/@._-[]+=aZ9 é".chars().collect::<Vec<_>>()
        )),
    ) {
        let mut input = render(&parts);
        // `render` yields ASCII only, so every byte offset is a char boundary.
        match insert {
            Some(c) => input.insert(at.index(input.len() + 1), c),
            None => {
                input.remove(at.index(input.len()));
            }
        }
        if let Ok(r) = parse(&input) {
            check_round_trip(&r)?;
        }
    }

    #[test]
    fn with_tag_and_with_digest_round_trip(
        parts in parts(),
        tag in "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}",
        digest in digest(),
    ) {
        prop_assume!(!ambiguous(&parts));
        let Ok(r) = parse(&render(&parts)) else {
            return Err(TestCaseError::fail("generated reference rejected"));
        };
        let Ok(tagged) = r.with_tag(&tag) else {
            return Err(TestCaseError::fail("valid tag rejected"));
        };
        prop_assert_eq!(tagged.tag(), Some(tag.as_str()));
        prop_assert_eq!(tagged.digest(), None);
        check_round_trip(&tagged)?;
        let Ok(pinned) = tagged.with_digest(&digest) else {
            return Err(TestCaseError::fail("valid digest rejected"));
        };
        prop_assert_eq!(pinned.tag(), Some(tag.as_str()));
        prop_assert_eq!(pinned.digest(), Some(digest.as_str()));
        check_round_trip(&pinned)?;
    }
}
