#![allow(clippy::unwrap_used)]

use super::*;

const FILE: &str = r#"
current = "staging"

[profiles.default]
endpoint = "http://default:1"

[profiles.staging]
endpoint = "https://staging:2"
ca_file = "ca.pem"
token_file = "/secrets/staging-token"

[profiles.prod]
endpoint = "https://prod:3"
"#;

fn config(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn given(path: &Path) -> Given {
    Given {
        config: Some(path.to_path_buf()),
        ..Given::default()
    }
}

#[test]
fn current_profile_is_used_and_relative_files_follow_the_config() {
    let (dir, path) = config(FILE);
    let r = resolve(&given(&path), None).unwrap();
    assert_eq!(r.endpoint, "https://staging:2");
    assert_eq!(r.ca_cert, Some(dir.path().join("ca.pem")));
    assert_eq!(r.token, Some(Token::File("/secrets/staging-token".into())));
}

#[test]
fn flag_profile_beats_current_and_flags_beat_the_profile() {
    let (_dir, path) = config(FILE);
    let prod = Given {
        profile: Some("prod".into()),
        ..given(&path)
    };
    let r = resolve(&prod, None).unwrap();
    assert_eq!((r.endpoint.as_str(), r.token), ("https://prod:3", None));
    let over = Given {
        endpoint: Some("http://flag:4".into()),
        token: Some("t".into()),
        ca_cert: Some("/flag-ca.pem".into()),
        ..given(&path)
    };
    let r = resolve(&over, None).unwrap();
    assert_eq!(r.endpoint, "http://flag:4");
    assert_eq!(r.token, Some(Token::Literal("t".into())));
    assert_eq!(r.ca_cert, Some("/flag-ca.pem".into()));
}

#[test]
fn default_profile_without_current_and_builtin_default_without_file() {
    let (_dir, path) = config("[profiles.default]\nendpoint = \"http://d:1\"\n");
    assert_eq!(resolve(&given(&path), None).unwrap().endpoint, "http://d:1");
    // The default path is used when no --config; a missing one is no profiles.
    assert_eq!(
        resolve(&Given::default(), Some(&path)).unwrap().endpoint,
        "http://d:1"
    );
    let none = resolve(&Given::default(), Some(Path::new("/nonexistent/x.toml"))).unwrap();
    assert_eq!(none.endpoint, DEFAULT_ENDPOINT);
    assert_eq!((none.token, none.ca_cert), (None, None));
}

#[test]
fn a_missing_profile_names_itself_and_the_known_ones() {
    let (_dir, path) = config(FILE);
    let err = resolve(
        &Given {
            profile: Some("qa".into()),
            ..given(&path)
        },
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("\"qa\"") && err.contains("default, prod, staging"),
        "{err}"
    );
    let (_dir, path) = config("current = \"gone\"\n");
    let err = resolve(&given(&path), None).unwrap_err().to_string();
    assert!(err.contains("\"gone\"") && err.contains("none"), "{err}");
}

#[test]
fn unknown_keys_and_missing_files_are_errors_naming_key_and_file() {
    let (_dir, path) = config("[profiles.a]\nendpoint = \"x\"\ntoken = \"secret\"\n");
    let err = resolve(&given(&path), None).unwrap_err().to_string();
    assert!(
        err.contains("token") && err.contains(&path.display().to_string()),
        "{err}"
    );
    assert!(err.contains("line 3") && !err.contains("secret"), "{err}");
    let (_dir, path) = config("colour = 1\n");
    let err = resolve(&given(&path), None).unwrap_err().to_string();
    assert!(err.contains("colour"), "{err}");
    let missing = given(Path::new("/nonexistent/config.toml"));
    let err = resolve(&missing, None).unwrap_err().to_string();
    assert!(err.contains("/nonexistent/config.toml"), "{err}");
}

#[test]
fn token_file_is_read_trimmed_and_an_empty_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, "abc\n").unwrap();
    assert_eq!(Token::File(path.clone()).read().unwrap(), "abc");
    std::fs::write(&path, " \n").unwrap();
    assert!(matches!(
        Token::File(path).read(),
        Err(ProfileError::EmptyToken { .. })
    ));
    let gone = Token::File(dir.path().join("nope")).read().unwrap_err();
    assert!(gone.to_string().contains("nope"), "{gone}");
}
