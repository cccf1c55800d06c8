//! drydock's Prometheus metrics: a [`Snapshot`] of what drydock knows rendered in the text
//! exposition format, with drydock's own names (`dd_*`) or, for What's Up Docker's Grafana
//! dashboard and alert rules, WUD's (`wud_containers` with its 37 labels, `wud_watcher_total`,
//! `wud_registry_response`, `wud_trigger_count`).
//!
//! # Example
//!
//! ```
//! use std::collections::BTreeMap;
//! use std::time::Duration;
//! use drydock_core::compat::Compat;
//! use drydock_core::model::Container;
//! use drydock_metrics::{Snapshot, render};
//!
//! let containers = [Container { watcher: "local".into(), ..Container::default() }];
//! let snapshot = Snapshot {
//!     containers: &containers,
//!     watchers: &["local"],
//!     cycles: &BTreeMap::new(),
//!     registries: &[],
//!     triggers: &[],
//!     uptime: Duration::from_secs(5),
//!     stranded: 0,
//! };
//! let text = render(&snapshot, Compat::Drydock);
//! assert!(text.contains("dd_containers{watcher=\"local\"} 1\n"));
//! assert!(render(&snapshot, Compat::Wud).contains("wud_watcher_total{type=\"docker\",name=\"local\"} 1\n"));
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use drydock_core::compat::{Compat, flatten_container};
use drydock_core::model::{Container, ContainerStatus, UpdateLevel};
use drydock_core::ports::EndpointStats;

/// Everything the metrics report, read at one moment.
#[derive(Debug)]
pub struct Snapshot<'a> {
    /// The stored containers.
    pub containers: &'a [Container],
    /// The watchers' names.
    pub watchers: &'a [&'a str],
    /// Watch cycles so far, by watcher.
    pub cycles: &'a BTreeMap<String, CycleTotals>,
    /// The registry endpoints' request counts.
    pub registries: &'a [EndpointStats],
    /// Each trigger's deliveries.
    pub triggers: &'a [TriggerCounts<'a>],
    /// Time since drydock started.
    pub uptime: Duration,
    /// Update operations a crash or a failed rollback left open, that no update is working on
    /// (retried in the background).
    pub stranded: usize,
}

/// The watch cycles of one watcher.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CycleTotals {
    /// How many ran.
    pub count: u64,
    /// Their total duration, in seconds.
    pub seconds: f64,
    /// The last one's duration, in seconds.
    pub last_seconds: f64,
}

impl CycleTotals {
    /// Counts one more cycle that took `elapsed`.
    pub fn record(&mut self, elapsed: Duration) {
        self.count += 1;
        self.seconds += elapsed.as_secs_f64();
        self.last_seconds = elapsed.as_secs_f64();
    }
}

/// The text exposition of `snapshot`, with drydock's names or What's Up Docker's.
pub fn render(snapshot: &Snapshot<'_>, compat: Compat) -> String {
    match compat {
        Compat::Drydock => render_drydock(snapshot),
        Compat::Wud => render_wud(snapshot),
    }
}

/// The label names of What's Up Docker's `wud_containers`, exactly (WUD 8.3.1).
const WUD_CONTAINER_LABELS: [&str; 37] = [
    "display_icon",
    "display_name",
    "error_message",
    "exclude_tags",
    "id",
    "image_architecture",
    "image_created",
    "image_digest_repo",
    "image_digest_value",
    "image_digest_watch",
    "image_id",
    "image_name",
    "image_os",
    "image_registry_name",
    "image_registry_url",
    "image_tag_semver",
    "image_tag_value",
    "image_variant",
    "include_tags",
    "labels",
    "link_template",
    "link",
    "name",
    "result_created",
    "result_digest",
    "result_link",
    "result_tag",
    "status",
    "transform_tags",
    "trigger_exclude",
    "trigger_include",
    "update_available",
    "update_kind_kind",
    "update_kind_local_value",
    "update_kind_remote_value",
    "update_kind_semver_diff",
    "watcher",
];

