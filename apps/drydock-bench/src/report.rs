//! The figures, as JSON and as the Markdown section of `docs/benchmarks.md`.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use serde::Serialize;

use crate::measure::Load;
use crate::proxy::Counts;

/// Where the harness's section starts and ends in the Markdown file.
const BEGIN: &str = "<!-- drydock-bench:begin -->";
const END: &str = "<!-- drydock-bench:end -->";

/// One watch cycle.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Cycle {
    pub(crate) wall_ms: f64,
    /// CPU time (user + system) of the drydock process; unknown for the start-up cycle.
    pub(crate) cpu_ms: Option<f64>,
    pub(crate) requests: Counts,
    /// Every process's CPU time over the cycle (steady cycles only).
    pub(crate) machine: Option<crate::cpu::Usage>,
}

/// One (containers, delay) configuration.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Row {
    containers: usize,
    repositories: usize,
    tags: usize,
    delay_ms: u64,
    first_cycle: Cycle,
    /// The median steady-state cycle by wall time; its requests are the most any steady cycle
    /// made, so a cycle that asked more is not hidden.
    steady_cycle: Cycle,
    steady_cycles: Vec<Cycle>,
    idle_rss_kb: u64,
    peak_rss_kb: u64,
    startup_empty_store_ms: f64,
    startup_with_store_ms: f64,
    load: Vec<Load>,
    /// Every process's CPU over 2 s with drydock idle, before the steady cycles.
    background: Option<crate::cpu::Usage>,
}

impl Row {
    /// Adds the machine's background CPU use, measured with drydock idle.
    pub(crate) fn with_background(mut self, usage: crate::cpu::Usage) -> Self {
        self.background = Some(usage);
        self
    }

    #[allow(clippy::too_many_arguments)] // one measurement's parts, named at the call
    pub(crate) fn new(
        containers: usize,
        repositories: usize,
        tags: usize,
        delay_ms: u64,
        first_cycle: Cycle,
        steady_cycles: Vec<Cycle>,
        (idle_rss_kb, peak_rss_kb): (u64, u64),
        (startup_empty_store_ms, startup_with_store_ms): (f64, f64),
        load: Vec<Load>,
    ) -> Self {
        let mut by_wall = steady_cycles.clone();
        by_wall.sort_by(|a, b| a.wall_ms.total_cmp(&b.wall_ms));
        let mut steady_cycle = by_wall
            .get(by_wall.len() / 2)
            .cloned()
            .unwrap_or_else(|| first_cycle.clone());
        let max = |f: fn(&Counts) -> u64| steady_cycles.iter().map(|c| f(&c.requests)).max();
        steady_cycle.requests = Counts {
            ping: max(|c| c.ping).unwrap_or(0),
            token: max(|c| c.token).unwrap_or(0),
            tags_list: max(|c| c.tags_list).unwrap_or(0),
            manifest_head: max(|c| c.manifest_head).unwrap_or(0),
            manifest_get: max(|c| c.manifest_get).unwrap_or(0),
            blob_get: max(|c| c.blob_get).unwrap_or(0),
            other: max(|c| c.other).unwrap_or(0),
        };
        Self {
            containers,
            repositories,
            tags,
            delay_ms,
            first_cycle,
            steady_cycle,
            steady_cycles,
            idle_rss_kb,
            peak_rss_kb,
            startup_empty_store_ms,
            startup_with_store_ms,
            load,
            background: None,
        }
    }
}

/// The machine the figures were taken on.
#[derive(Debug, Serialize)]
struct Machine {
    cpu: String,
    cores: usize,
    memory_gib: u64,
    kernel: String,
    docker: String,
}

/// Everything one run measured.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    date: String,
    command: String,
    machine: Machine,
    binary_bytes: u64,
    rows: Vec<Row>,
}

async fn docker_version() -> String {
    crate::docker::docker(&["version", "--format", "{{.Server.Version}}"])
        .await
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn machine_cpu() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

fn memory_gib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| (kb + 512 * 1024) / (1024 * 1024))
}

fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn mb(kb: u64) -> String {
    format!("{:.1}", kb as f64 / 1024.0)
}

impl Report {
    pub(crate) async fn new(command: &str, rows: Vec<Row>, binary_bytes: u64) -> Self {
        Self {
            date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
            command: command.to_owned(),
            machine: Machine {
                cpu: machine_cpu(),
                cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
                memory_gib: memory_gib(),
                kernel: kernel(),
                docker: docker_version().await,
            },
            binary_bytes,
            rows,
        }
    }

