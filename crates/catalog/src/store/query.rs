//! Running a statement and turning its rows into values: every table module
//! builds its SQL and binds, and these run it, so fetching and decoding are
//! written once.

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, Decode, Row, Type};

use crate::error::Result;

/// A statement with its bound values, on either backend.
pub type AnyQuery<'q> = Query<'q, Any, AnyArguments<'q>>;

/// A value read from one row of a query's answer.
pub trait FromRow: Sized {
    fn from_row(row: &AnyRow) -> Result<Self>;
}

/// Every row of the answer, decoded.
pub async fn fetch_all<T: FromRow>(
    conn: &mut AnyConnection,
    query: AnyQuery<'_>,
) -> Result<Vec<T>> {
    query
        .fetch_all(conn)
        .await?
        .iter()
        .map(T::from_row)
        .collect()
}

/// The first row of the answer, decoded; `None` when there is none.
pub async fn fetch_optional<T: FromRow>(
    conn: &mut AnyConnection,
    query: AnyQuery<'_>,
) -> Result<Option<T>> {
    let row = query.fetch_optional(conn).await?;
    row.as_ref().map(T::from_row).transpose()
}

/// The first column of the first row; `None` when there is no row.
pub async fn fetch_value<T>(conn: &mut AnyConnection, query: AnyQuery<'_>) -> Result<Option<T>>
where
    T: for<'r> Decode<'r, Any> + Type<Any>,
{
    let row = query.fetch_optional(conn).await?;
    Ok(row.map(|r| r.try_get::<T, _>(0)).transpose()?)
}

/// Runs a statement; returns how many rows it changed.
pub async fn execute(conn: &mut AnyConnection, query: AnyQuery<'_>) -> Result<u64> {
    Ok(query.execute(conn).await?.rows_affected())
}

/// Implements [`FromRow`] for a struct read field by field from the columns
/// of the same names; `field: decode` reads one with `decode(&row)` instead
/// (a column that needs parsing, or has another name).
macro_rules! from_columns {
    ($ty:ident { $($field:ident $(: $decode:path)?),+ $(,)? }) => {
        impl $crate::store::query::FromRow for $ty {
            fn from_row(row: &::sqlx::any::AnyRow) -> $crate::error::Result<Self> {
                Ok(Self { $($field: from_columns!(@get row, $field $(, $decode)?)),+ })
            }
        }
    };
    (@get $row:ident, $field:ident) => {
        ::sqlx::Row::try_get($row, stringify!($field))?
    };
    (@get $row:ident, $field:ident, $decode:path) => {
        $decode($row)?
    };
}
pub(crate) use from_columns;