/// One trigger's deliveries, for `wud_trigger_count`.
#[derive(Debug)]
pub struct TriggerCounts<'a> {
    /// The trigger's type (`ntfy`).
    pub kind: &'a str,
    /// The trigger's name (`one`).
    pub name: &'a str,
    /// Messages delivered.
    pub success: u64,
    /// Messages dead-lettered.
    pub error: u64,
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A container's `wud_containers` labels: the flattened container as WUD flattens it, every one
/// of the 37 names (absent ones empty, which Prometheus reads as absent).
fn wud_container_labels(container: &Container) -> Vec<(&'static str, String)> {
    let flat = serde_json::to_value(container)
        .map(|v| flatten_container(&v))
        .unwrap_or_default();
    WUD_CONTAINER_LABELS
        .iter()
        .map(|name| {
            let value = match flat.get(*name) {
                None | Some(serde_json::Value::Null) => String::new(),
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            };
            (*name, value)
        })
        .collect()
}

/// `/metrics` with What's Up Docker's names (`DD_COMPAT=wud`), for its Grafana dashboard and
/// alert rules.
fn render_wud(snapshot: &Snapshot<'_>) -> String {
    let &Snapshot {
        containers,
        watchers,
        registries,
        triggers,
        ..
    } = snapshot;
    let mut out = String::new();
    let _ = writeln!(out, "# HELP wud_containers The watched containers");
    let _ = writeln!(out, "# TYPE wud_containers gauge");
    for container in containers {
        let labels: Vec<String> = wud_container_labels(container)
            .into_iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape_label(&v)))
            .collect();
        let _ = writeln!(out, "wud_containers{{{}}} 1", labels.join(","));
    }
    let _ = writeln!(
        out,
        "# HELP wud_watcher_total The number of watched containers"
    );
    let _ = writeln!(out, "# TYPE wud_watcher_total gauge");
    for watcher in watchers {
        let count = containers.iter().filter(|c| c.watcher == *watcher).count();
        let _ = writeln!(
            out,
            "wud_watcher_total{{type=\"docker\",name=\"{}\"}} {count}",
            escape_label(watcher)
        );
    }
    // One series per provider (`hub.public` is type hub, name public), however many endpoints.
    let mut by_provider: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for s in registries {
        let entry = by_provider.entry(s.provider.as_str()).or_default();
        entry.0 += s.tag_lookups;
        entry.1 += s.tag_lookup_micros;
    }
    let _ = writeln!(
        out,
        "# HELP wud_registry_response The Registry response time (in second)"
    );
    let _ = writeln!(out, "# TYPE wud_registry_response summary");
    for (provider, (count, micros)) in &by_provider {
        let (kind, name) = provider.split_once('.').unwrap_or((provider, ""));
        let labels = format!(
            "type=\"{}\",name=\"{}\"",
            escape_label(kind),
            escape_label(name)
        );
        let seconds = *micros as f64 / 1_000_000.0;
        let _ = writeln!(out, "wud_registry_response_sum{{{labels}}} {seconds}");
        let _ = writeln!(out, "wud_registry_response_count{{{labels}}} {count}");
    }
    let _ = writeln!(
        out,
        "# HELP wud_trigger_count Total count of trigger events"
    );
    let _ = writeln!(out, "# TYPE wud_trigger_count counter");
    for t in triggers {
        for (status, value) in [("success", t.success), ("error", t.error)] {
            let _ = writeln!(
                out,
                "wud_trigger_count{{type=\"{}\",name=\"{}\",status=\"{status}\"}} {value}",
                escape_label(t.kind),
                escape_label(t.name)
            );
        }
    }
    out
}

