//! Tables for people, JSON for scripts, both from the same view structs: a
//! list is always a JSON array (whatever its length), one item an object,
//! a stream one compact object per line (NDJSON).

use clap::ValueEnum;
use serde::Serialize;
use xregion_proto::Timestamp;

/// `println!` that tolerates a closed stdout (`xregion list | head`).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}
pub(crate) use say;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

/// A view that is one line of a table.
pub trait Row: Serialize {
    const HEADERS: &'static [&'static str];
    fn cells(&self) -> Vec<String>;
}

/// A list: a JSON array even of 0 or 1 items, or a table.
pub fn list<R: Row>(rows: &[R], output: Output) {
    match output {
        Output::Json => json(rows),
        Output::Table => table(R::HEADERS, rows.iter().map(Row::cells).collect()),
    }
}

/// One item: a JSON object, or a table of one line.
pub fn one<R: Row>(row: &R, output: Output) {
    match output {
        Output::Json => json(row),
        Output::Table => table(R::HEADERS, vec![row.cells()]),
    }
}

/// One document, indented.
pub fn json<T: Serialize + ?Sized>(value: &T) {
    say!("{}", to_json(value, true));
}

/// One line of a stream (NDJSON): compact, never spread over lines.
pub fn json_line<T: Serialize + ?Sized>(value: &T) {
    say!("{}", to_json(value, false));
}

fn to_json<T: Serialize + ?Sized>(value: &T, pretty: bool) -> String {
    let text = if pretty {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    };
    // Views are plain data (strings, numbers, lists): they always serialize.
    text.unwrap_or_default()
}

/// Left-aligned columns sized to their content.
pub fn table(headers: &[&str], rows: Vec<Vec<String>>) {
    for line in table_lines(headers, rows) {
        say!("{line}");
    }
}

fn table_lines(headers: &[&str], rows: Vec<Vec<String>>) -> Vec<String> {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    std::iter::once(line(headers.iter().map(|h| h.to_string()).collect()))
        .chain(rows.into_iter().map(line))
        .collect()
}

/// `2026-11-26T10:03:48Z`, or `-` when there is no time.
pub fn time(t: Option<&Timestamp>) -> String {
    opt_time(t).unwrap_or_else(|| "-".into())
}

/// `2026-11-26T10:03:48Z`, or nothing (JSON `null`).
pub fn opt_time(t: Option<&Timestamp>) -> Option<String> {
    t.and_then(|t| chrono::DateTime::from_timestamp_millis(xregion_proto::convert::millis(t)))
        .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

pub fn lag(s: Option<i64>) -> String {
    match s {
        None => "-".into(),
        Some(s) if s < 120 => format!("{s}s"),
        Some(s) if s < 7200 => format!("{}m", s / 60),
        Some(s) => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_fit_their_widest_cell_and_lines_end_trimmed() {
        let lines = table_lines(
            &["ID", "NAME"],
            vec![
                vec!["r1".into(), "".into()],
                vec!["region-2".into(), "Two".into()],
            ],
        );
        assert_eq!(lines, ["ID        NAME", "r1", "region-2  Two"]);
    }

    #[test]
    fn sizes_and_lags_read_as_people_say_them() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 * 1024 * 1024 + 512 * 1024), "3.5 MiB");
        assert_eq!(lag(None), "-");
        assert_eq!(lag(Some(59)), "59s");
        assert_eq!(lag(Some(180)), "3m");
        assert_eq!(lag(Some(3 * 3600 + 5 * 60)), "3h05m");
        assert_eq!(time(None), "-");
        let t = xregion_proto::convert::timestamp(1_760_000_000_000);
        assert_eq!(time(Some(&t)), "2025-10-09T08:53:20Z");
    }

    #[test]
    fn a_stream_line_is_one_line() {
        let v = serde_json::json!({"synced": {"backup_id": "b", "nested": [1, 2]}});
        assert!(!to_json(&v, false).contains('\n'));
        assert!(to_json(&v, true).contains('\n'));
    }
}
