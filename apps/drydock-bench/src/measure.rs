//! The drydock process under measurement: start-up, cycles, memory and CPU from `/proc`, and
//! the API's throughput under `wrk`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;
use tokio::process::{Child, Command};

/// A running drydock on a store directory.
#[derive(Debug)]
pub(crate) struct Drydock {
    child: Child,
    pub(crate) pid: u32,
    /// `http://127.0.0.1:PORT`.
    pub(crate) base: String,
    log: PathBuf,
    http: reqwest::Client,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Memory of a process, from `/proc/<pid>/status`, in kB.
fn status_kb(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

/// User plus system CPU time of a process, from `/proc/<pid>/stat`.
fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let (_, ticks) =
        crate::cpu::process_ticks(pid).with_context(|| format!("no readable /proc/{pid}/stat"))?;
    Ok(Duration::from_millis(
        ticks * 1000 / crate::cpu::clock_ticks(),
    ))
}

impl Drydock {
    /// Starts `binary` on `store`; returns it and the time to its first answer on `probe`.
    pub(crate) async fn start(
        args: &crate::Args,
        store: &Path,
        log: &Path,
        probe: &str,
    ) -> anyhow::Result<(Self, Duration)> {
        let port = free_port()?;
        let log_file = std::fs::File::create(log)?;
        let binary = &args.drydock;
        let started = Instant::now();
        let mut command = Command::new(binary);
        command.env_clear();
        for pair in &args.env {
            let (key, value) = pair
                .split_once('=')
                .with_context(|| format!("--env {pair}: expected KEY=VALUE"))?;
            command.env(key, value);
        }
        let child = command
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DD_SERVER_PORT", port.to_string())
            .env("DD_STORE_PATH", store)
            .env("DD_ANONYMOUS_AUTH_CONFIRM", "true")
            .env("DD_WATCHER_LOCAL_WATCHBYDEFAULT", "false")
            // No scheduled cycle during the measurement: the start-up cycle and the ones asked.
            .env("DD_WATCHER_LOCAL_CRON", "0 0 1 1 *")
            .env("DD_LOG_LEVEL", &args.log_level)
            .env("DD_LOG_FORMAT", "json")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let pid = child.id().context("drydock exited at once")?;
        let drydock = Self {
            child,
            pid,
            base: format!("http://127.0.0.1:{port}"),
            log: log.to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(600))
                .build()?,
        };
        let url = format!("{}{probe}", drydock.base);
        while started.elapsed() < Duration::from_secs(30) {
            if let Ok(response) = drydock.http.get(&url).send().await
                && response.status().is_success()
            {
                return Ok((drydock, started.elapsed()));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        bail!(
            "drydock did not answer {probe} within 30 s; its log:\n{}",
            drydock.log_tail()
        )
    }

    /// The last lines of the log, for errors.
    pub(crate) fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Waits for the start-up watch cycle to finish; returns its duration as logged.
    pub(crate) async fn startup_cycle(&self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(600) {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let done = log
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .find(|l| l["fields"]["message"] == "watch cycle done");
            if let Some(line) = done {
                let ms = line["fields"]["elapsed_ms"]
                    .as_u64()
                    .context("the cycle's log line has no elapsed_ms")?;
                return Ok(Duration::from_millis(ms));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        bail!("no watch cycle finished within 600 s:\n{}", self.log_tail())
    }

    /// Runs one full watch cycle through the API: its wall and CPU time.
    pub(crate) async fn cycle(&self) -> anyhow::Result<(Duration, Duration)> {
        let cpu = cpu_time(self.pid)?;
        let started = Instant::now();
        let response = self
            .http
            .post(format!("{}/api/containers/watch", self.base))
            .send()
            .await?;
        let wall = started.elapsed();
        if !response.status().is_success() {
            bail!("POST /api/containers/watch answered {}", response.status());
        }
        Ok((wall, cpu_time(self.pid)?.saturating_sub(cpu)))
    }

    /// The containers the API lists whose name starts with `prefix`, and how many of them
    /// carry an error.
    pub(crate) async fn containers(&self, prefix: &str) -> anyhow::Result<(usize, Vec<String>)> {
        let list: serde_json::Value = self
            .http
            .get(format!("{}/api/containers", self.base))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let ours: Vec<&serde_json::Value> = list
            .as_array()
            .context("GET /api/containers is not an array")?
            .iter()
            .filter(|c| c["name"].as_str().is_some_and(|n| n.starts_with(prefix)))
            .collect();
        let errors = ours
            .iter()
            .filter_map(|c| c["error"]["message"].as_str().map(String::from))
            .collect();
        Ok((ours.len(), errors))
    }

    /// Resident memory now and at its peak, in kB.
    pub(crate) fn rss_kb(&self) -> anyhow::Result<(u64, u64)> {
        Ok((
            status_kb(self.pid, "VmRSS:")?,
            status_kb(self.pid, "VmHWM:")?,
        ))
    }

    /// Stops the process with SIGTERM (it flushes its store) and waits for it.
    pub(crate) async fn stop(mut self) -> anyhow::Result<()> {
        let _ = Command::new("kill")
            .arg(self.pid.to_string())
            .status()
            .await;
        match tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await {
            Ok(status) => {
                status?;
            }
            Err(_) => self.child.kill().await?,
        }
        Ok(())
    }
}

/// `GET /api/containers` under load.
#[derive(Clone, Copy, Debug, Serialize)]
pub(crate) struct Load {
    /// wrk threads.
    pub(crate) threads: u32,
    /// Connections kept open.
    pub(crate) connections: u32,
    /// Requests per second over the run.
    pub(crate) requests_per_second: f64,
    /// Median latency, ms.
    pub(crate) p50_ms: f64,
    /// 99th percentile latency, ms.
    pub(crate) p99_ms: f64,
    /// Size of one answer, bytes.
    pub(crate) body_bytes: usize,
    /// CPU time of the server and of wrk over the run, ms: on two cores they compete.
    pub(crate) server_cpu_ms: f64,
    pub(crate) wrk_cpu_ms: f64,
}

fn wrk_duration_ms(value: &str) -> Option<f64> {
    let split = value.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse().ok()?;
    Some(match unit {
        "us" => number / 1000.0,
        "ms" => number,
        "s" => number * 1000.0,
        "m" => number * 60_000.0,
        _ => return None,
    })
}

/// Parses `wrk --latency` output.
fn parse_wrk(output: &str) -> Option<(f64, f64, f64)> {
    let mut rps = None;
    let mut p50 = None;
    let mut p99 = None;
    for line in output.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", value] => rps = value.parse().ok(),
            ["50%", value] => p50 = wrk_duration_ms(value),
            ["99%", value] => p99 = wrk_duration_ms(value),
            _ => {}
        }
    }
    Some((rps?, p50?, p99?))
}

/// Loads `url` with wrk (`threads`, `connections`) for `seconds`.
pub(crate) async fn load(
    server: &Drydock,
    url: &str,
    seconds: u64,
    (threads, connections): (u32, u32),
) -> anyhow::Result<Load> {
    let body_bytes = reqwest::get(url).await?.bytes().await?.len();
    let server_before = cpu_time(server.pid)?;
    let wrk_before = crate::cpu::waited_children_ms();
    // Browsers and the dashboards' HTTP clients all offer gzip.
    let output = Command::new("wrk")
        .args([
            &format!("-t{threads}"),
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "--latency",
        ])
        .args(["-H", "Accept-Encoding: gzip", url])
        .output()
        .await
        .context("running wrk (apt-get install wrk)")?;
    let server_cpu_ms = cpu_time(server.pid)?
        .saturating_sub(server_before)
        .as_secs_f64()
        * 1000.0;
    let wrk_cpu_ms = crate::cpu::waited_children_ms() - wrk_before;
    let text = String::from_utf8_lossy(&output.stdout);
    let (requests_per_second, p50_ms, p99_ms) =
        parse_wrk(&text).with_context(|| format!("unreadable wrk output:\n{text}"))?;
    if text.contains("Non-2xx") {
        bail!("wrk saw error answers:\n{text}");
    }
    Ok(Load {
        threads,
        connections,
        requests_per_second,
        p50_ms,
        p99_ms,
        body_bytes,
        server_cpu_ms,
        wrk_cpu_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_output_is_read_in_milliseconds() {
        let output = "  Latency Distribution\n     50%  512.00us\n     75%    1.20ms\n     \
                      90%    2.00ms\n     99%    8.51ms\n  12000 requests in 2.00s, 1.00GB read\n\
                      Requests/sec:   6000.50\nTransfer/sec:    500.00MB\n";
        assert_eq!(parse_wrk(output), Some((6000.5, 0.512, 8.51)));
        assert_eq!(wrk_duration_ms("1.5s"), Some(1500.0));
        assert_eq!(parse_wrk("Requests/sec: 1\n"), None);
    }

    #[test]
    fn this_process_has_memory_and_cpu_time() {
        let pid = std::process::id();
        assert!(status_kb(pid, "VmRSS:").is_ok_and(|kb| kb > 0));
        assert!(cpu_time(pid).is_ok());
    }
}
