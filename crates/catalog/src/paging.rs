//! Page sizes and tokens of the internal paged answers (LiveServices,
//! PendingBackups), which must stay under NATS' max_payload whatever the
//! fleet's size. Tokens name the last item returned, so pages stay stable
//! while items are added; a token this server did not issue is refused.

use xregion_domain::DomainError;

use crate::error::Result;

pub const MAX_PAGE: usize = 1000;

/// `0` means the method's default page; above [`MAX_PAGE`] is refused.
pub fn page_size(requested: u32, default: usize) -> Result<usize> {
    match requested as usize {
        0 => Ok(default),
        n if n <= MAX_PAGE => Ok(n),
        n => Err(
            DomainError::invalid("page_size", format!("{n} is above the maximum {MAX_PAGE}"))
                .into(),
        ),
    }
}

fn bad_token() -> crate::CatalogError {
    DomainError::invalid("page_token", "not a token this server issued").into()
}

pub fn live_token(seq: i64) -> String {
    format!("l1.{seq}")
}

/// The sequence number after which the page starts (0 for the first page).
pub fn parse_live_token(token: &str) -> Result<i64> {
    if token.is_empty() {
        return Ok(0);
    }
    token
        .strip_prefix("l1.")
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|n| *n >= 0)
        .ok_or_else(bad_token)
}

/// Where a page of pending backups starts: after (data end, backup id).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PendingAfter(Option<(i64, String)>);

impl PendingAfter {
    /// Whether the backup comes after the token's position.
    pub fn is_before(&self, data_end: i64, backup_id: &str) -> bool {
        match &self.0 {
            None => true,
            Some((end, id)) => (data_end, backup_id) > (*end, id.as_str()),
        }
    }
}

pub fn pending_token(data_end: i64, backup_id: &str) -> String {
    format!("b1.{data_end}.{backup_id}")
}

pub fn parse_pending_token(token: &str) -> Result<PendingAfter> {
    if token.is_empty() {
        return Ok(PendingAfter(None));
    }
    let rest = token.strip_prefix("b1.").ok_or_else(bad_token)?;
    // Backup ids never contain a dot (id grammar); a negative time may
    // start with '-'.
    let (end, id) = rest.split_once('.').ok_or_else(bad_token)?;
    let end = end.parse::<i64>().map_err(|_| bad_token())?;
    if !xregion_domain::ids::is_valid_id(id) {
        return Err(bad_token());
    }
    Ok(PendingAfter(Some((end, id.to_string()))))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_foreign_ones_are_refused() {
        assert_eq!(parse_live_token("").unwrap(), 0);
        assert_eq!(parse_live_token(&live_token(42)).unwrap(), 42);
        for bad in ["42", "l1.-1", "l1.x", "p1.3", "b1.3.x"] {
            assert!(parse_live_token(bad).is_err(), "{bad}");
        }
        let after = parse_pending_token(&pending_token(-5, "b-1")).unwrap();
        assert!(!after.is_before(-5, "b-1"));
        assert!(after.is_before(-5, "b-2"));
        assert!(after.is_before(0, "a"));
        assert!(!after.is_before(-6, "z"));
        assert!(parse_pending_token("").unwrap().is_before(i64::MIN, ""));
        for bad in ["b1.", "b1.x.b", "b1.3", "b1.3.a/b", "l1.3", "b2.3.b"] {
            assert!(parse_pending_token(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn page_sizes_are_bounded() {
        assert_eq!(page_size(0, 200).unwrap(), 200);
        assert_eq!(page_size(1000, 200).unwrap(), 1000);
        assert!(page_size(1001, 200).is_err());
    }
}
