//! A generated backup history with a known truth, so properties can compare
//! the chain rules with an oracle that never looks at positions.
//!
//! Log `i` covers `[times[i], times[i + 1]]`: binlog `first_file + i`, or
//! LSNs `[lsns[i], lsns[i + 1]]`. A FULL is consistent inside log `k`.

use proptest::prelude::*;
use proptest::sample::Index;

use super::*;

#[derive(Debug, Clone)]
pub struct FullSpec {
    pub log: usize,
    pub consistent: Millis,
    pub offset: u64,
    pub first_lsn: u128,
    pub last_lsn: u128,
    pub kept: bool,
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub engine: Engine,
    pub times: Vec<Millis>,
    pub lsns: Vec<u128>,
    pub first_file: u64,
    pub kept_logs: Vec<bool>,
    pub fulls: Vec<FullSpec>,
    pub duplicates: Vec<Index>,
}

pub fn log_id(i: usize) -> String {
    format!("log-{i}")
}

/// The log index encoded in a log id.
pub fn log_index(id: &str) -> usize {
    id.strip_prefix("log-").unwrap().parse().unwrap()
}

impl Scenario {
    /// The synced backups, with some exact duplicates, in generation order.
    pub fn backups(&self) -> Vec<ChainBackup> {
        let mut out = Vec::new();
        for (i, _) in self.kept_logs.iter().enumerate().filter(|(_, k)| **k) {
            out.push(self.log(i));
        }
        for (j, _) in self.fulls.iter().enumerate().filter(|(_, f)| f.kept) {
            out.push(self.full(j));
        }
        if !out.is_empty() {
            for d in &self.duplicates {
                out.push(d.get(&out).clone());
            }
        }
        out
    }

    /// FULL `j` as its backup record.
    pub fn full(&self, j: usize) -> ChainBackup {
        let f = &self.fulls[j];
        let position = match self.engine {
            Engine::Mysql => my_pos(self.first_file + f.log as u64, f.offset),
            Engine::Sqlserver => ss_pos(&f.first_lsn.to_string(), &f.last_lsn.to_string()),
        };
        backup(
            &format!("full-{j}"),
            BackupKind::Full,
            f.consistent - 7,
            f.consistent,
            position,
        )
    }

    /// Every backup the upstream made, synced or not: the inventory.
    pub fn history(&self) -> Vec<ChainBackup> {
        let logs = (0..self.kept_logs.len()).map(|i| self.log(i));
        let fulls = (0..self.fulls.len()).map(|j| self.full(j));
        logs.chain(fulls).collect()
    }

    /// Log `i` as its backup record.
    pub fn log(&self, i: usize) -> ChainBackup {
        let position = match self.engine {
            Engine::Mysql => my_pos(self.first_file + i as u64, 1 << 20),
            Engine::Sqlserver => ss_pos(&self.lsns[i].to_string(), &self.lsns[i + 1].to_string()),
        };
        backup(
            &log_id(i),
            BackupKind::Log,
            self.times[i],
            self.times[i + 1],
            position,
        )
    }

    /// `synced` plus every log that was never synced: the history once the
    /// missing logs arrive.
    pub fn filled(&self, synced: &[ChainBackup]) -> Vec<ChainBackup> {
        let missing = (0..self.kept_logs.len()).filter(|i| !self.kept_logs[*i]);
        synced
            .iter()
            .cloned()
            .chain(missing.map(|i| self.log(i)))
            .collect()
    }

    /// The end of the contiguous run of synced logs from log `k`, if log `k`
    /// itself is synced.
    fn run_end(&self, k: usize) -> Option<Millis> {
        let run = self.kept_logs[k..].iter().take_while(|k| **k).count();
        (run > 0).then(|| self.times[k + run])
    }

    /// Whether `t` is restorable, from the history alone.
    pub fn restorable(&self, t: Millis) -> bool {
        self.fulls.iter().filter(|f| f.kept).any(|f| {
            t == f.consistent
                || (f.consistent < t && self.run_end(f.log).is_some_and(|end| t <= end))
        })
    }

    pub fn earliest(&self) -> Option<Millis> {
        self.fulls
            .iter()
            .filter(|f| f.kept)
            .map(|f| f.consistent)
            .min()
    }

    pub fn latest(&self) -> Option<Millis> {
        let ends = self.fulls.iter().filter(|f| f.kept);
        ends.map(|f| {
            self.run_end(f.log)
                .unwrap_or(f.consistent)
                .max(f.consistent)
        })
        .max()
    }

    /// Every time worth probing: each boundary and its neighbours.
    pub fn probe_times(&self) -> Vec<Millis> {
        let mut ts: Vec<Millis> = self.times.clone();
        ts.extend(self.fulls.iter().map(|f| f.consistent));
        let mut out: Vec<Millis> = ts.iter().flat_map(|t| [t - 1, *t, t + 1]).collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// Times from a fixed epoch; LSNs from 1 (so they cross digit counts, "9" to
/// "10") or from 10^24 (so they reach 25 digits).
pub fn scenario(engine: Engine) -> impl Strategy<Value = (Scenario, Vec<ChainBackup>)> {
    (1usize..14)
        .prop_flat_map(move |n| {
            (
                prop::collection::vec(1i64..500, n),
                prop_oneof![Just(1u128), Just(10u128.pow(24))],
                prop::collection::vec(prop_oneof![1u64..20, 1u64..=u64::MAX], n),
                1u64..1000,
                prop::collection::vec(prop::bool::weighted(0.8), n),
                prop::collection::vec(
                    (0..n, any::<u64>(), any::<u64>(), prop::bool::weighted(0.85)),
                    1..5,
                ),
                prop::collection::vec(any::<Index>(), 0..4),
            )
        })
        .prop_map(
            move |(durations, lsn_base, lsn_steps, first_file, kept_logs, fulls, duplicates)| {
                let mut times = vec![1_700_000_000_000i64];
                for d in durations {
                    times.push(times[times.len() - 1] + d);
                }
                let mut lsns = vec![lsn_base];
                for s in lsn_steps {
                    lsns.push(lsns[lsns.len() - 1] + u128::from(s));
                }
                let fulls = fulls
                    .into_iter()
                    .map(|(log, a, b, kept)| {
                        let span = (times[log + 1] - times[log] + 1) as u64;
                        let last_lsn = lsns[log] + u128::from(b) % (lsns[log + 1] - lsns[log]);
                        FullSpec {
                            log,
                            consistent: times[log] + (a % span) as i64,
                            offset: a,
                            first_lsn: last_lsn.saturating_sub(u128::from(b % 1000)),
                            last_lsn,
                            kept,
                        }
                    })
                    .collect();
                Scenario {
                    engine,
                    times,
                    lsns,
                    first_file,
                    kept_logs,
                    fulls,
                    duplicates,
                }
            },
        )
        .prop_flat_map(|s| {
            let backups = s.backups();
            (Just(s), Just(backups).prop_shuffle())
        })
}