    /// The Markdown section: machine, date, command, then the tables.
    pub(crate) fn markdown(&self) -> String {
        let mut out = String::new();
        let m = &self.machine;
        let _ = writeln!(
            out,
            "Measured {} on {} cores ({}), {} GiB, Linux {}, Docker {}. Command: \
             `scripts/bench.sh` (`{}`). Release binary: {:.1} MB.\n",
            self.date,
            m.cores,
            m.cpu,
            m.memory_gib,
            m.kernel,
            m.docker,
            self.command,
            self.binary_bytes as f64 / 1_000_000.0
        );
        out.push_str(
            "| containers / repos (tags) | delay | first cycle | steady cycle (CPU) | \
             first: tags / HEAD / GET / blob / token | steady: tags / HEAD / GET / blob / token | \
             idle / peak RSS | start-up: empty / 1 store |\n|---|---|---|---|---|---|---|---|\n",
        );
        for row in &self.rows {
            let requests = |c: &Counts| {
                format!(
                    "{} / {} / {} / {} / {}",
                    c.tags_list, c.manifest_head, c.manifest_get, c.blob_get, c.token
                )
            };
            let _ = writeln!(
                out,
                "| {} / {} ({}) | {} ms | {:.0} ms | {:.0} ms ({:.0} ms) | {} | {} | {} / {} MB | \
                 {:.0} / {:.0} ms |",
                row.containers,
                row.repositories,
                row.tags,
                row.delay_ms,
                row.first_cycle.wall_ms,
                row.steady_cycle.wall_ms,
                row.steady_cycle.cpu_ms.unwrap_or(0.0),
                requests(&row.first_cycle.requests),
                requests(&row.steady_cycle.requests),
                mb(row.idle_rss_kb),
                mb(row.peak_rss_kb),
                row.startup_empty_store_ms,
                row.startup_with_store_ms,
            );
        }
        let loads: Vec<&Row> = self.rows.iter().filter(|r| !r.load.is_empty()).collect();
        if !loads.is_empty() {
            out.push_str(
                "\n`GET /api/containers` under `wrk --latency -H 'Accept-Encoding: gzip'` (same \
                 machine, loopback):\n\n\
                 | containers | answer (JSON) | wrk threads / connections | requests/s | p50 | p99 | \
                 CPU: drydock / wrk |\n\
                 |---|---|---|---|---|---|---|\n",
            );
            for row in loads {
                for load in &row.load {
                    let _ = writeln!(
                        out,
                        "| {} | {:.0} kB | {} / {} | {:.0} | {:.2} ms | {:.2} ms | {:.0} / {:.0} ms |",
                        row.containers,
                        load.body_bytes as f64 / 1000.0,
                        load.threads,
                        load.connections,
                        load.requests_per_second,
                        load.p50_ms,
                        load.p99_ms,
                        load.server_cpu_ms,
                        load.wrk_cpu_ms
                    );
                }
            }
        }
        self.machine_table(&mut out);
        out
    }

    /// Where the steady cycles' time went: each process's CPU and the machine's busy share.
    fn machine_table(&self, out: &mut String) {
        let rows: Vec<&Row> = self
            .rows
            .iter()
            .filter(|r| r.steady_cycle.machine.is_some())
            .collect();
        if rows.is_empty() {
            return;
        }
        out.push_str(
            "\nCPU time of every process during the median steady cycle, and over 2 s with \
             drydock idle just before (from `/proc`; the machine's two cores give at most twice \
             the wall time):\n\n\
             | containers | delay | wall | machine busy | busiest processes (CPU ms) | \
             idle 2 s: busy, busiest (CPU ms) |\n\
             |---|---|---|---|---|---|\n",
        );
        for row in rows {
            let Some(usage) = &row.steady_cycle.machine else {
                continue;
            };
            let top = |usage: &crate::cpu::Usage| {
                usage
                    .top
                    .iter()
                    .map(|c| format!("{} {:.0}", c.command, c.cpu_ms))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let background = row.background.as_ref().map_or_else(
                || "-".to_owned(),
                |b| format!("{:.0} %: {}", b.machine_busy_percent, top(b)),
            );
            let _ = writeln!(
                out,
                "| {} | {} ms | {:.0} ms | {:.0} % | {} | {} |",
                row.containers,
                row.delay_ms,
                row.steady_cycle.wall_ms,
                usage.machine_busy_percent,
                top(usage),
                background
            );
        }
    }

    /// Replaces the section between the markers of `path` with this report.
    pub(crate) fn write_into(&self, path: &Path) -> anyhow::Result<()> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let (Some(begin), Some(end)) = (text.find(BEGIN), text.find(END)) else {
            anyhow::bail!("{} has no {BEGIN} … {END} section", path.display());
        };
        let updated = format!(
            "{}{BEGIN}\n{}{}",
            &text[..begin],
            self.markdown(),
            &text[end..]
        );
        std::fs::write(path, updated).with_context(|| format!("writing {}", path.display()))
    }
}
