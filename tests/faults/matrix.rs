//! The fault matrix: one real watch cycle per fault mode, over real containers whose images the
//! real engine pulled from the real registry through the fault proxy. The fault reaches one
//! repository (or, for TLS, the proxy's whole host); the cycle must complete within what the
//! configured timeouts allow, the containers the fault reaches must say what failed (and keep
//! their last good result), and every other container must get its right result.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use drydock_core::model::{Container, KindOfUpdate};
use drydock_core::version::SemverDiff;
use drydock_registry::TIMEOUT_VARIABLE;
use drydock_store_sled::SledStore;
use drydock_testkit::engine::{REGISTRY, TestImage, unique};
use drydock_testkit::fault_proxy::{Fault, FaultProxy, Rule, TlsIdentity};

use crate::support::{
    client_from_env, direct, engine, find, pull_through, repository, run, watcher, worst_call,
};

/// The request timeout the matrix configures, as a user would (`DD_OUTBOUND_HTTP_TIMEOUT_MS`).
const TIMEOUT_MS: u64 = 1500;
/// The client's body cap (`ClientOptions::max_body_bytes`' default).
const BODY_CAP: u64 = 8 * 1024 * 1024;
/// What a loopback connection's socket buffers may hold beyond what the client read.
const SOCKET_SLACK: u64 = 16 * 1024 * 1024;

