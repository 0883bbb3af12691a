//! Walking a chain: from one FULL, the contiguous LOGs that follow it.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use super::inventory::Entry;
use super::position::Pos;
use super::{Millis, RestorePlan};

/// What a chain would need next; a chain stops because that is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    Binlog(u64),
    AfterLsn(u128),
    /// Binlog numbers ran out (`u64::MAX` reached); nothing can follow.
    Exhausted,
}

impl Next {
    pub fn reason(self) -> String {
        match self {
            Next::Binlog(n) => format!("missing binlog {n}"),
            Next::AfterLsn(lsn) => format!("missing log after lsn {lsn}"),
            Next::Exhausted => "binlog numbers exhausted".to_owned(),
        }
    }
}

/// A FULL and the contiguous LOGs after it, in the order they are applied.
#[derive(Debug, Clone)]
pub(super) struct Chain<'a> {
    pub full: Entry<'a>,
    pub logs: Vec<Entry<'a>>,
    /// Latest restorable time: the FULL's consistent time or a later log end.
    pub end: Millis,
    pub next: Next,
}

impl Chain<'_> {
    /// The FULL's consistent time: nothing earlier is restorable from it.
    pub fn start(&self) -> Millis {
        self.full.data_end
    }

    pub fn reaches(&self, t: Millis) -> bool {
        self.start() <= t && t <= self.end
    }

    /// The plan to `t`; callers check `reaches(t)` first. Logs are applied up
    /// to the first that ends at or after `t`; at the FULL's own consistent
    /// time no log is needed.
    pub fn plan_to(&self, t: Millis) -> RestorePlan {
        let mut log_backup_ids = Vec::new();
        if t != self.start() {
            for log in &self.logs {
                log_backup_ids.push(log.id.to_owned());
                if log.data_end >= t {
                    break;
                }
            }
        }
        RestorePlan {
            full_backup_id: self.full.id.to_owned(),
            log_backup_ids,
            stop_at: t,
        }
    }
}

/// LOGs indexed by the position a chain looks them up by.
#[derive(Debug, Default)]
pub(super) struct LogIndex<'a> {
    /// One log per binlog file; duplicates keep the longest-reaching one.
    by_file: BTreeMap<u64, Entry<'a>>,
    /// SQL Server logs by first LSN, with their last LSN. Logs covering no
    /// LSN (first == last) are left out: they hold no log records, skipping
    /// them never breaks contiguity, and a walk must always move forward.
    by_first_lsn: BTreeMap<u128, Vec<(u128, Entry<'a>)>>,
    max_last_lsn: Option<u128>,
}

impl<'a> LogIndex<'a> {
    pub fn new(logs: &[Entry<'a>]) -> Self {
        let mut index = LogIndex::default();
        for &log in logs {
            match log.pos {
                Pos::Mysql { file, .. } => {
                    let kept = index.by_file.entry(file).or_insert(log);
                    if mysql_rank(&log) > mysql_rank(kept) {
                        *kept = log;
                    }
                }
                Pos::Sqlserver { first, last } if first < last => {
                    index
                        .by_first_lsn
                        .entry(first)
                        .or_default()
                        .push((last, log));
                    index.max_last_lsn = index.max_last_lsn.max(Some(last));
                }
                Pos::Sqlserver { .. } => {}
            }
        }
        index
    }

    pub fn chain_from(&self, full: Entry<'a>) -> Chain<'a> {
        let (logs, next) = match full.pos {
            Pos::Mysql { file, .. } => self.walk_binlogs(file),
            Pos::Sqlserver { last, .. } => self.walk_lsns(last),
        };
        let end = logs
            .iter()
            .map(|l| l.data_end)
            .fold(full.data_end, Millis::max);
        Chain {
            full,
            logs,
            end,
            next,
        }
    }

    /// Whether some log lies beyond what a chain stopped at, i.e. the chain
    /// stopped at a hole rather than at the newest log.
    pub fn has_beyond(&self, next: Next) -> bool {
        match next {
            Next::Binlog(n) => self.by_file.range(n..).next().is_some(),
            Next::AfterLsn(lsn) => self.max_last_lsn.is_some_and(|m| m > lsn),
            Next::Exhausted => false,
        }
    }

    /// The binlogs after `n`, in order, each with its end.
    pub fn binlogs_after(&self, n: u64) -> Vec<super::tail::Beyond> {
        self.by_file
            .range((std::ops::Bound::Excluded(n), std::ops::Bound::Unbounded))
            .map(|(&file, log)| super::tail::Beyond {
                file,
                data_end: log.data_end,
            })
            .collect()
    }

    /// The largest last LSN of the SQL Server logs a chain can use.
    pub fn max_last_lsn(&self) -> Option<u128> {
        self.max_last_lsn
    }

    /// The FULL's own binlog (it holds the consistent point), then N+1, ...
    fn walk_binlogs(&self, first_file: u64) -> (Vec<Entry<'a>>, Next) {
        let mut logs = Vec::new();
        let mut want = first_file;
        loop {
            let Some(log) = self.by_file.get(&want) else {
                return (logs, Next::Binlog(want));
            };
            logs.push(*log);
            want = match want.checked_add(1) {
                Some(n) => n,
                None => return (logs, Next::Exhausted),
            };
        }
    }

    /// First log: `first_lsn <= full.last_lsn < last_lsn`; then each log
    /// starts where the previous ended. LSNs strictly grow, so this ends.
    fn walk_lsns(&self, full_last: u128) -> (Vec<Entry<'a>>, Next) {
        let mut logs = Vec::new();
        let mut step = self
            .by_first_lsn
            .range(..=full_last)
            .flat_map(|(_, logs)| logs.iter())
            .filter(|(last, _)| *last > full_last)
            .max_by_key(|c| sql_rank(c))
            .copied();
        let mut at = full_last;
        while let Some((last, log)) = step {
            logs.push(log);
            at = last;
            step = self
                .by_first_lsn
                .get(&at)
                .and_then(|c| c.iter().max_by_key(|c| sql_rank(c)))
                .copied();
        }
        (logs, Next::AfterLsn(at))
    }
}

/// Among logs for the same binlog file, prefer the one reaching later; ties
/// go to the smallest id so the choice never depends on input order.
fn mysql_rank<'e>(log: &Entry<'e>) -> (Millis, Reverse<&'e str>) {
    (log.data_end, Reverse(log.id))
}

/// Among candidate next logs, prefer the one reaching furthest.
fn sql_rank<'e>((last, log): &(u128, Entry<'e>)) -> (u128, Millis, Reverse<&'e str>) {
    (*last, log.data_end, Reverse(log.id))
}