fn render_drydock(snapshot: &Snapshot<'_>) -> String {
    let containers = snapshot.containers;
    let mut out = String::new();
    let escape = |v: &str| {
        v.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    };
    let _ = writeln!(out, "# HELP dd_containers Watched containers, by watcher.");
    let _ = writeln!(out, "# TYPE dd_containers gauge");
    for name in snapshot.watchers {
        let count = containers.iter().filter(|c| c.watcher == *name).count();
        let _ = writeln!(out, "dd_containers{{watcher=\"{}\"}} {count}", escape(name));
    }
    // A watched container that stops stays listed: running ones are counted apart.
    let _ = writeln!(
        out,
        "# HELP dd_containers_running Watched containers that are running, by watcher."
    );
    let _ = writeln!(out, "# TYPE dd_containers_running gauge");
    for name in snapshot.watchers {
        let count = containers
            .iter()
            .filter(|c| c.watcher == *name && c.status == ContainerStatus::Running)
            .count();
        let _ = writeln!(
            out,
            "dd_containers_running{{watcher=\"{}\"}} {count}",
            escape(name)
        );
    }
    let _ = writeln!(
        out,
        "# HELP dd_update_operations_stranded Interrupted updates that are not finished yet (retried in the background)."
    );
    let _ = writeln!(out, "# TYPE dd_update_operations_stranded gauge");
    let _ = writeln!(out, "dd_update_operations_stranded {}", snapshot.stranded);
    let _ = writeln!(
        out,
        "# HELP dd_updates_available Containers with an update available, by kind."
    );
    let _ = writeln!(out, "# TYPE dd_updates_available gauge");
    for level in [
        UpdateLevel::Major,
        UpdateLevel::Minor,
        UpdateLevel::Patch,
        UpdateLevel::Prerelease,
        UpdateLevel::Digest,
        UpdateLevel::Unknown,
    ] {
        let count = containers
            .iter()
            .filter(|c| c.update_available && c.update_kind.level() == level)
            .count();
        let _ = writeln!(out, "dd_updates_available{{kind=\"{level}\"}} {count}");
    }
    let _ = writeln!(
        out,
        "# HELP dd_container_errors Containers whose last watch failed."
    );
    let _ = writeln!(out, "# TYPE dd_container_errors gauge");
    let _ = writeln!(
        out,
        "dd_container_errors {}",
        containers.iter().filter(|c| c.error.is_some()).count()
    );
    let _ = writeln!(
        out,
        "# HELP dd_watch_cycle_seconds Duration of watch cycles, by watcher."
    );
    let _ = writeln!(out, "# TYPE dd_watch_cycle_seconds summary");
    for (watcher, cycles) in snapshot.cycles {
        let (count, sum) = (cycles.count, cycles.seconds);
        let _ = writeln!(
            out,
            "dd_watch_cycle_seconds_sum{{watcher=\"{}\"}} {sum}",
            escape(watcher)
        );
        let _ = writeln!(
            out,
            "dd_watch_cycle_seconds_count{{watcher=\"{}\"}} {count}",
            escape(watcher)
        );
    }
    let _ = writeln!(
        out,
        "# HELP dd_registry_requests_total Requests sent to registries, by provider and kind."
    );
    let _ = writeln!(out, "# TYPE dd_registry_requests_total counter");
    let stats = snapshot.registries;
    for s in stats {
        for (kind, value) in [
            ("tags", s.tag_lists),
            ("manifest_head", s.manifest_heads),
            ("manifest_get", s.manifest_gets),
            ("blob", s.blob_gets),
            ("token", s.tokens),
            ("ping", s.pings),
        ] {
            let _ = writeln!(
                out,
                "dd_registry_requests_total{{registry=\"{}\",endpoint=\"{}\",kind=\"{kind}\"}} {value}",
                escape(&s.provider),
                escape(&s.endpoint)
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP dd_registry_errors_total Registry calls that failed, by provider."
    );
    let _ = writeln!(out, "# TYPE dd_registry_errors_total counter");
    for s in stats {
        let _ = writeln!(
            out,
            "dd_registry_errors_total{{registry=\"{}\",endpoint=\"{}\"}} {}",
            escape(&s.provider),
            escape(&s.endpoint),
            s.errors
        );
    }
    let _ = writeln!(
        out,
        "# HELP dd_uptime_seconds Seconds since drydock started."
    );
    let _ = writeln!(out, "# TYPE dd_uptime_seconds gauge");
    let _ = writeln!(out, "dd_uptime_seconds {}", snapshot.uptime.as_secs());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The label names as clients.md §4 lists them for WUD 8.3.1.
    const WUD_LABELS_AS_DOCUMENTED: &str = "display_icon, display_name, error_message, exclude_tags, id, \
        image_architecture, image_created, image_digest_repo, image_digest_value, image_digest_watch, image_id, image_name, image_os, \
        image_registry_name, image_registry_url, image_tag_semver, image_tag_value, image_variant, include_tags, labels, \
        link_template, link, name, result_created, result_digest, result_link, result_tag, status, transform_tags, trigger_exclude, \
        trigger_include, update_available, update_kind_kind, update_kind_local_value, update_kind_remote_value, \
        update_kind_semver_diff, watcher";

    fn sample() -> Container {
        use drydock_core::model::{Image, ImageTag, KindOfUpdate, UpdateKind, UpdateResult};
        use drydock_core::version::SemverDiff;
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

    fn labels_of(line: &str) -> Vec<(String, String)> {
        let inner = &line[line.find('{').unwrap() + 1..line.rfind('}').unwrap()];
        inner
            .split("\",")
            .map(|pair| {
                let (k, v) = pair.split_once("=\"").unwrap();
                (k.to_owned(), v.trim_end_matches('"').to_owned())
            })
            .collect()
    }

    #[test]
    fn stopped_containers_are_counted_but_not_as_running() {
        let running = Container {
            status: ContainerStatus::Running,
            ..sample()
        };
        let stopped = Container {
            id: "stopped".into(),
            name: "stopped".into(),
            status: ContainerStatus::Exited,
            ..sample()
        };
        let text = render(
            &Snapshot {
                containers: &[running, stopped],
                watchers: &["local"],
                cycles: &BTreeMap::new(),
                registries: &[],
                triggers: &[],
                uptime: Duration::ZERO,
                stranded: 0,
            },
            Compat::Drydock,
        );
        assert!(
            text.contains("dd_containers{watcher=\"local\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("dd_containers_running{watcher=\"local\"} 1\n"),
            "{text}"
        );
    }

    #[test]
    fn wud_metrics_carry_whats_up_dockers_names_and_labels() {
        let mut container = sample();
        container
            .labels
            .insert("com.example.team".into(), "ops".into());
        let stats = [
            EndpointStats {
                provider: "hub.public".into(),
                endpoint: "https://registry-1.docker.io/".into(),
                tag_lookups: 2,
                tag_lookup_micros: 1_500_000,
                ..EndpointStats::default()
            },
            EndpointStats {
                provider: "hub.public".into(),
                endpoint: "https://mirror.example/".into(),
                tag_lookups: 1,
                tag_lookup_micros: 500_000,
                ..EndpointStats::default()
            },
        ];
        let triggers = [TriggerCounts {
            kind: "ntfy",
            name: "one",
            success: 3,
            error: 1,
        }];
        let containers = [container];
        let text = render(
            &Snapshot {
                containers: &containers,
                watchers: &["local"],
                cycles: &BTreeMap::new(),
                registries: &stats,
                triggers: &triggers,
                uptime: Duration::ZERO,
                stranded: 0,
            },
            Compat::Wud,
        );

        let line = text
            .lines()
            .find(|l| l.starts_with("wud_containers{"))
            .unwrap();
        assert!(line.ends_with("} 1"), "{line}");
        let labels = labels_of(line);
        let names: Vec<&str> = labels.iter().map(|(k, _)| k.as_str()).collect();
        let documented: Vec<&str> = WUD_LABELS_AS_DOCUMENTED.split(", ").collect();
        assert_eq!(documented.len(), 37);
        assert_eq!(names, documented, "exactly WUD's label names, no labels_*");
        let value = |name: &str| {
            labels
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(value("name"), "drydock-test");
        assert_eq!(value("watcher"), "local");
        assert_eq!(value("image_name"), "drydock/test");
        assert_eq!(value("image_tag_value"), "1.0.0");
        assert_eq!(value("image_tag_semver"), "true");
        assert_eq!(value("result_tag"), "1.1.0");
        assert_eq!(value("update_available"), "true");
        assert_eq!(value("update_kind_kind"), "tag");
        assert_eq!(value("update_kind_semver_diff"), "minor");
        assert_eq!(value("update_kind_remote_value"), "1.1.0");

        assert!(text.contains("# TYPE wud_watcher_total gauge\n"));
        assert!(text.contains("wud_watcher_total{type=\"docker\",name=\"local\"} 1\n"));
        assert!(text.contains("# TYPE wud_registry_response summary\n"));
        assert!(
            text.contains("wud_registry_response_sum{type=\"hub\",name=\"public\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("wud_registry_response_count{type=\"hub\",name=\"public\"} 3\n"));
        assert!(text.contains("# TYPE wud_trigger_count counter\n"));
        assert!(
            text.contains("wud_trigger_count{type=\"ntfy\",name=\"one\",status=\"success\"} 3\n")
        );
        assert!(
            text.contains("wud_trigger_count{type=\"ntfy\",name=\"one\",status=\"error\"} 1\n")
        );
        assert!(
            !text.lines().any(|l| l.starts_with("dd_")),
            "only WUD's names: {text}"
        );
    }
}
