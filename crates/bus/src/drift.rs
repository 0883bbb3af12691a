//! How a stream xregion owns differs on the server from what xregion
//! declares. Pure: `declare.rs` reports the differences (log and gauge) and
//! changes nothing, so a setting an operator changed on purpose, or one a
//! newer version of xregion declares, is never silently overwritten by
//! whichever service starts next.

use std::time::Duration;

use async_nats::jetstream::stream::Config;

/// Name of the gauge holding, per stream, how many settings differ.
pub const DRIFT_GAUGE: &str = "xregion_bus_stream_drift";

/// One setting that differs: what xregion declares and what the server has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    pub field: &'static str,
    pub want: String,
    pub have: String,
}

/// Every setting xregion sets on its own streams (subjects, retention,
/// storage, max_age, duplicate_window, num_replicas) that `have` holds
/// otherwise. Settings xregion leaves to the server are not compared: a
/// zero `duplicate_window` in `want` (the server then picks its default of
/// two minutes), and every field not listed above.
pub fn differences(want: &Config, have: &Config) -> Vec<Drift> {
    let mut out = Vec::new();
    let mut compare = |field: &'static str, want: String, have: String| {
        if want != have {
            out.push(Drift { field, want, have });
        }
    };
    compare(
        "subjects",
        subjects(&want.subjects),
        subjects(&have.subjects),
    );
    compare(
        "retention",
        format!("{:?}", want.retention),
        format!("{:?}", have.retention),
    );
    compare(
        "storage",
        format!("{:?}", want.storage),
        format!("{:?}", have.storage),
    );
    compare("max_age", duration(want.max_age), duration(have.max_age));
    if !want.duplicate_window.is_zero() {
        compare(
            "duplicate_window",
            duration(want.duplicate_window),
            duration(have.duplicate_window),
        );
    }
    // The server keeps 0 replicas as 1.
    compare(
        "num_replicas",
        want.num_replicas.max(1).to_string(),
        have.num_replicas.max(1).to_string(),
    );
    out
}

/// Subjects as a set: their order means nothing to the server.
fn subjects(list: &[String]) -> String {
    let mut sorted: Vec<&str> = list.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.dedup();
    sorted.join(",")
}

/// Zero is "unlimited" to the server.
fn duration(d: Duration) -> String {
    if d.is_zero() {
        "unlimited".to_string()
    } else {
        format!("{d:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_nats::jetstream::stream::{RetentionPolicy, StorageType};

    fn declared() -> Config {
        Config {
            name: "XR_EVENTS".into(),
            subjects: vec!["xr.events.>".into()],
            retention: RetentionPolicy::Limits,
            storage: StorageType::File,
            max_age: Duration::from_secs(30 * 86_400),
            duplicate_window: Duration::from_secs(3600),
            num_replicas: 3,
            ..Default::default()
        }
    }

    fn fields(d: &[Drift]) -> Vec<&'static str> {
        d.iter().map(|d| d.field).collect()
    }

    #[test]
    fn the_same_settings_differ_in_nothing() {
        assert!(differences(&declared(), &declared()).is_empty());
    }

    #[test]
    fn settings_xregion_does_not_set_are_not_compared() {
        let have = Config {
            max_messages: 10,
            max_bytes: 1 << 20,
            description: Some("an operator's note".into()),
            ..declared()
        };
        assert!(differences(&declared(), &have).is_empty());
    }

    #[test]
    fn each_differing_setting_is_named_with_both_values() {
        let have = Config {
            subjects: vec!["xr.events.>".into(), "other.>".into()],
            retention: RetentionPolicy::WorkQueue,
            storage: StorageType::Memory,
            max_age: Duration::from_secs(60),
            duplicate_window: Duration::from_secs(120),
            num_replicas: 1,
            ..declared()
        };
        let drift = differences(&declared(), &have);
        assert_eq!(
            fields(&drift),
            [
                "subjects",
                "retention",
                "storage",
                "max_age",
                "duplicate_window",
                "num_replicas"
            ]
        );
        assert_eq!(
            drift[0],
            Drift {
                field: "subjects",
                want: "xr.events.>".into(),
                have: "other.>,xr.events.>".into(),
            }
        );
        assert_eq!(drift[3].want, "2592000s");
        assert_eq!(drift[3].have, "60s");
        assert_eq!(drift[5].want, "3");
        assert_eq!(drift[5].have, "1");
    }

    #[test]
    fn subject_order_does_not_matter() {
        let want = Config {
            subjects: vec!["a.>".into(), "b.>".into()],
            ..declared()
        };
        let have = Config {
            subjects: vec!["b.>".into(), "a.>".into()],
            ..declared()
        };
        assert!(differences(&want, &have).is_empty());
    }

    #[test]
    fn a_window_left_to_the_server_is_not_drift_but_a_declared_one_is() {
        let want = Config {
            duplicate_window: Duration::ZERO,
            ..declared()
        };
        let have = Config {
            duplicate_window: Duration::from_secs(120),
            ..declared()
        };
        assert!(differences(&want, &have).is_empty());
        assert_eq!(
            fields(&differences(&declared(), &have)),
            ["duplicate_window"]
        );
    }

    #[test]
    fn an_unlimited_age_is_shown_as_such() {
        let have = Config {
            max_age: Duration::ZERO,
            ..declared()
        };
        let drift = differences(&declared(), &have);
        assert_eq!(drift[0].have, "unlimited");
    }

    #[test]
    fn zero_replicas_are_one_to_the_server() {
        let want = Config {
            num_replicas: 1,
            ..declared()
        };
        let have = Config {
            num_replicas: 0,
            ..declared()
        };
        assert!(differences(&want, &have).is_empty());
    }
}
