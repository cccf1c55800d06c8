//! Faults a real registry does not produce on demand, from a scripted loopback server: rate
//! limits, hangs, truncated and oversized bodies, malformed and looping pagination, bad JSON.

use std::time::Duration;

use drydock_core::image_ref::ImageReference;
use drydock_core::ports::{Registry, RegistryError};
use drydock_registry::{ClientOptions, RegistryClient};

use crate::support::{FakeRegistry, Reply};

fn client(options: ClientOptions) -> RegistryClient {
    RegistryClient::new(Vec::new(), options)
}

fn image(fake: &FakeRegistry, repo: &str) -> ImageReference {
    format!("{}/{repo}:1.0.0", fake.host).parse().unwrap()
}

const DIGEST: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

#[tokio::test]
async fn retry_after_delays_the_next_request_and_the_call_completes() {
    let fake = FakeRegistry::start(|_, _, n| {
        if n == 1 {
            Reply::json(429, r#"{"errors":[{"code":"TOOMANYREQUESTS"}]}"#)
                .with_header("Retry-After", "2")
        } else {
            Reply::json(200, r#"{"name":"a/b","tags":["1.0.0","1.1.0"]}"#)
        }
    })
    .await;
    let tags = client(ClientOptions::default())
        .list_tags(&image(&fake, "a/b"))
        .await
        .unwrap();
    assert_eq!(tags, ["1.0.0", "1.1.0"]);
    let seen = fake.seen();
    assert_eq!(seen.len(), 2);
    let gap = seen[1].at - seen[0].at;
    assert!(
        gap >= Duration::from_secs(2),
        "the retry came after {gap:?}, before Retry-After"
    );
}

#[tokio::test]
async fn a_rate_limit_that_persists_is_reported_with_its_retry_after() {
    let fake =
        FakeRegistry::start(|_, _, _| Reply::json(429, "{}").with_header("Retry-After", "1")).await;
    let options = ClientOptions {
        max_retries: 1,
        ..ClientOptions::default()
    };
    let result = client(options).list_tags(&image(&fake, "a/b")).await;
    assert!(
        matches!(result, Err(RegistryError::RateLimited { retry_after: Some(d), .. }) if d == Duration::from_secs(1)),
        "{result:?}"
    );
    assert_eq!(fake.seen().len(), 2, "one retry, then give up");
}

#[tokio::test]
async fn a_retry_after_beyond_the_limit_is_not_waited_for() {
    let fake =
        FakeRegistry::start(|_, _, _| Reply::json(429, "{}").with_header("Retry-After", "3600"))
            .await;
    let result = client(ClientOptions::default())
        .list_tags(&image(&fake, "a/b"))
        .await;
    assert!(
        matches!(result, Err(RegistryError::RateLimited { .. })),
        "{result:?}"
    );
    assert_eq!(fake.seen().len(), 1);
}

#[tokio::test]
async fn a_hanging_registry_times_out() {
    let fake = FakeRegistry::start(|_, _, _| Reply::Hang).await;
    let options = ClientOptions {
        request_timeout: Duration::from_millis(500),
        ..ClientOptions::default()
    };
    let result = client(options)
        .manifest_digest(&image(&fake, "a/b"), "1.0.0")
        .await;
    assert!(
        matches!(result, Err(RegistryError::Timeout { after, .. }) if after == Duration::from_millis(500)),
        "{result:?}"
    );
}

#[tokio::test]
async fn server_errors_are_retried_then_reported() {
    let fake = FakeRegistry::start(|_, _, n| {
        if n < 3 {
            Reply::json(502, "bad gateway")
        } else {
            Reply::json(200, r#"{"tags":["1"]}"#)
        }
    })
    .await;
    let tags = client(ClientOptions::default())
        .list_tags(&image(&fake, "a/b"))
        .await
        .unwrap();
    assert_eq!(tags, ["1"]);
    let always = FakeRegistry::start(|_, _, _| Reply::json(500, "")).await;
    let options = ClientOptions {
        max_retries: 1,
        ..ClientOptions::default()
    };
    let result = client(options).list_tags(&image(&always, "a/b")).await;
    match result {
        Err(RegistryError::Unavailable { reason, .. }) => {
            assert!(reason.contains("500"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn truncated_oversized_and_malformed_bodies_are_errors_not_panics() {
    let truncated = FakeRegistry::start(|_, _, _| Reply::Truncated {
        declared: 1000,
        body: br#"{"tags":["1.0"#.to_vec(),
    })
    .await;
    let result = client(ClientOptions::default())
        .list_tags(&image(&truncated, "a/b"))
        .await;
    assert!(
        matches!(
            result,
            Err(RegistryError::Unavailable { .. } | RegistryError::InvalidResponse { .. })
        ),
        "{result:?}"
    );

    let huge = FakeRegistry::start(|_, _, _| {
        let tags: Vec<String> = (0..200_000).map(|i| format!("\"tag-{i}\"")).collect();
        Reply::json(200, &format!(r#"{{"tags":[{}]}}"#, tags.join(",")))
    })
    .await;
    let options = ClientOptions {
        max_body_bytes: 1024 * 1024,
        ..ClientOptions::default()
    };
    match client(options).list_tags(&image(&huge, "a/b")).await {
        Err(RegistryError::InvalidResponse { reason, .. }) => {
            assert!(reason.contains("larger than"), "{reason}")
        }
        other => panic!("{other:?}"),
    }

    for body in ["not json", r#"{"tags":"nope"}"#, r#"{"tags":[1,2]}"#, "[]"] {
        let bad = FakeRegistry::start(move |_, _, _| Reply::json(200, body)).await;
        let result = client(ClientOptions::default())
            .list_tags(&image(&bad, "a/b"))
            .await;
        assert!(
            matches!(result, Err(RegistryError::InvalidResponse { .. })),
            "{body}: {result:?}"
        );
    }
    // `"tags": null` is how registries say "no tags".
    let empty =
        FakeRegistry::start(|_, _, _| Reply::json(200, r#"{"name":"a/b","tags":null}"#)).await;
    assert_eq!(
        client(ClientOptions::default())
            .list_tags(&image(&empty, "a/b"))
            .await
            .unwrap(),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn pagination_follows_links_and_survives_bad_ones() {
    let paged = FakeRegistry::start(|_, path, _| {
        if path.contains("last=b") {
            Reply::json(200, r#"{"tags":["c"]}"#)
        } else {
            Reply::json(200, r#"{"tags":["a","b"]}"#)
                .with_header("Link", r#"</v2/a/b/tags/list?n=2&last=b>; rel="next""#)
        }
    })
    .await;
    assert_eq!(
        client(ClientOptions::default())
            .list_tags(&image(&paged, "a/b"))
            .await
            .unwrap(),
        ["a", "b", "c"]
    );

    let looping = FakeRegistry::start(|_, _, _| {
        Reply::json(200, r#"{"tags":["a"]}"#)
            .with_header("Link", r#"</v2/a/b/tags/list?n=1000>; rel="next""#)
    })
    .await;
    assert_eq!(
        client(ClientOptions::default())
            .list_tags(&image(&looping, "a/b"))
            .await
            .unwrap(),
        ["a"]
    );
    let seen = looping.seen();
    assert!(
        seen.len() <= 2,
        "a looping Link is not followed forever: {seen:?}"
    );
    assert!(seen.iter().all(|s| s.path.starts_with("/v2/a/b/tags/list")));

    let malformed = FakeRegistry::start(|_, _, _| {
        Reply::json(200, r#"{"tags":["a"]}"#).with_header("Link", "<unterminated; rel=next")
    })
    .await;
    assert_eq!(
        client(ClientOptions::default())
            .list_tags(&image(&malformed, "a/b"))
            .await
            .unwrap(),
        ["a"]
    );

    // A registry that ignores `last` and repeats the same page: stop when a page adds nothing.
    let ignoring = FakeRegistry::start(|_, _, n| {
        Reply::json(200, r#"{"tags":["a","b"]}"#).with_header(
            "Link",
            &format!(r#"</v2/a/b/tags/list?n=2&last=b&page={n}>; rel="next""#),
        )
    })
    .await;
    assert_eq!(
        client(ClientOptions::default())
            .list_tags(&image(&ignoring, "a/b"))
            .await
            .unwrap(),
        ["a", "b"]
    );
    assert_eq!(ignoring.seen().len(), 2);
}

#[tokio::test]
async fn head_reads_the_digest_header_and_falls_back_to_get_only_without_it() {
    let with_header = FakeRegistry::start(|_, _, _| Reply::Respond {
        status: 200,
        headers: vec![("Docker-Content-Digest".into(), DIGEST.into())],
        body: b"{}".to_vec(),
    })
    .await;
    let digest = client(ClientOptions::default())
        .manifest_digest(&image(&with_header, "a/b"), "1.0.0")
        .await
        .unwrap();
    assert_eq!(digest, DIGEST);
    let seen = with_header.seen();
    assert_eq!(
        seen.iter().map(|s| s.method.as_str()).collect::<Vec<_>>(),
        ["HEAD"]
    );

    let body = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:bbbb","size":2},"layers":[]}"#;
    let without = FakeRegistry::start(move |_, _, _| Reply::json(200, body)).await;
    let digest = client(ClientOptions::default())
        .manifest_digest(&image(&without, "a/b"), "1.0.0")
        .await
        .unwrap();
    use sha2::Digest as _;
    assert_eq!(
        digest,
        format!("sha256:{:x}", sha2::Sha256::digest(body.as_bytes()))
    );
    let methods: Vec<String> = without.seen().into_iter().map(|s| s.method).collect();
    assert_eq!(methods, ["HEAD", "GET"]);
}

#[tokio::test]
async fn a_manifest_that_does_not_match_its_digest_is_refused() {
    let lying = FakeRegistry::start(|_, _, _| {
        Reply::json(200, r#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:bbbb","size":2},"layers":[]}"#)
            .with_header("Docker-Content-Digest", DIGEST)
    })
    .await;
    let result = client(ClientOptions::default())
        .platform_manifest(
            &image(&lying, "a/b"),
            "1.0.0",
            &crate::support::linux("amd64", None),
        )
        .await;
    assert!(
        matches!(result, Err(RegistryError::InvalidResponse { .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn an_unreachable_registry_is_unavailable() {
    // Bind and drop: nothing listens there any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let image: ImageReference = format!("127.0.0.1:{port}/a/b:1").parse().unwrap();
    let options = ClientOptions {
        max_retries: 1,
        ..ClientOptions::default()
    };
    let result = client(options).list_tags(&image).await;
    assert!(
        matches!(result, Err(RegistryError::Unavailable { .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_body_that_trickles_times_out_after_the_request_timeout() {
    // Regression: a timeout while reading the body was reported as "timed out after 0s".
    let fake = FakeRegistry::start(|_, _, _| Reply::Trickle {
        body: br#"{"name":"a/b","tags":["1.0.0","1.1.0"]}"#.to_vec(),
        per_byte: Duration::from_millis(200),
    })
    .await;
    let options = ClientOptions {
        request_timeout: Duration::from_millis(700),
        ..ClientOptions::default()
    };
    let result = client(options).list_tags(&image(&fake, "a/b")).await;
    match result {
        Err(error @ RegistryError::Timeout { after, .. }) => {
            assert_eq!(after, Duration::from_millis(700));
            assert!(error.to_string().contains("0.7s"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.seen().len(), 1, "a timeout is not retried");
}

#[tokio::test]
async fn a_reset_connection_is_retried_and_a_lasting_one_reported() {
    let once = FakeRegistry::start(|_, _, n| {
        if n == 1 {
            Reply::Reset
        } else {
            Reply::json(200, r#"{"tags":["1.0.0"]}"#)
        }
    })
    .await;
    let options = ClientOptions {
        retry_backoff: Duration::from_millis(10),
        ..ClientOptions::default()
    };
    let tags = client(options.clone())
        .list_tags(&image(&once, "a/b"))
        .await
        .unwrap();
    assert_eq!(tags, ["1.0.0"]);
    assert_eq!(once.seen().len(), 2);

    let always = FakeRegistry::start(|_, _, _| Reply::Reset).await;
    let result = client(ClientOptions {
        max_retries: 2,
        ..options
    })
    .list_tags(&image(&always, "a/b"))
    .await;
    match result {
        Err(RegistryError::Unavailable { reason, .. }) => {
            assert!(reason.contains("after 3 attempts"), "{reason}");
            assert!(reason.to_lowercase().contains("reset"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(always.seen().len(), 3);
}

#[tokio::test]
async fn a_lasting_server_error_names_the_request_and_the_attempts() {
    let fake = FakeRegistry::start(|_, _, _| Reply::json(503, "{}")).await;
    let options = ClientOptions {
        max_retries: 2,
        retry_backoff: Duration::from_millis(10),
        ..ClientOptions::default()
    };
    let error = client(options)
        .list_tags(&image(&fake, "a/b"))
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains(&fake.host)
            && message.contains("answered HTTP 503 Service Unavailable to /v2/a/b/tags/list")
            && message.contains("after 3 attempts"),
        "{message}"
    );
}
