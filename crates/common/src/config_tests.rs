//! The loader: layers, strictness (unknown sections and keys from every
//! layer), validation, dump and round trip.

#![allow(clippy::unwrap_used)]

use std::sync::Mutex;
use std::time::Duration;

use super::*;
use crate::validate::{positive, Invalid};
use crate::Error;

/// `load` reads the process environment; tests that set variables would
/// leak them into concurrent loads, so every loading test holds this.
static ENV: Mutex<()> = Mutex::new(());

fn env_lock() -> std::sync::MutexGuard<'static, ()> {
    ENV.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct Svc {
    #[serde(flatten)]
    common: CommonConfig,
    lanes: u32,
    svc: SvcSettings,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct SvcSettings {
    #[serde(rename = "tick_secs", with = "crate::units::secs")]
    tick: Duration,
}

impl Default for SvcSettings {
    fn default() -> Self {
        Self {
            tick: Duration::from_secs(5),
        }
    }
}

impl Validate for Svc {
    fn validate(&self) -> std::result::Result<(), Invalid> {
        positive("svc.tick_secs", self.svc.tick)
    }
}

/// Loads `text` as the configuration file with `overrides`.
fn load_text(text: &str, overrides: &[(&str, &str)]) -> Result<Svc> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(&file, text).unwrap();
    let overrides: Vec<(String, String)> = overrides
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    load(Some(&file), &overrides)
}

fn error_of(text: &str, overrides: &[(&str, &str)]) -> String {
    let _env = env_lock();
    load_text(text, overrides).unwrap_err().to_string()
}

/// Loading `text` with `overrides` fails, with an error that says each of `says`.
fn assert_refused(text: &str, overrides: &[(&str, &str)], says: &[&str]) {
    let err = error_of(text, overrides);
    for part in says {
        assert!(err.contains(part), "expected {part:?} in: {err}");
    }
}

#[test]
fn later_layers_win() {
    let _env = env_lock();
    let cfg = load_text(
        "lanes = 3\n[bus]\nnamespace = \"fromfile\"\nurl = \"nats://file:1\"\n",
        &[("bus.url", "nats://flag:2"), ("lanes", "5")],
    )
    .unwrap();
    assert_eq!(cfg.common.bus.namespace, "fromfile");
    assert_eq!(cfg.common.bus.url, "nats://flag:2");
    assert_eq!(cfg.lanes, 5);
    assert_eq!(cfg.common.bus.upstream_namespace, "rds");
}

#[test]
fn missing_file_is_an_error() {
    let _env = env_lock();
    let r: Result<Svc> = load(Some(Path::new("/nonexistent/x.toml")), &[]);
    assert!(r.is_err());
}

#[test]
fn an_unknown_section_is_an_error_naming_it_and_the_file() {
    // The known sections are listed (`worker`).
    assert_refused(
        "[wrker]\nlog_concurrency = 8\n",
        &[],
        &["unknown section `wrker`", "c.toml", "worker"],
    );
}

#[test]
fn an_unknown_key_names_the_key_and_its_section() {
    assert_refused(
        "[svc]\ntick_sec = 3\n",
        &[],
        &[
            "unknown key `svc.tick_sec` (section `svc`)",
            "c.toml",
            "tick_secs",
        ],
    );
    // The common sections too, although services flatten them.
    for (text, says) in [
        (
            "[bus]\nurll = \"nats://x:1\"\n",
            "unknown key `bus.urll` (section `bus`)",
        ),
        (
            "[bus.tls]\nrequird = true\n",
            "unknown key `bus.tls.requird` (section `bus`)",
        ),
    ] {
        assert_refused(text, &[], &[says]);
    }
}

#[test]
fn an_unknown_key_in_a_region_names_the_entry() {
    assert_refused(
        "[[regions]]\nid = \"r1\"\nurl = \"memory://\"\ndisplayname = \"R1\"\n",
        &[],
        &["unknown key `regions[0].displayname` (section `regions`)"],
    );
    // Options are the store's own keys, checked when the store is built.
    let _env = env_lock();
    let ok = load_text(
        "[[regions]]\nid = \"r1\"\nurl = \"memory://\"\n[regions.options]\nanything = \"x\"\n",
        &[],
    );
    assert!(ok.is_ok(), "{ok:?}");
}

#[test]
fn a_misspelt_environment_variable_is_named() {
    let _env = env_lock();
    std::env::set_var("XREGION_SVC__TICK_SEC", "3");
    let err = load_text("", &[]).unwrap_err().to_string();
    std::env::remove_var("XREGION_SVC__TICK_SEC");
    assert!(
        err.contains("unknown key `svc.tick_sec` (section `svc`)"),
        "{err}"
    );
    assert!(
        err.contains("environment variable XREGION_SVC__TICK_SEC"),
        "{err}"
    );
    // Variables without `__` belong to other tools (XREGION_CONFIG, the CLI).
    std::env::set_var("XREGION_NOT_A_SETTING", "1");
    let ok = load_text("", &[]);
    std::env::remove_var("XREGION_NOT_A_SETTING");
    assert!(ok.is_ok(), "{ok:?}");
    // A known key from the environment is read.
    std::env::set_var("XREGION_SVC__TICK_SECS", "7");
    let cfg = load_text("", &[]);
    std::env::remove_var("XREGION_SVC__TICK_SECS");
    assert_eq!(cfg.unwrap().svc.tick, Duration::from_secs(7));
}