/// What a fault must do to the containers it reaches.
#[derive(Clone, Debug)]
enum Outcome {
    /// They carry an error whose message names the registry host, the repository and these
    /// words, and they keep their last good result.
    Error(Vec<&'static str>),
    /// The fault is absorbed (retried, tolerated): they get their right result, no error.
    Absorbed,
}

#[derive(Clone, Debug)]
enum Extra {
    None,
    /// The proxy sent at most this many body bytes in all (the client stopped reading).
    BodyBytesAtMost(u64),
    /// The affected repository's tag list was asked for at most this many times.
    TagListsAtMost(usize),
    /// The proxy accepted at most this many connections during the cycle.
    ConnectionsAtMost(u64),
}

#[derive(Clone, Debug)]
struct Case {
    mode: &'static str,
    rules: Vec<Rule>,
    /// The proxy is the token realm for this case.
    token: bool,
    /// drydock talks TLS to the proxy, whose certificate does not name the host.
    tls: bool,
    outcome: Outcome,
    extra: Extra,
}

fn case(mode: &'static str, fault: Fault, outcome: Outcome) -> Case {
    Case {
        mode,
        rules: vec![Rule::new(fault)],
        token: false,
        tls: false,
        outcome,
        extra: Extra::None,
    }
}

fn status(status: u16, retry_after: Option<&str>) -> Fault {
    Fault::Status {
        status,
        retry_after: retry_after.map(str::to_owned),
    }
}

fn cases(affected: &str) -> Vec<Case> {
    let err = |words: &[&'static str]| Outcome::Error(words.to_vec());
    let mut cases = vec![
        case(
            "429 with Retry-After, persistent",
            status(429, Some("1")),
            err(&["tag list", "rate limited", "retry after 1s"]),
        ),
        case(
            "429 with Retry-After, twice",
            status(429, Some("1")),
            Outcome::Absorbed,
        ),
        case(
            "429 without Retry-After",
            status(429, None),
            err(&["tag list", "rate limited"]),
        ),
        case(
            "500",
            status(500, None),
            err(&["tag list", "answered HTTP 500", "after 4 attempts"]),
        ),
        case("502, once", status(502, None), Outcome::Absorbed),
        case(
            "503",
            status(503, None),
            err(&["tag list", "answered HTTP 503", "after 4 attempts"]),
        ),
        case(
            "connection reset",
            Fault::Reset,
            err(&["tag list", "connection reset", "after 4 attempts"]),
        ),
        case("connection reset, once", Fault::Reset, Outcome::Absorbed),
        case(
            "hang (no bytes)",
            Fault::Hang,
            err(&["tag list", "timed out after 1.5s"]),
        ),
        case(
            "slow body (1 byte/s)",
            Fault::SlowBody {
                per_byte: Duration::from_secs(1),
            },
            err(&["tag list", "timed out after 1.5s"]),
        ),
        case(
            "truncated JSON",
            Fault::TruncatedJson,
            err(&["tag list", "invalid response", "EOF"]),
        ),
        case(
            "wrong Content-Type",
            Fault::WrongContentType,
            Outcome::Absorbed,
        ),
        Case {
            extra: Extra::BodyBytesAtMost(BODY_CAP + SOCKET_SLACK),
            ..case(
                "50 MB tag list",
                Fault::HugeTagList {
                    bytes: 50 * 1024 * 1024,
                },
                err(&["tag list", "larger than 8388608 bytes"]),
            )
        },
        Case {
            extra: Extra::TagListsAtMost(2),
            ..case("Link header that loops", Fault::LinkLoop, Outcome::Absorbed)
        },
        Case {
            token: true,
            ..case(
                "token endpoint fails",
                Fault::TokenStatus { status: 503 },
                err(&["tag list", "token endpoint", "HTTP 503"]),
            )
        },
    ];
    for case in &mut cases {
        let times = match case.mode {
            "429 with Retry-After, twice" => Some(2),
            "502, once" | "connection reset, once" => Some(1),
            _ => None,
        };
        case.rules = case
            .rules
            .iter()
            .map(|rule| {
                let rule = rule.clone().only(&[affected]);
                match times {
                    Some(n) => rule.times(n),
                    None => rule,
                }
            })
            .collect();
    }
    cases.push(Case {
        mode: "TLS certificate for another host",
        rules: Vec::new(),
        token: false,
        tls: true,
        outcome: Outcome::Error(vec![
            "tag list",
            "invalid peer certificate",
            "not valid for name",
        ]),
        // One connection per distinct call (tag lists of A and B, digests of A:1.0.0, B:1.0.0
        // and B:2.0.0, asked side by side): a retry would double it.
        extra: Extra::ConnectionsAtMost(5),
    });
    cases
}

/// The part of a container's state a fault must not change.
fn verdict(c: &Container) -> String {
    format!(
        "available={} kind={:?} local={:?} remote={:?} diff={:?} result={:?}",
        c.update_available,
        c.update_kind.kind,
        c.update_kind.local_value,
        c.update_kind.remote_value,
        c.update_kind.semver_diff,
        c.result.as_ref().and_then(|r| r.tag.clone()),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_mode_in_a_real_watch_cycle() {
    let _serial = crate::SERIAL.lock().await;
    let prefix = unique("faults");
    let (repo_a, repo_b) = (format!("{prefix}-a"), format!("{prefix}-b"));
    let tags = ["1.0.0", "1.1.0", "2.0.0"];
    let mut images = TestImage::pushed(&repo_a, &tags);
    images.extend(TestImage::pushed(&repo_b, &tags));
    let proxy = FaultProxy::start_tls(
        REGISTRY,
        &TlsIdentity::for_dns_name("not-this-host.invalid"),
    );
    let host = proxy.host();
    images.push(pull_through(&host, &repo_a, "1.0.0"));
    images.push(pull_through(&host, &repo_b, "1.0.0"));
    images.push(pull_through(&host, &repo_b, "2.0.0"));
    // 2.0.0 of b moves on after the pull: the container running it has a digest update.
    let moved = TestImage::build(&repo_b, "2.0.0");
    let moved_digest = moved.push();
    images.push(moved);

    let name = |suffix: &str| format!("{prefix}-{suffix}");
    let _containers = [
        run(&name("a"), &format!("{host}/{}:1.0.0", repository(&repo_a))),
        run(&name("b"), &format!("{host}/{}:1.0.0", repository(&repo_b))),
        run(
            &name("b-digest"),
            &format!("{host}/{}:2.0.0", repository(&repo_b)),
        ),
        // The affected repository, straight from the registry: a fault of the proxy is not its.
        run(&name("direct"), &direct(&repo_a, "1.0.0")),
    ];
    let through_proxy = [name("a"), name("b"), name("b-digest")];
    let repository_of = |container: &str| {
        if container == name("b") || container == name("b-digest") {
            repository(&repo_b)
        } else {
            repository(&repo_a)
        }
    };

    let base_env = BTreeMap::from([(TIMEOUT_VARIABLE.to_owned(), TIMEOUT_MS.to_string())]);
    let store = Arc::new(SledStore::temporary().unwrap());

    // Pass-through first: the right results, which every fault must leave alone.
    proxy.pass_through();
    let (client, _) = client_from_env(&base_env);
    let engine = engine(&prefix).await;
    let report = watcher("faults", engine.clone(), client, store.clone(), 10)
        .watch_all()
        .await
        .unwrap();
    let mine: Vec<Container> = report
        .containers
        .into_iter()
        .filter(|c| c.name.starts_with(&prefix))
        .collect();
    assert_eq!(mine.len(), 4, "{mine:#?}");
    for c in &mine {
        assert!(c.error.is_none(), "pass-through: {}: {:?}", c.name, c.error);
        assert!(c.update_available, "{c:#?}");
    }
    for tagged in [name("a"), name("b"), name("direct")] {
        let c = find(&mine, &tagged).unwrap();
        assert_eq!(c.update_kind.kind, KindOfUpdate::Tag, "{c:#?}");
        assert_eq!(c.update_kind.remote_value.as_deref(), Some("2.0.0"));
        assert_eq!(c.update_kind.semver_diff, Some(SemverDiff::Major));
    }
    let digest = find(&mine, &name("b-digest")).unwrap();
    assert_eq!(digest.update_kind.kind, KindOfUpdate::Digest, "{digest:#?}");
    assert_eq!(
        digest.update_kind.remote_value.as_deref(),
        Some(moved_digest.as_str())
    );
    let baseline: BTreeMap<String, String> =
        mine.iter().map(|c| (c.name.clone(), verdict(c))).collect();

    let mut failures = Vec::new();
    let mut rows = Vec::new();
    for case in cases(&repository(&repo_a)) {
        proxy.set_rules(case.rules.clone());
        proxy.require_token(case.token);
        proxy.clear_requests();
        let connections_before = proxy.connections_accepted();
        let mut env = base_env.clone();
        if case.tls {
            env.insert(
                "DD_REGISTRY_CUSTOM_FAULTY_URL".into(),
                format!("https://{host}"),
            );
            env.insert(
                "DD_REGISTRY_CUSTOM_FAULTY_CAFILE".into(),
                TlsIdentity::test_ca().display().to_string(),
            );
        }
        let (client, options) = client_from_env(&env);
        // Up to four registry calls one after the other per container (tags, digest, two
        // platform manifests), all containers at once; generous slack for a shared engine.
        let bound = worst_call(&options, Duration::from_secs(1)) * 4 + Duration::from_secs(20);
        let watcher = watcher("faults", engine.clone(), client, store.clone(), 10);
        eprintln!("fault mode {}: cycle starts", case.mode);
        let started = Instant::now();
        let result = tokio::time::timeout(bound, watcher.watch_all()).await;
        let elapsed = started.elapsed();
        eprintln!("fault mode {}: cycle ended after {elapsed:?}", case.mode);
        let mut problems = Vec::new();
        let affected: Vec<String> = if case.tls {
            through_proxy.to_vec()
        } else {
            vec![name("a")]
        };
        match result {
            Err(_) => problems.push(format!("the cycle did not complete within {bound:?}")),
            Ok(Err(e)) => problems.push(format!("the cycle failed: {e}")),
            Ok(Ok(report)) => {
                for (container, expected) in &baseline {
                    let Some(c) = find(&report.containers, container) else {
                        problems.push(format!("{container} is missing from the report"));
                        continue;
                    };
                    let hit = affected.contains(container);
                    match (&case.outcome, hit) {
                        (Outcome::Error(words), true) => {
                            let message = c.error.as_ref().map(|e| e.message.clone());
                            let Some(message) = message else {
                                problems.push(format!("{container} has no error: {c:?}"));
                                continue;
                            };
                            let repo = repository_of(container);
                            let lower = message.to_lowercase();
                            for word in [host.as_str(), repo.as_str()].iter().chain(words) {
                                if !lower.contains(&word.to_lowercase()) {
                                    problems.push(format!(
                                        "{container}'s message lacks `{word}`: {message}"
                                    ));
                                }
                            }
                            if &verdict(c) != expected {
                                problems.push(format!(
                                    "{container} lost its last good result: {} instead of {expected}",
                                    verdict(c)
                                ));
                            }
                        }
                        _ => {
                            if let Some(error) = &c.error {
                                problems.push(format!("{container} is blamed: {}", error.message));
                            }
                            if &verdict(c) != expected {
                                problems.push(format!(
                                    "{container}: {} instead of {expected}",
                                    verdict(c)
                                ));
                            }
                        }
                    }
                }
            }
        }
        let requests = proxy.requests();
        for r in requests.iter().filter(|r| r.fault.is_some()) {
            eprintln!(
                "  {} {} {} -> {} ({} body bytes)",
                r.fault.as_deref().unwrap_or_default(),
                r.method,
                r.target,
                r.status,
                r.body_bytes
            );
        }
        if !case.tls {
            // The fault was met, and only by the repository it was meant for.
            let faulted: Vec<_> = requests.iter().filter(|r| r.fault.is_some()).collect();
            if faulted.is_empty() {
                problems.push("the fault was never injected".into());
            }
            for r in &faulted {
                if r.repository.as_deref() != Some(repository(&repo_a).as_str()) {
                    problems.push(format!("the fault reached {} {}", r.method, r.target));
                }
            }
        }
        match case.extra {
            Extra::None => {}
            Extra::BodyBytesAtMost(limit) => {
                let sent: u64 = requests.iter().map(|r| r.body_bytes).sum();
                if sent > limit {
                    problems.push(format!(
                        "the proxy sent {sent} body bytes, more than {limit}: the body cap did not stop the read"
                    ));
                }
            }
            Extra::ConnectionsAtMost(limit) => {
                let made = proxy.connections_accepted() - connections_before;
                if made > limit {
                    problems.push(format!(
                        "{made} connections for {limit} repositories: a refused certificate was retried"
                    ));
                }
            }
            Extra::TagListsAtMost(limit) => {
                let lists = requests
                    .iter()
                    .filter(|r| {
                        r.target.contains("/tags/list")
                            && r.repository.as_deref() == Some(repository(&repo_a).as_str())
                    })
                    .count();
                if lists > limit {
                    problems.push(format!("{lists} tag-list requests followed the loop"));
                }
            }
        }
        let outcome = if problems.is_empty() { "ok" } else { "FAILED" };
        rows.push(format!(
            "| {} | {:.1} s (bound {} s) | {outcome} |",
            case.mode,
            elapsed.as_secs_f64(),
            bound.as_secs()
        ));
        if !problems.is_empty() {
            failures.push(format!("{}:\n    {}", case.mode, problems.join("\n    ")));
        }
    }
    proxy.pass_through();
    proxy.require_token(false);
    eprintln!(
        "| fault mode | cycle | outcome |\n|---|---|---|\n{}",
        rows.join("\n")
    );
    assert!(
        failures.is_empty(),
        "fault modes that failed:\n  {}",
        failures.join("\n  ")
    );
    drop(images);
}
