//! Page sizes and page tokens of every paged answer; the internal ones
//! (LiveServices, PendingBackups) must stay under NATS' max_payload
//! whatever the fleet's size.
//!
//! A token is opaque (AIP-158): base64url of a versioned record holding its
//! listing, a hash of what the request was bound to (the tenant and every
//! filter field, [`Binding`]), the position after which the next page
//! starts (the last item returned, so pages stay stable while items are
//! added) and a check over all of it. A token from another listing, another
//! filter or tenant, an edited or a made-up one is refused as an invalid
//! `page_token`. The check is tamper evidence, not a secret: every page is
//! still read with the caller's tenant.

use std::marker::PhantomData;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use xregion_domain::DomainError;

use crate::error::{CatalogError, Result};

pub const MAX_PAGE: usize = 1000;

/// Bumped when the record's layout changes; older tokens are then refused.
const VERSION: u8 = 1;
/// Bytes of the binding hash and of the check.
const HASH: usize = 8;
/// Fixed part of a record: version, listing, binding; the check follows the
/// position.
const HEAD: usize = 2 + HASH;

/// `0` means the method's default page; above [`MAX_PAGE`] means
/// [`MAX_PAGE`] (AIP-158: a page may hold fewer items than asked for).
pub fn page_size(requested: u32, default: usize) -> usize {
    match requested as usize {
        0 => default,
        n => n.min(MAX_PAGE),
    }
}

/// What a listing's tokens are bound to: the caller's tenant and the
/// request's fields other than the page size and token (AIP-158: they must
/// match from page to page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding([u8; HASH]);

impl Binding {
    pub fn of(parts: &[&str]) -> Self {
        let mut h = Sha256::new();
        for part in parts {
            // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        Self(prefix(&h.finalize()))
    }
}

fn prefix(digest: &[u8]) -> [u8; HASH] {
    let mut out = [0u8; HASH];
    out.copy_from_slice(&digest[..HASH]);
    out
}

fn check(record: &[u8]) -> [u8; HASH] {
    prefix(
        &Sha256::new_with_prefix(b"xregion page token\0")
            .chain_update(record)
            .finalize(),
    )
}

/// Where a page starts, as written in the token.
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

/// A backup's place in (data end, backup id) order.
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
    listing: u8,
    position: PhantomData<fn() -> P>,
}

/// ListSyncServices, in `seq` order.
pub const SERVICES: PageToken<i64> = PageToken::new(b'p');
/// LiveServices, in `seq` order.
pub const LIVE_SERVICES: PageToken<i64> = PageToken::new(b'l');
/// PendingBackups, in (data end, backup id) order.
pub const PENDING_BACKUPS: PageToken<BackupPosition> = PageToken::new(b'b');
/// ListSyncedBackups, in (data end, backup id) order.
pub const SYNCED_BACKUPS: PageToken<BackupPosition> = PageToken::new(b'o');

impl<P: Position> PageToken<P> {
    const fn new(listing: u8) -> Self {
        Self {
            listing,
            position: PhantomData,
        }
    }

    pub fn token(&self, bound: &Binding, at: &P) -> String {
        let mut record = vec![VERSION, self.listing];
        record.extend_from_slice(&bound.0);
        record.extend_from_slice(at.write().as_bytes());
        let sum = check(&record);
        record.extend_from_slice(&sum);
        URL_SAFE_NO_PAD.encode(record)
    }

    /// Where the page of `token` starts; `None` for the first page (no
    /// token).
    pub fn parse(&self, bound: &Binding, token: &str) -> Result<Option<P>> {
        if token.is_empty() {
            return Ok(None);
        }
        let record = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| bad_token("not a token this server issued"))?;
        if record.len() < HEAD + HASH {
            return Err(bad_token("not a token this server issued"));
        }
        let (body, sum) = record.split_at(record.len() - HASH);
        if check(body) != sum || body[0] != VERSION || body[1] != self.listing {
            return Err(bad_token("not a token this server issued"));
        }
        if body[2..HEAD] != bound.0 {
            return Err(bad_token(
                "issued for another request: keep every other field as on the first page",
            ));
        }
        std::str::from_utf8(&body[HEAD..])
            .ok()
            .and_then(P::read)
            .map(Some)
            .ok_or_else(|| bad_token("not a token this server issued"))
    }

    /// Cuts `items`, read with one more than `limit`, to the page; the
    /// token names the page's last item, or is empty when nothing follows.
    pub fn page<T>(
        &self,
        bound: &Binding,
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
            .map(|last| self.token(bound, &position(last)))
            .unwrap_or_default();
        (items, next)
    }
}

fn bad_token(why: &str) -> CatalogError {
    DomainError::invalid("page_token", why).into()
}

#[cfg(test)]
#[path = "paging_tests.rs"]
mod tests;
