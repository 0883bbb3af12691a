//! Reading `xregion drill --output json`: a child's output, untrusted. It
//! is read bounded (`crate::child`), its last line must be the report, and
//! every value is range-checked; anything else is a failed drill, with the
//! reason, never a panic.

use serde::Deserialize;

/// At most this much of the child's stdout and stderr is kept.
pub const MAX_OUTPUT: usize = 64 * 1024;
/// A report's time beyond a week is not a restore time.
const MAX_SECONDS: f64 = 7.0 * 24.0 * 3600.0;

/// The fields of the CLI's report this role reads (others are ignored).
#[derive(Debug, Deserialize)]
struct Report {
    success: bool,
    seconds: f64,
    #[serde(default)]
    restored_to_ms: Option<i64>,
    #[serde(default)]
    error: Option<String>,
}

/// What a drill showed, ready for `RecordDrill`.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Set when the drill succeeded: the point restored.
    pub restored_to: Option<i64>,
    pub rto_ms: u64,
    pub error: String,
}

impl Outcome {
    pub fn failed(error: impl Into<String>, rto_ms: u64) -> Self {
        Self {
            restored_to: None,
            rto_ms,
            error: error.into(),
        }
    }
}

/// The outcome of a child that exited (`exit_ok`) with `stdout` and
/// `stderr`, after `elapsed_ms`, at `now` (unix ms).
pub fn outcome(exit_ok: bool, stdout: &[u8], stderr: &[u8], elapsed_ms: u64, now: i64) -> Outcome {
    let report = match parse(stdout) {
        Ok(report) => report,
        Err(why) => {
            let tail = last_line(stderr);
            let error = if tail.is_empty() {
                format!("unreadable drill report: {why}")
            } else {
                format!("unreadable drill report: {why}; stderr: {tail}")
            };
            return Outcome::failed(error, elapsed_ms);
        }
    };
    if !report.seconds.is_finite() || !(0.0..=MAX_SECONDS).contains(&report.seconds) {
        return Outcome::failed(
            format!("drill report with time {} s", report.seconds),
            elapsed_ms,
        );
    }
    // The child's time runs to the answering server, before its cleanup;
    // it is believed up to what this role measured around the child.
    let rto_ms = ((report.seconds * 1000.0).round() as u64).min(elapsed_ms);
    match (report.success, exit_ok, report.restored_to_ms) {
        (true, true, Some(at)) if at > 0 && at <= now => Outcome {
            restored_to: Some(at),
            rto_ms,
            error: String::new(),
        },
        (true, true, at) => Outcome::failed(
            format!("drill report of a success without a valid restored point ({at:?})"),
            rto_ms,
        ),
        (true, false, _) => {
            Outcome::failed("drill reported success but exited with an error", rto_ms)
        }
        (false, _, _) => Outcome::failed(
            report
                .error
                .filter(|e| !e.trim().is_empty())
                .unwrap_or_else(|| "drill failed without a reason".into()),
            rto_ms,
        ),
    }
}

/// The report: the last non-empty line of stdout (the restore prints its
/// progress before it). Read lossily: the output kept may start inside a
/// character, and progress lines are not the report's business.
fn parse(stdout: &[u8]) -> Result<Report, String> {
    let text = String::from_utf8_lossy(stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .ok_or_else(|| "no output".to_string())?;
    serde_json::from_str(line).map_err(|e| format!("not a report ({e})"))
}

/// The last non-empty line, at most 300 characters of it.
fn last_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    #[test]
    fn a_success_is_read_from_the_last_line() {
        let out = b"applied to the MariaDB server at /tmp/x\nrestored 3 files\n{\"success\":true,\"seconds\":4.25,\"restored_to\":\"2023-11-14T22:13:20Z\",\"restored_to_ms\":1699999999000,\"tables\":3}\n";
        let o = outcome(true, out, b"", 9_999, NOW);
        assert_eq!(
            o,
            Outcome {
                restored_to: Some(1_699_999_999_000),
                rto_ms: 4_250,
                error: String::new()
            }
        );
    }

    #[test]
    fn a_failure_keeps_its_reason() {
        let out = br#"{"success":false,"seconds":1.5,"error":"no service of instance db-1 in this store"}"#;
        let o = outcome(false, out, b"", 2_000, NOW);
        assert_eq!(o.restored_to, None);
        assert_eq!(o.rto_ms, 1_500);
        assert!(o.error.contains("no service of instance"), "{}", o.error);
    }

    #[test]
    fn garbage_is_a_failed_drill_with_the_reason() {
        let cases: [(&[u8], &str); 9] = [
            (b"", "no output"),
            (b"\xff\xfe garbage", "not a report"),
            (b"hello world", "not a report"),
            (br#"{"success":"yes","seconds":1}"#, "not a report"),
            (
                br#"{"success":true,"seconds":-1,"restored_to_ms":5}"#,
                "time -1",
            ),
            (
                br#"{"success":true,"seconds":1e300,"restored_to_ms":5}"#,
                "time",
            ),
            (
                br#"{"success":true,"seconds":1}"#,
                "without a valid restored point",
            ),
            (
                br#"{"success":true,"seconds":1,"restored_to_ms":99999999999999}"#,
                "without a valid restored point",
            ),
            (
                br#"{"success":true,"seconds":1,"restored_to_ms":-4}"#,
                "without a valid restored point",
            ),
        ];
        for (stdout, why) in cases {
            let o = outcome(true, stdout, b"boom\nlast words\n", 7, NOW);
            assert_eq!(o.restored_to, None, "{why}");
            assert!(o.error.contains(why), "{why}: {}", o.error);
        }
        let o = outcome(true, b"nope", b"boom\nlast words\n", 7, NOW);
        assert!(o.error.ends_with("stderr: last words"), "{}", o.error);
        assert_eq!(o.rto_ms, 7);
        // A success report from a child that failed is not believed.
        let o = outcome(
            false,
            br#"{"success":true,"seconds":1,"restored_to_ms":5}"#,
            b"",
            7,
            NOW,
        );
        assert!(o.error.contains("exited with an error"), "{}", o.error);
    }

    #[test]
    fn output_cut_inside_a_character_still_yields_the_report() {
        // The kept tail of a long output may start mid-character.
        let mut out = "é".repeat(10).into_bytes();
        out.remove(0);
        out.extend_from_slice(b"\n{\"success\":true,\"seconds\":1,\"restored_to_ms\":5}\n");
        let o = outcome(true, &out, b"", 9_999, NOW);
        assert_eq!(o.restored_to, Some(5), "{}", o.error);
    }

    #[test]
    fn the_time_is_believed_up_to_what_the_role_measured() {
        let out = br#"{"success":true,"seconds":3600,"restored_to_ms":5}"#;
        assert_eq!(outcome(true, out, b"", 2_000, NOW).rto_ms, 2_000);
        let out = br#"{"success":true,"seconds":1.5,"restored_to_ms":5}"#;
        assert_eq!(outcome(true, out, b"", 2_000, NOW).rto_ms, 1_500);
    }

    #[test]
    fn a_long_stderr_line_is_cut() {
        let stderr = "x".repeat(10_000);
        let o = outcome(false, b"", stderr.as_bytes(), 1, NOW);
        assert!(o.error.len() < 400, "{}", o.error.len());
    }
}
