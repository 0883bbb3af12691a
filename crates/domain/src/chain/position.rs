//! Chain positions: validation and the numeric form chains are built from.

use super::ChainPosition;
use crate::engine::{BackupKind, Engine};

/// SQL Server LSNs have at most 25 decimal digits; they fit a `u128`.
pub const MAX_LSN_DIGITS: usize = 25;

/// A validated position. Variant order and field order give chain order, so
/// the derived `Ord` sorts logs the way they are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Pos {
    Mysql { file: u64, offset: u64 },
    Sqlserver { first: u128, last: u128 },
}

impl Pos {
    /// The number a chain is followed by: the binlog file, or the last LSN.
    pub fn number(self) -> u128 {
        match self {
            Pos::Mysql { file, .. } => u128::from(file),
            Pos::Sqlserver { last, .. } => last,
        }
    }
}

/// Checks that `pos` is usable for a `kind` backup of `engine`: the variant
/// matches the engine, LSNs are decimal numbers of at most 25 digits and
/// `first_lsn <= last_lsn`.
pub fn validate_position(
    engine: Engine,
    kind: BackupKind,
    pos: &ChainPosition,
) -> Result<(), String> {
    normalize(engine, kind, pos).map(|_| ())
}

pub(super) fn normalize(
    engine: Engine,
    kind: BackupKind,
    pos: &ChainPosition,
) -> Result<Pos, String> {
    match (engine, pos) {
        (
            Engine::Mysql,
            ChainPosition::Mysql {
                file_number,
                offset,
            },
        ) => Ok(Pos::Mysql {
            file: *file_number,
            offset: *offset,
        }),
        (
            Engine::Sqlserver,
            ChainPosition::Sqlserver {
                first_lsn,
                last_lsn,
            },
        ) => {
            let first = parse_lsn("first_lsn", first_lsn)?;
            let last = parse_lsn("last_lsn", last_lsn)?;
            if first > last {
                return Err(format!(
                    "{} backup has first_lsn {first} after last_lsn {last}",
                    kind.as_str()
                ));
            }
            Ok(Pos::Sqlserver { first, last })
        }
        (Engine::Mysql, ChainPosition::Sqlserver { .. }) => Err(format!(
            "mysql {} backup has sql server lsns instead of a binlog position",
            kind.as_str()
        )),
        (Engine::Sqlserver, ChainPosition::Mysql { .. }) => Err(format!(
            "sqlserver {} backup has a binlog position instead of lsns",
            kind.as_str()
        )),
    }
}

/// Parses by hand first because `u128::from_str` accepts a leading `+`, and
/// LSNs compared as strings would put "9" after "10".
fn parse_lsn(field: &str, s: &str) -> Result<u128, String> {
    if s.is_empty() {
        return Err(format!("{field} is empty"));
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{field} {:?} is not a decimal number", shorten(s)));
    }
    if s.len() > MAX_LSN_DIGITS {
        return Err(format!(
            "{field} has {} digits, at most {MAX_LSN_DIGITS} are allowed",
            s.len()
        ));
    }
    s.parse::<u128>()
        .map_err(|e| format!("{field} {s:?} is not a decimal number: {e}"))
}

/// Keeps error messages bounded whatever a caller sends.
fn shorten(s: &str) -> String {
    const MAX: usize = 40;
    match s.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &s[..cut]),
        None => s.to_owned(),
    }
}
