//! drydock's benchmark harness.
//!
//! Builds a workload of N running containers over N/5 repositories in the test environment's
//! engine and registry (`scripts/test-env.sh`), puts a counting latency proxy in front of the
//! registry, runs the release `drydock` binary against it and measures: watch-cycle wall and CPU
//! time, registry requests by kind per cycle, idle and peak RSS, start-up time, the container
//! list's throughput and latency under `wrk`, and the binary's size. Writes a Markdown table
//! (into `docs/benchmarks.md`, between markers) and the same figures as JSON.
//!
//! `scripts/bench.sh` is the documented command; `drydock-bench --help` lists the knobs.
#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line report

mod cpu;
mod docker;
mod measure;
mod proxy;
mod report;
mod workload;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use futures_util::{StreamExt, TryStreamExt, stream};

use crate::measure::Drydock;
use crate::proxy::Proxy;
use crate::report::{Cycle, Row};

#[derive(Debug, Parser)]
#[command(
    name = "drydock-bench",
    about = "Measures drydock against a real registry and engine"
)]
pub(crate) struct Args {
    /// Container counts to measure, each over count/5 repositories.
    #[arg(long, value_delimiter = ',', default_value = "10,50,200,1000")]
    containers: Vec<usize>,
    /// Per-request delays the proxy adds, in milliseconds.
    #[arg(long, value_delimiter = ',', default_value = "0,30")]
    delays: Vec<u64>,
    /// The drydock binary to measure.
    #[arg(long, default_value = "target/release/drydock")]
    pub(crate) drydock: PathBuf,
    /// The registry behind the proxy.
    #[arg(long, default_value = "http://127.0.0.1:5000")]
    registry: String,
    /// The proxy's port (0: any free port). Images are named after it, so a fixed port lets a
    /// later run reuse the containers of a `--keep` run.
    #[arg(long, default_value_t = 5090)]
    proxy_port: u16,
    /// Names this run's containers (`drydock-bench-<run>-0001`) and labels them `dd.bench=<run>`.
    #[arg(long, default_value = "main")]
    run: String,
    /// Steady-state cycles measured after the start-up cycle.
    #[arg(long, default_value_t = 5)]
    steady_cycles: usize,
    /// Seconds of `wrk` load on `GET /api/containers` (0: none).
    #[arg(long, default_value_t = 10)]
    load_seconds: u64,
    /// Keep drydock running this many seconds after the measurements, printing its pid, to
    /// attach `perf` or read `/proc/<pid>/smaps`.
    #[arg(long, default_value_t = 0)]
    hold_seconds: u64,
    /// The Markdown file whose benchmark section is replaced.
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// Where the JSON figures go.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Keep the containers and images for the next run.
    #[arg(long)]
    keep: bool,
    /// drydock's `DD_LOG_LEVEL` (the start-up cycle is timed from its `info` line).
    #[arg(long, default_value = "info")]
    pub(crate) log_level: String,
    /// Extra environment for drydock (`KEY=VALUE`, repeatable), for experiments.
    #[arg(long = "env")]
    pub(crate) env: Vec<String>,
    /// Copy each drydock log into this directory.
    #[arg(long)]
    logs: Option<PathBuf>,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !args.drydock.is_file() {
        bail!(
            "{} is missing: build it with `cargo build --release -p drydock`",
            args.drydock.display()
        );
    }
    let proxy = Proxy::start(args.proxy_port, &args.registry).await?;
    let images_prefix = format!("{}/drydock-bench/", proxy.host);
    let outcome = run(&args, &proxy).await;
    if !args.keep {
        docker::remove(&args.run, &images_prefix).await?;
    }
    let rows = outcome?;
    let binary_bytes = std::fs::metadata(&args.drydock)?.len();
    let report = report::Report::new(&args_line(), rows, binary_bytes).await;
    println!("{}", report.markdown());
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.markdown {
        report.write_into(path)?;
    }
    Ok(())
}

fn args_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("drydock-bench {}", args.join(" "))
        .trim()
        .to_owned()
}

