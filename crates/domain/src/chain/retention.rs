//! Which backups seeding copies and which retention may delete.

use std::collections::BTreeSet;

use super::inventory::{log_after_full, Entry, Inventory};
use super::walk::Chain;
use super::{ChainBackup, Millis};
use crate::engine::Engine;

/// The backups of `all` needed to seed a target: the newest FULL and every
/// LOG after it by position, contiguous or not (seeding copies everything;
/// the window reports the gaps). Ids in chain order, FULL first; empty when
/// there is no usable FULL.
pub fn seed_set(engine: Engine, all: &[ChainBackup]) -> Vec<String> {
    let inv = Inventory::new(engine, all);
    let Some(newest) = inv.chains.first() else {
        return Vec::new();
    };
    let mut ids = vec![newest.full.id.to_owned()];
    ids.extend(
        inv.logs
            .iter()
            .filter(|log| log_after_full(log.pos, newest.full.pos))
            .map(|log| log.id.to_owned()),
    );
    ids
}

/// The ids of `inventory` a service still needs copied, given the copies in
/// `synced`, in the order of `inventory`: the seed set, every FULL newer than
/// the newest synced FULL, and every LOG after the oldest synced FULL by
/// position (a LOG that failed or was lost is copied once it is found).
/// Never a backup before the oldest synced FULL by position: the LOG that
/// ends where a FULL starts, or one rotated during a long FULL, lies before
/// it even though its data end does not, and once retention expired such a
/// backup it must not be copied (and billed) again. Nor an older FULL that
/// is missing: a newer one already covers what it would.
pub fn pending(engine: Engine, inventory: &[ChainBackup], synced: &[ChainBackup]) -> Vec<String> {
    let inv = Inventory::new(engine, inventory);
    let have = Inventory::new(engine, synced);
    let seed = seed_set(engine, inventory);
    let mut want: BTreeSet<&str> = seed.iter().map(String::as_str).collect();
    if let (Some(newest), Some(oldest)) = (have.chains.first(), have.chains.last()) {
        let newer = |f: &Entry<'_>| (f.data_end, f.pos) > (newest.full.data_end, newest.full.pos);
        want.extend(
            inv.chains
                .iter()
                .map(|c| c.full)
                .filter(newer)
                .map(|f| f.id),
        );
        want.extend(
            inv.logs
                .iter()
                .filter(|l| log_after_full(l.pos, oldest.full.pos))
                .map(|l| l.id),
        );
    }
    let done: BTreeSet<&str> = synced.iter().map(|b| b.backup_id.as_str()).collect();
    let mut out: Vec<String> = Vec::new();
    let mut listed = BTreeSet::new();
    for b in inventory {
        let id = b.backup_id.as_str();
        if want.contains(id) && !done.contains(id) && listed.insert(id) {
            out.push(id.to_owned());
        }
    }
    out
}

/// The ids of `synced` that retention may delete at `cutoff` (now minus the
/// retention period), oldest first, so that every time at or after `cutoff`
/// that is restorable now stays restorable.
///
/// The anchor is the newest FULL consistent at or before `cutoff` (or the
/// oldest FULL if none is). Kept: the anchor, every newer FULL, every older
/// FULL that [`super::restore_plan`] would choose for some time at or after
/// `cutoff` (or for the latest data time point, when the whole window is
/// older than `cutoff`), the LOGs of all kept chains, and every LOG after the
/// anchor (a stranded log becomes useful once the missing one arrives).
/// Nothing whose data ends at or after `cutoff` is deleted. Without a usable
/// FULL nothing is deleted.
pub fn expirable(engine: Engine, synced: &[ChainBackup], cutoff: Millis) -> Vec<String> {
    let inv = Inventory::new(engine, synced);
    let (Some(anchor), Some(latest)) = (
        inv.chains
            .iter()
            .find(|c| c.start() <= cutoff)
            .or(inv.chains.last()),
        inv.latest(),
    ) else {
        return Vec::new();
    };
    // When the whole window is older than the cutoff, the chain reaching the
    // latest point is still the only way to restore it: keep it.
    let chosen = chosen_from(&inv.chains, cutoff.min(latest));
    let mut needed = BTreeSet::new();
    for chain in &inv.chains {
        if chain.start() >= anchor.start() || chosen.contains(chain.full.id) {
            needed.insert(chain.full.id);
            needed.extend(chain.logs.iter().map(|l| l.id));
        }
    }
    needed.insert(anchor.full.id);
    needed.extend(anchor.logs.iter().map(|l| l.id));

    let mut out: Vec<(Millis, &str)> = Vec::new();
    out.extend(
        inv.chains
            .iter()
            .map(|c| c.full)
            .filter(|f| !needed.contains(f.id) && f.data_end < cutoff)
            .map(|f| (f.data_end, f.id)),
    );
    out.extend(
        inv.logs
            .iter()
            .filter(|l| !needed.contains(l.id) && l.data_end < cutoff)
            .filter(|l| !log_after_full(l.pos, anchor.full.pos))
            .map(|l| (l.data_end, l.id)),
    );
    // Unusable backups are in no chain, so no plan needs them; age alone
    // decides.
    out.extend(
        inv.invalid
            .iter()
            .map(|b| b.backup)
            .filter(|b| b.data_end < cutoff && b.data_end < anchor.start())
            .map(|b| (b.data_end, b.backup_id.as_str())),
    );
    out.sort_unstable();
    out.into_iter().map(|(_, id)| id.to_owned()).collect()
}

/// The FULLs a restore plan picks for some time at or after `from`. Plans take
/// the newest chain reaching a time, so a chain is picked only where no newer
/// chain already reaches.
fn chosen_from<'a>(chains: &[Chain<'a>], from: Millis) -> BTreeSet<&'a str> {
    let mut chosen = BTreeSet::new();
    // Times reached by newer chains, as merged inclusive ranges.
    let mut covered: Vec<(Millis, Millis)> = Vec::new();
    for chain in chains {
        let (lo, hi) = (chain.start().max(from), chain.end);
        if lo > hi {
            continue;
        }
        if !covered.iter().any(|&(a, b)| a <= lo && hi <= b) {
            chosen.insert(chain.full.id);
        }
        covered.push((lo, hi));
        covered = merge(covered);
    }
    chosen
}

/// Merges inclusive integer ranges, joining ranges that touch.
fn merge(mut ranges: Vec<(Millis, Millis)>) -> Vec<(Millis, Millis)> {
    ranges.sort_unstable();
    let mut out: Vec<(Millis, Millis)> = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        match out.last_mut() {
            Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}