#[test]
fn a_misspelt_set_flag_is_named() {
    assert_refused(
        "",
        &[("svc.tick_sec", "3")],
        &["unknown key `svc.tick_sec` (section `svc`)", "command line"],
    );
    assert_refused(
        "",
        &[("transfer.log_concurrency", "8")],
        &["unknown section `transfer`", "command line"],
    );
}

#[test]
fn a_value_of_the_wrong_type_names_the_key_and_its_origin() {
    let err = error_of("", &[("svc.tick_secs", "soon")]);
    assert!(
        err.starts_with(
            "configuration: bad value for `svc.tick_secs` (section `svc`) set on the command line"
        ),
        "{err}"
    );
    assert_refused(
        "[bus]\nmax_deliver = -1\n",
        &[],
        &["bad value for `bus.max_deliver` (section `bus`) in file"],
    );
}

#[test]
fn other_services_sections_are_accepted() {
    let _env = env_lock();
    let cfg = load_text(
        "[catalog]\nmax_connections = 2\n[gateway]\nlisten = \"127.0.0.1:1\"\n\
         [watcher]\nreconcile_interval_secs = 2\n[worker]\npart_size_mib = 5\n\
         [cleanup]\nsweep_interval_secs = 1\n[telemetry]\nlog_format = \"json\"\n\
         [http]\nlisten = \"127.0.0.1:0\"\n",
        &[],
    );
    assert!(cfg.is_ok(), "{cfg:?}");
}

#[test]
fn a_value_outside_its_limits_names_the_key() {
    let err = error_of("[svc]\ntick_secs = 0\n", &[]);
    assert_eq!(err, "configuration: `svc.tick_secs` must be greater than 0");
    assert!(matches!(
        {
            let _env = env_lock();
            load_text("[svc]\ntick_secs = 0\n", &[])
        },
        Err(Error::Invalid(_))
    ));
}

#[test]
fn the_common_sections_limits_name_their_keys() {
    let _env = env_lock();
    crate::config_cases::each_refused_naming_its_key::<Svc>(&[
        ("bus.request_timeout_secs", "0"),
        ("bus.events_max_age_days", "0"),
        ("bus.replicas", "0"),
        ("bus.replicas", "6"),
        ("bus.lease_ttl_secs", "0"),
        ("bus.lease_ttl_secs", "2"),
        ("bus.max_deliver", "0"),
        ("telemetry.log_format", "xml"),
    ])
    .unwrap();
    // The check reports what it let through, every case at once.
    let gaps = crate::config_cases::each_refused_naming_its_key::<Svc>(&[
        ("svc.tick_secs", "1"),
        ("svc.tick_secs", "0"),
        ("bus.max_deliver", "2"),
    ])
    .unwrap_err();
    assert_eq!(
        gaps, "svc.tick_secs=1: accepted\nbus.max_deliver=2: accepted",
        "{gaps}"
    );
    let cfg = load_text("[bus]\nbackoff_ms = [200, 500]\nmax_deliver = 3\n", &[]).unwrap();
    assert_eq!(
        cfg.common.bus.backoff,
        [Duration::from_millis(200), Duration::from_millis(500)]
    );
    assert_eq!(cfg.common.bus.max_deliver.get(), 3);
    assert_eq!(
        cfg.common.bus.events_max_age,
        Duration::from_secs(30 * 86_400)
    );
    assert_eq!(cfg.common.bus.lease_ttl, Duration::from_secs(15));
}

#[test]
fn dump_hides_secrets() {
    let mut svc = Svc::default();
    svc.common.bus.url = "nats://svc:natspw@n:4222".into();
    svc.common.regions.push(crate::RegionConfig {
        id: "r1".into(),
        display_name: String::new(),
        url: "s3://b".into(),
        options: [("aws_secret_access_key".to_string(), "s3pw".to_string())].into(),
        source_key_prefix: None,
        encryption: None,
    });
    let text = dump(&svc).unwrap();
    assert!(!text.contains("natspw") && !text.contains("s3pw"), "{text}");
    assert!(text.contains("aws_secret_access_key"), "{text}");
}

#[test]
fn bus_debug_hides_the_url_password() {
    let bus = BusConfig {
        url: "nats://svc:natspw@n:4222".into(),
        ..Default::default()
    };
    let shown = format!("{bus:?}");
    assert!(
        !shown.contains("natspw") && shown.contains("n:4222"),
        "{shown}"
    );
}

#[test]
fn dump_loads_again_unchanged() {
    let _env = env_lock();
    let cfg = load_text(
        "lanes = 2\n[svc]\ntick_secs = 9\n[bus]\nnamespace = \"dumped\"\n\
         [[regions]]\nid = \"r1\"\nurl = \"memory://\"\n",
        &[],
    )
    .unwrap();
    let text = dump(&cfg).unwrap();
    assert!(text.contains("tick_secs = 9"), "{text}");
    let again = load_text(&text, &[]).unwrap();
    assert_eq!(dump(&again).unwrap(), text);
    assert_eq!(again.svc.tick, Duration::from_secs(9));
    assert_eq!(again.common.bus.namespace, "dumped");
}
