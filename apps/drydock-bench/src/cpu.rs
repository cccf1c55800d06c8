//! Where the machine's CPU time goes during a measurement: every process's user + system time
//! by command name, and the machine's busy share, from `/proc`. On a two-core machine the watch
//! cycle shares the cores with the registry, the engine and the proxy; this says how much each
//! took, so a slow cycle can be put down to the right process.

use std::collections::HashMap;

use serde::Serialize;

/// Clock ticks per second, asked of `getconf` once: `cpu_time` runs around every cycle.
pub(crate) fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(ask_clock_ticks)
}

fn ask_clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|t| *t > 0)
        .unwrap_or(100)
}

/// Every process's command name and CPU ticks by pid, and the machine's busy and total ticks.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    by_pid: HashMap<u32, (String, u64)>,
    busy: u64,
    total: u64,
}

/// One command's share of a measured interval.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct CommandCpu {
    pub(crate) command: String,
    pub(crate) cpu_ms: f64,
}

/// CPU use over an interval.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct Usage {
    /// The commands that used the most CPU, most first.
    pub(crate) top: Vec<CommandCpu>,
    /// Busy share of all cores over the interval, 0 to 100.
    pub(crate) machine_busy_percent: f64,
}

/// Reads every process's and the machine's CPU time now. Processes that end before the next
/// snapshot drop out, so short-lived helpers are not counted.
pub(crate) fn snapshot() -> Snapshot {
    let mut by_pid = HashMap::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(process) = process_ticks(pid) {
                by_pid.insert(pid, process);
            }
        }
    }
    let (busy, total) = machine_ticks().unwrap_or_default();
    Snapshot {
        by_pid,
        busy,
        total,
    }
}

/// What changed since `before`, keeping the `keep` busiest commands.
pub(crate) fn since(before: &Snapshot, keep: usize) -> Usage {
    let now = snapshot();
    let ms_per_tick = 1000.0 / clock_ticks() as f64;
    // By pid, then summed by command: a kernel worker renames itself after the work it does, so
    // names alone would count a renamed worker's whole life as used in the interval.
    let mut by_command: HashMap<&str, u64> = HashMap::new();
    for (pid, (command, ticks)) in &now.by_pid {
        let earlier = before.by_pid.get(pid).map_or(0, |(_, t)| *t);
        *by_command.entry(family(command)).or_default() += ticks.saturating_sub(earlier);
    }
    let mut top: Vec<CommandCpu> = by_command
        .into_iter()
        .filter(|(_, used)| *used > 0)
        .map(|(command, used)| CommandCpu {
            command: command.to_owned(),
            cpu_ms: used as f64 * ms_per_tick,
        })
        .collect();
    top.sort_by(|a, b| b.cpu_ms.total_cmp(&a.cpu_ms));
    top.truncate(keep);
    let total = now.total.saturating_sub(before.total);
    let busy = now.busy.saturating_sub(before.busy);
    Usage {
        top,
        machine_busy_percent: if total == 0 {
            0.0
        } else {
            busy as f64 * 100.0 / total as f64
        },
    }
}

/// CPU time of this process's children that have ended and been waited for (`wrk`), in ms.
pub(crate) fn waited_children_ms() -> f64 {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            let (_, fields) = split_stat(&stat)?;
            // cutime and cstime are fields 16 and 17 of proc(5).
            Some(ticks_at(&fields, 13)? + ticks_at(&fields, 14)?)
        })
        .unwrap_or(0);
    ticks as f64 * 1000.0 / clock_ticks() as f64
}

/// Kernel workers (`kworker/1:0-events`) counted as one.
fn family(command: &str) -> &str {
    if command.starts_with("kworker/") {
        "kworker"
    } else {
        command
    }
}

/// A process's command name and user + system ticks, from `/proc/<pid>/stat`.
pub(crate) fn process_ticks(pid: u32) -> Option<(String, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat)
}

fn parse_stat(stat: &str) -> Option<(String, u64)> {
    let (command, fields) = split_stat(stat)?;
    // utime and stime are fields 14 and 15 of proc(5).
    Some((
        command.to_owned(),
        ticks_at(&fields, 11)? + ticks_at(&fields, 12)?,
    ))
}

/// A stat line's command name (which may hold spaces and parentheses) and the fields after it,
/// the first being field 3 of proc(5).
fn split_stat(stat: &str) -> Option<(&str, Vec<&str>)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let command = stat.get(open + 1..close)?;
    Some((command, stat.get(close + 1..)?.split_whitespace().collect()))
}

fn ticks_at(fields: &[&str], index: usize) -> Option<u64> {
    fields.get(index)?.parse().ok()
}

/// The machine's busy and total ticks over all cores, from the first line of `/proc/stat`.
fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    parse_machine(stat.lines().next()?)
}

fn parse_machine(line: &str) -> Option<(u64, u64)> {
    let values: Vec<u64> = line
        .strip_prefix("cpu ")?
        .split_whitespace()
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice, already in user/nice]
    let total: u64 = values.iter().take(8).sum();
    let idle = values.get(3)? + values.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_with_spaces_and_parentheses_is_read_whole() {
        let stat = "42 (tokio (runtime) 1) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 2";
        assert_eq!(parse_stat(stat), Some(("tokio (runtime) 1".to_owned(), 10)));
    }

    #[test]
    fn the_machine_line_counts_idle_and_iowait_as_not_busy() {
        let line = "cpu  100 5 50 800 40 1 4 0 0 0";
        assert_eq!(parse_machine(line), Some((160, 1000)));
    }

    #[test]
    fn work_done_in_this_process_shows_under_its_command() {
        let before = snapshot();
        let mut x = 0u64;
        let started = std::time::Instant::now();
        while started.elapsed() < std::time::Duration::from_millis(120) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let usage = since(&before, 50);
        let me = std::fs::read_to_string("/proc/self/comm").unwrap();
        let mine = usage
            .top
            .iter()
            .find(|c| c.command == me.trim())
            .map_or(0.0, |c| c.cpu_ms);
        assert!(mine >= 50.0, "{usage:?}");
        assert!(usage.machine_busy_percent > 0.0, "{usage:?}");
    }
}