async fn run(args: &Args, proxy: &Proxy) -> anyhow::Result<Vec<Row>> {
    let registry = workload::Registry::new(&args.registry)?;
    let base = registry.base().await?;
    let mut counts = args.containers.clone();
    counts.sort_unstable();
    let mut rows = Vec::new();
    for &n in &counts {
        let repos: Vec<workload::Repo> = (0..n.div_ceil(5)).map(workload::repo).collect();
        let pushed: Vec<usize> = stream::iter(&repos)
            .map(|repo| registry.ensure(&base, repo))
            .buffer_unordered(4)
            .try_collect()
            .await?;
        let wanted: Vec<(String, String)> = (0..n)
            .map(|i| {
                let repo = &repos[i / 5];
                (
                    container_name(&args.run, i),
                    format!("{}/{}:{}", proxy.host, repo.name, workload::CURRENT),
                )
            })
            .collect();
        proxy.set_auth(false);
        proxy.set_delay(Duration::ZERO);
        let started = docker::ensure_containers(&args.run, &wanted).await?;
        eprintln!(
            "workload {n}: {} repositories ({} tags pushed now), {started} containers started now",
            repos.len(),
            pushed.iter().sum::<usize>()
        );
        let tags: usize = repos.iter().map(|r| r.tags.len()).sum();
        for &delay in &args.delays {
            let row = measure(args, proxy, n, repos.len(), tags, delay).await?;
            eprintln!("{}", serde_json::to_string(&row)?);
            rows.push(row);
        }
    }
    Ok(rows)
}

fn container_name(run: &str, i: usize) -> String {
    format!("drydock-bench-{run}-{i:04}")
}

async fn measure(
    args: &Args,
    proxy: &Proxy,
    containers: usize,
    repositories: usize,
    tags: usize,
    delay_ms: u64,
) -> anyhow::Result<Row> {
    let scratch = std::env::temp_dir().join(format!(
        "drydock-bench-{}-{containers}-{delay_ms}",
        std::process::id()
    ));
    let store = scratch.join("store");
    std::fs::create_dir_all(&scratch)?;
    proxy.set_auth(true);
    proxy.set_delay(Duration::from_millis(delay_ms));
    proxy.take();
    let prefix = format!("drydock-bench-{}-", args.run);

    let (drydock, startup_empty) =
        Drydock::start(args, &store, &scratch.join("1.log"), "/api/app").await?;
    let first_wall = drydock.startup_cycle().await?;
    let first = Cycle {
        wall_ms: ms(first_wall),
        cpu_ms: None,
        requests: proxy.take(),
        machine: None,
    };
    let (seen, errors) = drydock.containers(&prefix).await?;
    if seen != containers || !errors.is_empty() {
        bail!(
            "after the start-up cycle drydock lists {seen} of {containers} containers, {} with \
             errors (first: {:?}); log:\n{}",
            errors.len(),
            errors.first(),
            drydock.log_tail()
        );
    }
    // The machine's own background (a thousand containerd shims are not free) over as long as
    // a cycle takes, so the cycle's figures can be read against it.
    let before = cpu::snapshot();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let background = cpu::since(&before, 6);
    let mut steady = Vec::new();
    for _ in 0..args.steady_cycles.max(1) {
        let before = cpu::snapshot();
        let (wall, cpu) = drydock.cycle().await?;
        let machine = cpu::since(&before, 6);
        steady.push(Cycle {
            wall_ms: ms(wall),
            cpu_ms: Some(ms(cpu)),
            requests: proxy.take(),
            machine: Some(machine),
        });
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (idle_rss_kb, peak_rss_kb) = drydock.rss_kb()?;
    let mut load = Vec::new();
    if args.load_seconds > 0 && delay_ms == 0 {
        let url = format!("{}/api/containers", drydock.base);
        // A few dashboards polling, then a crowd: on two cores wrk's own threads compete with
        // the server's, so the crowd's tail is mostly the run queue.
        for shape in [(1, 4), (2, 16)] {
            load.push(measure::load(&drydock, &url, args.load_seconds, shape).await?);
        }
    }
    if args.hold_seconds > 0 {
        eprintln!(
            "drydock (pid {}, {}) stays up for {} s",
            drydock.pid, drydock.base, args.hold_seconds
        );
        tokio::time::sleep(Duration::from_secs(args.hold_seconds)).await;
    }
    drydock.stop().await?;

    let (drydock, startup_with_store) =
        Drydock::start(args, &store, &scratch.join("2.log"), "/api/containers").await?;
    drydock.stop().await?;
    if let Some(logs) = &args.logs {
        std::fs::create_dir_all(logs)?;
        for log in ["1.log", "2.log"] {
            let name = format!("drydock-{containers}-{delay_ms}ms-{log}");
            std::fs::copy(scratch.join(log), logs.join(name))?;
        }
    }
    std::fs::remove_dir_all(&scratch)?;

    Ok(Row::new(
        containers,
        repositories,
        tags,
        delay_ms,
        first,
        steady,
        (idle_rss_kb, peak_rss_kb),
        (ms(startup_empty), ms(startup_with_store)),
        load,
    )
    .with_background(background))
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
