//! Which configuration values are secrets, and how they are hidden wherever
//! a configuration is shown (`--dump-config`, `Debug`). Pure: no I/O.
//!
//! A value is a secret when its key names one (`password`, `secret`,
//! `token`, ...), or it is the password of a URL (`postgres://u:pw@h/db`), or
//! a secret-named query parameter of a URL (`?password=...`). Keys ending in
//! `_file` hold the path of a file with the secret, not the secret: they are
//! shown, so an operator can see where a secret comes from.

use url::Url;

/// What a hidden value is replaced with.
pub const REDACTED: &str = "<redacted>";
/// What a URL's hidden password or query value is replaced with (URL-safe).
const REDACTED_IN_URL: &str = "redacted";

const SECRET_WORDS: [&str; 6] = [
    "password",
    "passwd",
    "secret",
    "token",
    "private_key",
    "account_key",
];

/// Whether the value of `key` is a secret (by its name).
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    if key.ends_with("_file") || key.ends_with("_files") {
        return false;
    }
    SECRET_WORDS.iter().any(|w| key.contains(w))
}

/// `text` with the credentials of a URL hidden: the password, a NATS
/// token (a user name without password), secret-named query parameters.
/// Anything that is not such a URL comes back unchanged.
pub fn redact_url(text: &str) -> String {
    if !text.contains("://") {
        return text.to_string();
    }
    // A cluster's node list (`bus.url`): each node's URL on its own.
    let parts: Vec<&str> = text.split(',').collect();
    if parts.len() > 1 && parts.iter().all(|p| p.contains("://")) {
        return parts
            .iter()
            .map(|p| redact_url(p))
            .collect::<Vec<_>>()
            .join(",");
    }
    let Ok(mut url) = Url::parse(text) else {
        // Not a URL the parser takes (a PostgreSQL multi-host list, say):
        // its user information is hidden all the same.
        return redact_authority(text);
    };
    let mut changed = false;
    if url.password().is_some() {
        changed |= url.set_password(Some(REDACTED_IN_URL)).is_ok();
    } else if is_nats_scheme(url.scheme()) && !url.username().is_empty() {
        // `nats://<token>@host`: the user name is the token.
        changed |= url.set_username(REDACTED_IN_URL).is_ok();
    }
    if url.query_pairs().any(|(k, _)| is_secret_key(&k)) {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if is_secret_key(&k) {
                    REDACTED_IN_URL.to_string()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
        changed = true;
    }
    if changed {
        url.to_string()
    } else {
        text.to_string()
    }
}

/// `scheme://user:password@hosts...` with the password hidden (or the whole
/// user information of a NATS token), read as text: for URLs `Url` refuses.
fn redact_authority(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((userinfo, hosts)) = authority.rsplit_once('@') else {
        return text.to_string();
    };
    let userinfo = match userinfo.split_once(':') {
        Some((user, _)) => format!("{user}:{REDACTED_IN_URL}"),
        None if is_nats_scheme(scheme) => REDACTED_IN_URL.to_string(),
        None => userinfo.to_string(),
    };
    format!("{scheme}://{userinfo}@{hosts}{tail}")
}

fn is_nats_scheme(scheme: &str) -> bool {
    matches!(scheme, "nats" | "tls" | "ws" | "wss")
}

/// Hides every secret in a configuration tree, in place.
pub fn redact_toml(value: &mut toml::Value) {
    match value {
        toml::Value::Table(table) => {
            for (key, item) in table.iter_mut() {
                if is_secret_key(key) {
                    redact_all_strings_shallow(item);
                } else {
                    redact_toml(item);
                }
            }
        }
        toml::Value::Array(items) => items.iter_mut().for_each(redact_toml),
        toml::Value::String(text) => *text = redact_url(text),
        _ => {}
    }
}

/// The value of a secret key: a string, or strings in a list, are hidden;
/// tables inside it are judged by their own keys (`gateway.tokens` is a
/// list of `{ sha256, tenant }`, neither a secret).
fn redact_all_strings_shallow(value: &mut toml::Value) {
    match value {
        toml::Value::String(text) if !text.is_empty() => *text = REDACTED.to_string(),
        toml::Value::Array(items) => items.iter_mut().for_each(redact_all_strings_shallow),
        other => redact_toml(other),
    }
}

/// `Debug` of a serializable value with its secrets hidden: the value as
/// `--dump-config` would show it, after `name`.
pub fn debug_redacted<T: serde::Serialize>(
    f: &mut std::fmt::Formatter<'_>,
    name: &str,
    value: &T,
) -> std::fmt::Result {
    match toml::Value::try_from(value) {
        Ok(mut tree) => {
            redact_toml(&mut tree);
            write!(f, "{name} {tree}")
        }
        Err(_) => write!(f, "{name} {{ .. }}"),
    }
}

/// A map of options as `Debug` shows it: secret values hidden.
pub fn options_for_debug<'a>(
    options: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Vec<(&'a str, String)> {
    options
        .into_iter()
        .map(|(k, v)| {
            let shown = if is_secret_key(k) {
                REDACTED.to_string()
            } else {
                redact_url(v)
            };
            (k.as_str(), shown)
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys_by_name_but_not_their_files() {
        for key in [
            "aws_secret_access_key",
            "aws_session_token",
            "password",
            "DB_PASSWORD",
            "azure_storage_account_key",
            "tls_private_key",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in [
            "aws_access_key_id",
            "aws_secret_access_key_file",
            "password_file",
            "database_url",
            "url",
            "key_file",
        ] {
            assert!(!is_secret_key(key), "{key}");
        }
    }

    #[test]
    fn url_passwords_and_secret_parameters_are_hidden() {
        assert_eq!(
            redact_url("postgres://xregion:hunter2@db:5432/xr?sslmode=verify-full"),
            "postgres://xregion:redacted@db:5432/xr?sslmode=verify-full"
        );
        let u = redact_url("postgres://db/xr?user=x&password=hunter2&sslmode=require");
        assert!(!u.contains("hunter2"), "{u}");
        assert!(u.contains("sslmode=require") && u.contains("user=x"), "{u}");
        assert_eq!(redact_url("nats://s3cr3t@n:4222"), "nats://redacted@n:4222");
        assert_eq!(
            redact_url("nats://user:pw@n:4222"),
            "nats://user:redacted@n:4222"
        );
        // A cluster's node list, and a multi-host URL the parser refuses.
        assert_eq!(
            redact_url("nats://a:pw1@n1:4222,nats://b:pw2@n2:4222,nats://n3:4222"),
            "nats://a:redacted@n1:4222,nats://b:redacted@n2:4222,nats://n3:4222"
        );
        assert_eq!(
            redact_url("postgres://xr:hunter2@h1:5432,h2:5432/xr?sslmode=verify-full"),
            "postgres://xr:redacted@h1:5432,h2:5432/xr?sslmode=verify-full"
        );
        assert_eq!(redact_url("nats://tok3n@n1,n2"), "nats://redacted@n1,n2");
        for plain in [
            "nats://n1:4222,nats://n2:4222",
            "postgres://xr@h1,h2/xr",
            "sqlite://x.db?mode=rwc",
            "nats://127.0.0.1:4222",
            "postgres://xregion@db/xr",
            "not a url",
            "",
        ] {
            assert_eq!(redact_url(plain), plain);
        }
    }

    #[test]
    fn a_configuration_tree_keeps_no_secret() {
        let mut v: toml::Value = toml::from_str(
            r#"
            [bus]
            url = "nats://svc:natspw@n:4222"
            password_file = "/run/secrets/nats"
            [catalog]
            database_url = "postgres://xregion:dbpw@db/xr"
            [gateway]
            tokens = [{ sha256 = "abc", tenant = "t1" }]
            [[regions]]
            id = "r1"
            options = { aws_access_key_id = "AKID", aws_secret_access_key = "s3pw", aws_session_token = "sessval" }
            [other]
            api_token = ["t1", "t2"]
            "#,
        )
        .unwrap();
        redact_toml(&mut v);
        let text = toml::to_string(&v).unwrap();
        for secret in ["natspw", "dbpw", "s3pw", "sessval", "\"t1\", \"t2\""] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        for shown in ["/run/secrets/nats", "AKID", "abc", "tenant = \"t1\""] {
            assert!(text.contains(shown), "{shown} missing in {text}");
        }
    }
}
