//! `child::run` against fake `xregion` scripts.

use xregion_common::encryption::KeySource;

use super::*;

use crate::testing::{script, SERIAL};

async fn drill(cli: &Path, timeout: Duration) -> Outcome {
    let options = BTreeMap::from([("secret_access_key".to_string(), "s3cr3t".to_string())]);
    drill_with(cli, timeout, &options).await
}

async fn drill_with(cli: &Path, timeout: Duration, options: &BTreeMap<String, String>) -> Outcome {
    let tmp_root = cli.parent().unwrap();
    let d = DrillRun {
        cli,
        store_url: "file:///nowhere",
        store_options: options,
        instance_id: "db-1",
        service_id: "svc-1",
        key_args: &[],
        timeout,
        point: 1_699_999_999_000,
        tmp_root,
    };
    run(&d, || 1_700_000_000_000).await
}

/// The folders left below `dir` but the fake binary and its files.
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("xdrill-"))
        .collect()
}

#[tokio::test]
async fn options_travel_in_the_environment_not_argv() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    // Succeeds only when the secret is in the environment and not among
    // the arguments.
    let cli = script(
        dir.path(),
        r#"case "$*" in *s3cr3t*) exit 3;; esac
[ "$XREGION_STORE_OPTIONS" = "secret_access_key=s3cr3t" ] || exit 4
[ "$*" = "drill --output json --region-store file:///nowhere --instance db-1 --service svc-1 --time 2023-11-14T22:13:19.000Z" ] || exit 5
echo '{"success":true,"seconds":2,"restored_to_ms":1699999999000}'"#,
    );
    let o = drill(&cli, Duration::from_secs(30)).await;
    assert_eq!(o.error, "");
    assert_eq!(o.restored_to, Some(1_699_999_999_000));
    // The reported 2 s, believed up to the time measured around it.
    assert!(o.rto_ms <= 2_000, "{}", o.rto_ms);
    // No options: the variable is unset, not empty.
    let unset = script(
        dir.path(),
        r#"[ "${XREGION_STORE_OPTIONS+set}" = "" ] || exit 4
echo '{"success":true,"seconds":2,"restored_to_ms":1699999999000}'"#,
    );
    let o = drill_with(&unset, Duration::from_secs(30), &BTreeMap::new()).await;
    assert_eq!(o.error, "");
}

#[tokio::test]
async fn an_option_with_a_line_break_is_refused_naming_only_the_key() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let ran = dir.path().join("ran");
    let cli = script(dir.path(), &format!("touch {}", ran.display()));
    let value = BTreeMap::from([("secret_access_key".to_string(), "s3c\nr3t".to_string())]);
    let o = drill_with(&cli, Duration::from_secs(30), &value).await;
    assert!(o.error.contains("\"secret_access_key\""), "{}", o.error);
    assert!(o.error.contains("line break"), "{}", o.error);
    assert!(
        !o.error.contains("s3c") && !o.error.contains("r3t"),
        "{}",
        o.error
    );
    for key in ["a=b", "a\nb", ""] {
        let bad_key = BTreeMap::from([(key.to_string(), "v".to_string())]);
        let o = drill_with(&cli, Duration::from_secs(30), &bad_key).await;
        assert!(o.error.contains("cannot be passed"), "{}", o.error);
    }
    assert!(!ran.exists(), "the drill ran with a broken option");
}

#[tokio::test]
async fn the_child_s_temporary_files_are_removed_after_each_run() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let seen = dir.path().join("tmpdir");
    let cli = script(
        dir.path(),
        &format!(
            r#"echo "$TMPDIR" > {}; head -c 1000 /dev/zero > "$TMPDIR/copy"
echo '{{"success":true,"seconds":1,"restored_to_ms":1699999999000}}'"#,
            seen.display()
        ),
    );
    let o = drill(&cli, Duration::from_secs(30)).await;
    assert_eq!(o.error, "");
    let tmp = std::fs::read_to_string(&seen).unwrap();
    assert!(tmp.contains("/xdrill-"), "{tmp}");
    // Short, so the throwaway server's socket path below it fits.
    let below = tmp.trim().len() - dir.path().as_os_str().len();
    assert!(below <= 24, "{tmp}");
    assert_eq!(leftovers(dir.path()), Vec::<String>::new());
    // A drill killed at its time limit too.
    let hang = script(
        dir.path(),
        "head -c 1000 /dev/zero > \"$TMPDIR/copy\"; sleep 300",
    );
    let o = drill(&hang, Duration::from_secs(1)).await;
    assert!(o.error.contains("timed out"), "{}", o.error);
    assert_eq!(leftovers(dir.path()), Vec::<String>::new());
}

#[tokio::test]
async fn a_drill_dropped_midway_is_killed_with_what_it_started() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("grandchild.pid");
    let cli = script(
        dir.path(),
        &format!("sleep 300 &\necho $! > {}\nwait", pidfile.display()),
    );
    let running = drill(&cli, Duration::from_secs(300));
    // Dropped (the role stopping) once the grandchild is there.
    let written = async {
        while std::fs::read_to_string(&pidfile).map_or(true, |p| p.trim().is_empty()) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::select! {
        _ = running => panic!("the drill ended by itself"),
        _ = tokio::time::timeout(Duration::from_secs(20), written) => {}
    }
    let pid = std::fs::read_to_string(&pidfile).unwrap();
    assert!(gone_soon(pid.trim()).await, "the grandchild {pid} survived");
    assert_eq!(leftovers(dir.path()), Vec::<String>::new());
}

/// Gone, or a zombie waiting to be reaped; the kill is delivered at
/// once but noticed a moment later: polled with a deadline.
async fn gone_soon(pid: &str) -> bool {
    let gone = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| s.contains(") Z "))
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gone() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    gone()
}

#[test]
fn keys_are_passed_by_file_or_variable_name() {
    assert!(key_args(None).is_empty());
    let e = RegionEncryption {
        key_id: "k2".into(),
        key_file: Some("/keys/k2".into()),
        key_env: None,
        previous: vec![KeySource {
            key_id: "k1".into(),
            key_file: None,
            key_env: Some("OLD_KEY".into()),
        }],
    };
    assert_eq!(
        key_args(Some(&e)),
        ["--key-file", "k2=/keys/k2", "--key-env", "k1=OLD_KEY"]
    );
}

#[tokio::test]
async fn a_hanging_drill_is_killed_with_what_it_started() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("grandchild.pid");
    let cli = script(
        dir.path(),
        &format!("sleep 300 &\necho $! > {}\nwait", pidfile.display()),
    );
    let started = Instant::now();
    let o = drill(&cli, Duration::from_secs(2)).await;
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(o.error.contains("timed out"), "{}", o.error);
    assert_eq!(o.restored_to, None);
    let pid = std::fs::read_to_string(&pidfile).unwrap();
    assert!(gone_soon(pid.trim()).await, "the grandchild {pid} survived");
}

#[tokio::test]
async fn endless_garbage_is_bounded_and_a_missing_binary_is_a_failure() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let cli = script(
        dir.path(),
        "head -c 5000000 /dev/zero | tr '\\0' 'x'; exit 1",
    );
    let o = drill(&cli, Duration::from_secs(30)).await;
    assert!(
        o.error.starts_with("unreadable drill report"),
        "{}",
        &o.error[..100.min(o.error.len())]
    );
    assert!(o.error.len() < 1000);
    let o = drill(&dir.path().join("no-such-binary"), Duration::from_secs(5)).await;
    assert!(o.error.starts_with("cannot run"), "{}", o.error);
}
