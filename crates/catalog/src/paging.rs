//! Page sizes and page tokens of every paged answer; the internal ones
//! (LiveServices, PendingBackups) must stay under NATS' max_payload
//! whatever the fleet's size. A token is its listing's prefix and the
//! position after which the next page starts: the last item returned, so
//! pages stay stable while items are added (synced copies, filtered in
//! memory, use an offset). A token this server did not issue for that
//! listing is refused.

use std::marker::PhantomData;

use xregion_domain::DomainError;

use crate::error::{CatalogError, Result};

pub const MAX_PAGE: usize = 1000;

/// `0` means the method's default page; above [`MAX_PAGE`] means
/// [`MAX_PAGE`] (AIP-158: a page may hold fewer items than asked for).
pub fn page_size(requested: u32, default: usize) -> usize {
    match requested as usize {
        0 => default,
        n => n.min(MAX_PAGE),
    }
}

/// Where a page starts, as written after its listing's prefix.
pub trait Position: Sized {
    fn write(&self) -> String;
    fn read(text: &str) -> Option<Self>;
}

/// A sequence number: never negative.
impl Position for i64 {
    fn write(&self) -> String {
        self.to_string()
    }
    fn read(text: &str) -> Option<Self> {
        text.parse().ok().filter(|n| *n >= 0)
    }
}

/// An offset.
impl Position for usize {
    fn write(&self) -> String {
        self.to_string()
    }
    fn read(text: &str) -> Option<Self> {
        text.parse().ok()
    }
}

/// A pending backup's place in (data end, backup id) order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupPosition {
    pub data_end: i64,
    pub backup_id: String,
}

impl BackupPosition {
    /// Whether the backup comes after this position.
    pub fn precedes(&self, data_end: i64, backup_id: &str) -> bool {
        (data_end, backup_id) > (self.data_end, self.backup_id.as_str())
    }
}

impl Position for BackupPosition {
    fn write(&self) -> String {
        format!("{}.{}", self.data_end, self.backup_id)
    }
    fn read(text: &str) -> Option<Self> {
        // Backup ids never contain a dot (id grammar); a negative time may
        // start with '-'.
        let (end, id) = text.split_once('.')?;
        Some(Self {
            data_end: end.parse().ok()?,
            backup_id: xregion_domain::ids::is_valid_id(id).then(|| id.to_string())?,
        })
    }
}

/// The page tokens of one listing.
#[derive(Debug)]
pub struct PageToken<P> {
    prefix: &'static str,
    position: PhantomData<fn() -> P>,
}

/// ListSyncServices, in `seq` order.
pub const SERVICES: PageToken<i64> = PageToken::new("p1.");
/// LiveServices, in `seq` order.
pub const LIVE_SERVICES: PageToken<i64> = PageToken::new("l1.");
/// PendingBackups, in (data end, backup id) order.
pub const PENDING_BACKUPS: PageToken<BackupPosition> = PageToken::new("b1.");
/// ListSyncedBackups: an offset into the filtered copies.
pub const SYNCED_BACKUPS: PageToken<usize> = PageToken::new("o1.");

impl<P: Position> PageToken<P> {
    const fn new(prefix: &'static str) -> Self {
        Self {
            prefix,
            position: PhantomData,
        }
    }

    pub fn token(&self, at: &P) -> String {
        format!("{}{}", self.prefix, at.write())
    }

    /// Where the page of `token` starts; `None` for the first page (no
    /// token).
    pub fn parse(&self, token: &str) -> Result<Option<P>> {
        if token.is_empty() {
            return Ok(None);
        }
        token
            .strip_prefix(self.prefix)
            .and_then(P::read)
            .map(Some)
            .ok_or_else(bad_token)
    }

    /// Cuts `items`, read with one more than `limit`, to the page; the
    /// token names the page's last item, or is empty when nothing follows.
    pub fn page<T>(
        &self,
        mut items: Vec<T>,
        limit: usize,
        position: impl Fn(&T) -> P,
    ) -> (Vec<T>, String) {
        if items.len() <= limit {
            return (items, String::new());
        }
        items.truncate(limit);
        let next = items
            .last()
            .map(|last| self.token(&position(last)))
            .unwrap_or_default();
        (items, next)
    }
}

fn bad_token() -> CatalogError {
    DomainError::invalid("page_token", "not a token this server issued").into()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_foreign_ones_are_refused() {
        assert_eq!(LIVE_SERVICES.parse("").unwrap(), None);
        assert_eq!(
            LIVE_SERVICES.parse(&LIVE_SERVICES.token(&42)).unwrap(),
            Some(42)
        );
        for bad in ["42", "l1.-1", "l1.x", "p1.3", "b1.3.x"] {
            assert!(LIVE_SERVICES.parse(bad).is_err(), "{bad}");
        }
        let at = |data_end: i64, id: &str| BackupPosition {
            data_end,
            backup_id: id.into(),
        };
        let after = PENDING_BACKUPS
            .parse(&PENDING_BACKUPS.token(&at(-5, "b-1")))
            .unwrap()
            .unwrap();
        assert!(!after.precedes(-5, "b-1"));
        assert!(after.precedes(-5, "b-2"));
        assert!(after.precedes(0, "a"));
        assert!(!after.precedes(-6, "z"));
        assert_eq!(PENDING_BACKUPS.parse("").unwrap(), None);
        for bad in ["b1.", "b1.x.b", "b1.3", "b1.3.a/b", "l1.3", "b2.3.b"] {
            assert!(PENDING_BACKUPS.parse(bad).is_err(), "{bad}");
        }
        assert_eq!(SERVICES.parse("").unwrap(), None);
        assert_eq!(SERVICES.parse("p1.42").unwrap(), Some(42));
        for bad in ["42", "p1.-3", "l1.42"] {
            assert!(SERVICES.parse(bad).is_err(), "{bad}");
        }
        assert_eq!(SYNCED_BACKUPS.parse("o1.7").unwrap(), Some(7));
        for bad in ["7", "o1.-1", "p1.7"] {
            assert!(SYNCED_BACKUPS.parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_page_has_a_token_only_when_more_follows() {
        let (page, next) = SERVICES.page(vec![1, 2, 3], 2, |n| *n * 10);
        assert_eq!((page, next.as_str()), (vec![1, 2], "p1.20"));
        let (page, next) = SERVICES.page(vec![1, 2], 2, |n| *n * 10);
        assert_eq!((page, next.as_str()), (vec![1, 2], ""));
    }

    #[test]
    fn page_sizes_are_bounded() {
        assert_eq!(page_size(0, 200), 200);
        assert_eq!(page_size(1000, 200), 1000);
        assert_eq!(page_size(1001, 200), 1000);
        assert_eq!(page_size(u32::MAX, 200), 1000);
    }
}
