//! The whole machine's CPU over a measured window, from `/proc/stat`: on a small shared
//! host the server, the load generator and the kernel's work for both (loopback TCP, disk
//! writes) compete for the same cores, so how busy all of them are together says whether
//! a run was bound by the CPU, and the CPU per request compares builds on a host whose
//! speed drifts.

use anyhow::Context;

/// Cumulative time of all CPUs, in clock ticks, from the first (`cpu `) line of
/// `/proc/stat`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTimes {
    /// user and nice.
    pub user: u64,
    /// system, irq and softirq: the kernel's work, for any process or none.
    pub system: u64,
    pub idle: u64,
    pub iowait: u64,
    /// Time the hypervisor gave this machine's CPUs to others.
    pub steal: u64,
}

impl CpuTimes {
    /// Read the machine's times now.
    pub fn now() -> anyhow::Result<CpuTimes> {
        let stat = std::fs::read_to_string("/proc/stat").context("cannot read /proc/stat")?;
        CpuTimes::parse(&stat)
    }

    /// Parse the aggregate `cpu` line of `/proc/stat` (proc(5)): user nice system idle
    /// iowait irq softirq steal, then guest times, which `user` already counts.
    pub fn parse(stat: &str) -> anyhow::Result<CpuTimes> {
        let line = stat
            .lines()
            .find(|line| line.starts_with("cpu "))
            .context("no aggregate cpu line in /proc/stat")?;
        let fields = line
            .split_whitespace()
            .skip(1)
            .map(str::parse::<u64>)
            .collect::<Result<Vec<_>, _>>()
            .context("a cpu field is not a number")?;
        if fields.len() < 4 {
            anyhow::bail!(
                "the cpu line has {} fields, expected at least 4",
                fields.len()
            );
        }
        // Kernels before 2.6.11 have no steal, before 2.6 no iowait: read as zero.
        let field = |index: usize| fields.get(index).copied().unwrap_or(0);
        Ok(CpuTimes {
            user: field(0) + field(1),
            system: field(2) + field(5) + field(6),
            idle: field(3),
            iowait: field(4),
            steal: field(7),
        })
    }

    /// What was spent between `self` (earlier) and `later`.
    pub fn until(self, later: CpuTimes) -> CpuTimes {
        CpuTimes {
            user: later.user.saturating_sub(self.user),
            system: later.system.saturating_sub(self.system),
            idle: later.idle.saturating_sub(self.idle),
            iowait: later.iowait.saturating_sub(self.iowait),
            steal: later.steal.saturating_sub(self.steal),
        }
    }

    fn total(self) -> u64 {
        self.user + self.system + self.idle + self.iowait + self.steal
    }

    /// Shares of the window's total, in percent.
    pub fn shares(self) -> Option<CpuShares> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let percent = |ticks: u64| ticks as f64 * 100.0 / total as f64;
        Some(CpuShares {
            busy: percent(self.user + self.system),
            user: percent(self.user),
            system: percent(self.system),
            iowait: percent(self.iowait),
            steal: percent(self.steal),
        })
    }

    /// CPU seconds spent running anything (user and kernel), of all CPUs together.
    pub fn busy_seconds(self, ticks_per_second: f64) -> f64 {
        (self.user + self.system) as f64 / ticks_per_second
    }
}

/// A window's CPU time as percentages of all CPUs' time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuShares {
    pub busy: f64,
    pub user: f64,
    pub system: f64,
    pub iowait: f64,
    pub steal: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "cpu  1000 10 300 5000 40 5 15 7 0 0\n\
                        cpu0 500 5 150 2500 20 2 8 3 0 0\n\
                        intr 12345\n";

    #[test]
    fn the_aggregate_line_is_read_and_kernel_times_are_summed() {
        let times = CpuTimes::parse(STAT).unwrap();
        assert_eq!(
            times,
            CpuTimes {
                user: 1010,
                system: 320,
                idle: 5000,
                iowait: 40,
                steal: 7,
            }
        );
    }

    #[test]
    fn a_window_is_the_difference_and_its_shares_add_up() {
        let start = CpuTimes::parse(STAT).unwrap();
        let end = CpuTimes {
            user: start.user + 50,
            system: start.system + 25,
            idle: start.idle + 20,
            iowait: start.iowait + 5,
            steal: start.steal,
        };
        let window = start.until(end);
        let shares = window.shares().unwrap();
        assert_eq!(shares.busy, 75.0);
        assert_eq!(
            (shares.user, shares.system, shares.iowait),
            (50.0, 25.0, 5.0)
        );
        assert_eq!(shares.steal, 0.0);
        assert_eq!(window.busy_seconds(100.0), 0.75);
    }

    #[test]
    fn an_empty_window_has_no_shares() {
        let times = CpuTimes::parse(STAT).unwrap();
        assert_eq!(times.until(times).shares(), None);
    }

    #[test]
    fn a_malformed_file_is_an_error() {
        assert!(CpuTimes::parse("intr 1\n").is_err());
        assert!(CpuTimes::parse("cpu  1 2 x 4\n").is_err());
        assert!(CpuTimes::parse("cpu  1 2\n").is_err());
    }

    #[test]
    fn this_machine_can_be_read() {
        let times = CpuTimes::now().unwrap();
        assert!(times.total() > 0, "{times:?}");
    }
}
