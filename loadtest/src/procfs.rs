//! What /proc says about a process: resident memory and CPU time.

/// Clock ticks per second of `/proc/<pid>/stat` (USER_HZ, 100 on every Linux ABI we run on).
const USER_HZ: f64 = 100.0;

/// Resident set size of `pid` in bytes (`VmRSS`), if the process is readable.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vm_rss(&status)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// User plus system CPU seconds `pid` has used so far (all its threads).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_cpu(&stat)
}

/// CPU seconds of `pid` and its live children (PostgreSQL's backends are the postmaster's
/// children: its own time is a small part of the database's work).
pub fn cpu_seconds_with_children(pid: u32) -> Option<f64> {
    let own = cpu_seconds(pid)?;
    let children: f64 = std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&child| parent_of(child) == Some(pid))
        .filter_map(cpu_seconds)
        .sum();
    Some(own + children)
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // after the command name's closing parenthesis: state, then the parent's pid
    stat[stat.rfind(')')? + 1..].split_whitespace().nth(1)?.parse().ok()
}

fn parse_cpu(stat: &str) -> Option<f64> {
    // the command name may hold spaces: fields are counted after its closing parenthesis
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // after ')': state is field 3 of stat(5), so utime (14) and stime (15) are at 11 and 12
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

/// CPU seconds the whole machine has been busy (all cores, every process), from `/proc/stat`.
pub fn machine_busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    parse_busy(stat.lines().next()?)
}

fn parse_busy(cpu_line: &str) -> Option<f64> {
    // cpu user nice system idle iowait irq softirq steal ...
    let fields: Vec<f64> = cpu_line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    let busy = [0, 1, 2, 5, 6, 7].iter().filter_map(|&i| fields.get(i)).sum::<f64>();
    Some(busy / USER_HZ)
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_process_has_a_parent() {
        assert!(super::parent_of(std::process::id()).is_some());
        assert!(super::cpu_seconds_with_children(std::process::id()).is_some());
    }

    use super::*;

    #[test]
    fn reads_vm_rss() {
        let status = "Name:\therald\nVmPeak:\t  100 kB\nVmRSS:\t    2048 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss(status), Some(2048 * 1024));
    }

    #[test]
    fn reads_cpu_after_a_name_with_spaces() {
        let stat = "42 (my (odd) name) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0";
        assert_eq!(parse_cpu(stat), Some(3.0));
    }

    #[test]
    fn counts_busy_time_without_idle_and_iowait() {
        let line = "cpu  100 10 50 1000 40 5 5 30 0 0";
        assert_eq!(parse_busy(line), Some(2.0));
    }

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        assert!(rss_bytes(me).unwrap() > 0);
        assert!(cpu_seconds(me).is_some());
    }
}
