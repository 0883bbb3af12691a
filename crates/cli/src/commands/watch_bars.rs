//! `watch` on a terminal: one indicatif bar per active transfer (bytes,
//! rate and ETA as the worker measured them), event lines printed above the
//! bars. Not on a terminal, `watch_view::Bars` prints as before, so scripts
//! and tests that read the plain output see the same bytes.
//!
//! [`Model`] is the pure part (events to bar states), tested without a
//! terminal; [`TtyBars`] only draws what it says.

use std::collections::BTreeMap;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use xregion_proto::xregion::v1::watch_event::Event;

use super::watch_view::Bars;
use crate::render::bytes;

/// One transfer's bar as the last progress event described it.
#[derive(Debug, Clone, PartialEq)]
pub struct BarState {
    pub done: u64,
    pub total: u64,
    pub rate: u64,
    /// Unknown while the worker reports no rate.
    pub eta: Option<Duration>,
}

#[derive(Debug, PartialEq)]
pub enum Change {
    /// Show (or update) the bar of a backup.
    Set(String, BarState),
    /// The transfer ended (synced, failed, or reported done): remove it.
    Finish(String),
}

/// The active transfers, by backup id.
#[derive(Debug, Default)]
pub struct Model {
    bars: BTreeMap<String, BarState>,
}

impl Model {
    pub fn apply(&mut self, event: &Event) -> Option<Change> {
        let ended = match event {
            Event::Progress(p) if !p.done => {
                let state = BarState {
                    done: p.bytes_done.min(p.bytes_total),
                    total: p.bytes_total,
                    rate: p.rate_bytes_per_sec,
                    eta: (p.rate_bytes_per_sec > 0).then(|| {
                        Duration::from_secs(
                            p.bytes_total.saturating_sub(p.bytes_done) / p.rate_bytes_per_sec,
                        )
                    }),
                };
                self.bars.insert(p.backup_id.clone(), state.clone());
                return Some(Change::Set(p.backup_id.clone(), state));
            }
            Event::Progress(p) => p.backup_id.clone(),
            Event::Synced(s) => s
                .backup
                .as_ref()
                .map(|b| b.backup_id.clone())
                .unwrap_or_default(),
            Event::Failed(f) => f.backup_id.clone(),
            _ => return None,
        };
        self.bars.remove(&ended).map(|_| Change::Finish(ended))
    }

    #[cfg(test)]
    fn active(&self) -> usize {
        self.bars.len()
    }
}

pub struct TtyBars {
    multi: MultiProgress,
    model: Model,
    shown: BTreeMap<String, ProgressBar>,
    lines: Bars,
}

impl TtyBars {
    pub fn new() -> Self {
        Self {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stdout()),
            model: Model::default(),
            shown: BTreeMap::new(),
            lines: Bars::default(),
        }
    }

    pub fn show(&mut self, event: Event) {
        match self.model.apply(&event) {
            Some(Change::Set(id, state)) => {
                let multi = &self.multi;
                let bar = self
                    .shown
                    .entry(id.clone())
                    .or_insert_with(|| multi.add(new_bar(&id)));
                bar.set_length(state.total);
                bar.set_position(state.done);
                let eta = state
                    .eta
                    .map_or_else(|| "?".to_string(), |d| format!("{}s", d.as_secs()));
                bar.set_message(format!("{}/s  eta {eta}", bytes(state.rate)));
            }
            Some(Change::Finish(id)) => {
                if let Some(bar) = self.shown.remove(&id) {
                    bar.finish_and_clear();
                    self.multi.remove(&bar);
                }
            }
            None => {}
        }
        // Event lines as the plain view words them, with the bars lifted
        // out of the way while they print.
        if !matches!(event, Event::Progress(_)) {
            let lines = &mut self.lines;
            self.multi.suspend(|| lines.show(event));
        }
    }
}

fn new_bar(id: &str) -> ProgressBar {
    let style = ProgressStyle::with_template("{prefix}  [{bar:20}] {bytes}/{total_bytes}  {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("#>.");
    ProgressBar::hidden()
        .with_style(style)
        .with_prefix(id.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use xregion_proto::xregion::v1 as pb;

    use super::*;

    fn progress(id: &str, done: u64, total: u64, rate: u64, finished: bool) -> Event {
        Event::Progress(pb::TransferProgress {
            backup_id: id.into(),
            bytes_done: done,
            bytes_total: total,
            rate_bytes_per_sec: rate,
            done: finished,
            ..Default::default()
        })
    }

    #[test]
    fn several_transfers_are_several_bars_with_rate_and_eta() {
        let mut m = Model::default();
        let a = m.apply(&progress("full-1", 4 << 20, 16 << 20, 2 << 20, false));
        assert_eq!(
            a,
            Some(Change::Set(
                "full-1".into(),
                BarState {
                    done: 4 << 20,
                    total: 16 << 20,
                    rate: 2 << 20,
                    eta: Some(Duration::from_secs(6)),
                }
            ))
        );
        let b = m.apply(&progress("log-7", 0, 1 << 20, 0, false));
        assert!(
            matches!(b, Some(Change::Set(ref id, BarState { eta: None, .. })) if id == "log-7")
        );
        assert_eq!(m.active(), 2);
        // An update replaces the bar, it does not add one.
        m.apply(&progress("full-1", 8 << 20, 16 << 20, 2 << 20, false));
        assert_eq!(m.active(), 2);
    }

    #[test]
    fn a_transfer_ends_by_done_progress_synced_or_failed() {
        let mut m = Model::default();
        for id in ["a", "b", "c"] {
            m.apply(&progress(id, 1, 2, 1, false));
        }
        assert_eq!(
            m.apply(&progress("a", 2, 2, 1, true)),
            Some(Change::Finish("a".into()))
        );
        let synced = Event::Synced(pb::BackupSynced {
            backup: Some(xregion_proto::rds::v1::BackupDescriptor {
                backup_id: "b".into(),
                ..Default::default()
            }),
            ..Default::default()
        });
        assert_eq!(m.apply(&synced), Some(Change::Finish("b".into())));
        let failed = Event::Failed(pb::BackupSyncFailed {
            backup_id: "c".into(),
            ..Default::default()
        });
        assert_eq!(m.apply(&failed), Some(Change::Finish("c".into())));
        assert_eq!(m.active(), 0);
        // An end of a transfer never shown, or any other event: nothing.
        assert_eq!(m.apply(&failed), None);
        let state = Event::StateChanged(pb::ServiceStateChanged::default());
        assert_eq!(m.apply(&state), None);
    }
}
