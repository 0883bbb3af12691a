//! The CLI's config file: named profiles (endpoint, CA, token file) so that
//! an operator switches gateways with `--profile` instead of three flags.
//!
//! Precedence, highest first: flag, environment variable, the selected
//! profile, the built-in default. The file is plain TOML read with serde's
//! `deny_unknown_fields` rather than the services' figment loader: there is
//! nothing to merge, and a misspelt key must be an error naming the key and
//! the file, not a silently ignored setting.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Where the gateway is when neither flag, environment nor profile says.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:50051";

/// Every failure here is the caller's setup, not the server's: exit status 2.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("no profile {name:?} in {path} (profiles: {known})")]
    NoProfile {
        name: String,
        path: String,
        known: String,
    },
    #[error("cannot read token file {path}: {source}")]
    TokenFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("token file {path} is empty")]
    EmptyToken { path: PathBuf },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    /// The profile used without `--profile`; `default` when unset.
    current: Option<String>,
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
}

#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub endpoint: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub token_file: Option<PathBuf>,
}

/// What the command line and environment said (clap merges a flag with its
/// variable, so each is one value here).
#[derive(Debug, Default)]
pub struct Given {
    pub config: Option<PathBuf>,
    pub profile: Option<String>,
    pub endpoint: Option<String>,
    pub token: Option<String>,
    pub ca_cert: Option<PathBuf>,
}

/// The bearer token: given literally, or a file read only when a command
/// connects (so a rotated token is picked up and never sits in argv).
#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    Literal(String),
    File(PathBuf),
}

#[derive(Debug, PartialEq)]
pub struct Resolved {
    pub endpoint: String,
    pub token: Option<Token>,
    pub ca_cert: Option<PathBuf>,
}

/// `$XDG_CONFIG_HOME/xregion/config.toml`, else `~/.config/xregion/config.toml`.
pub fn default_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("xregion").join("config.toml"))
}

/// Reads the file (a missing default file is no profiles; a missing file
/// named by `--config` is an error) and applies the precedence.
pub fn resolve(given: &Given, default: Option<&Path>) -> Result<Resolved, ProfileError> {
    let (path, file) = match (&given.config, default) {
        (Some(path), _) => (Some(path.clone()), Some(read(path)?)),
        (None, Some(path)) if path.exists() => (Some(path.to_path_buf()), Some(read(path)?)),
        _ => (None, None),
    };
    let profile = select(given, path.as_deref(), file.unwrap_or_default())?;
    // A relative file in a profile means relative to the config file, not
    // to wherever the command happens to run.
    let dir = path.as_deref().and_then(Path::parent);
    let anchor = |p: PathBuf| match dir {
        Some(d) if p.is_relative() => d.join(p),
        _ => p,
    };
    Ok(Resolved {
        endpoint: given
            .endpoint
            .clone()
            .or(profile.endpoint)
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string()),
        token: match &given.token {
            Some(t) => Some(Token::Literal(t.clone())),
            None => profile.token_file.map(|p| Token::File(anchor(p))),
        },
        ca_cert: given.ca_cert.clone().or(profile.ca_file.map(anchor)),
    })
}

fn read(path: &Path) -> Result<ConfigFile, ProfileError> {
    let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    // The message and line only: toml's own rendering quotes the offending
    // line, which may hold a secret pasted in the wrong place.
    toml::from_str(&text).map_err(|e: toml::de::Error| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        ProfileError::Parse {
            path: path.to_path_buf(),
            message: match line {
                Some(n) => format!("line {n}: {}", e.message()),
                None => e.message().to_string(),
            },
        }
    })
}

/// The named profile (an error when missing), else `current`, else
/// `default` when the file has one, else none.
fn select(
    given: &Given,
    path: Option<&Path>,
    mut file: ConfigFile,
) -> Result<Profile, ProfileError> {
    let (name, explicit) = match (&given.profile, &file.current) {
        (Some(n), _) => (n.clone(), true),
        (None, Some(n)) => (n.clone(), true),
        (None, None) => ("default".to_string(), false),
    };
    match file.profiles.remove(&name) {
        Some(p) => Ok(p),
        None if !explicit => Ok(Profile::default()),
        None => Err(ProfileError::NoProfile {
            name,
            path: path.map_or_else(|| "(no config file)".into(), |p| p.display().to_string()),
            known: if file.profiles.is_empty() {
                "none".into()
            } else {
                file.profiles.keys().cloned().collect::<Vec<_>>().join(", ")
            },
        }),
    }
}

impl Token {
    /// The token text; a file is read now, trimmed, and warned about when
    /// others can read it (a warning, not a refusal: some secret mounts
    /// cannot be made 0600).
    pub fn read(&self) -> Result<String, ProfileError> {
        let path = match self {
            Token::Literal(t) => return Ok(t.clone()),
            Token::File(path) => path,
        };
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::TokenFile {
            path: path.clone(),
            source,
        })?;
        warn_if_shared(path);
        let token = text.trim();
        if token.is_empty() {
            return Err(ProfileError::EmptyToken { path: path.clone() });
        }
        Ok(token.to_string())
    }
}

#[cfg(unix)]
fn warn_if_shared(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            eprintln!(
                "warning: token file {} is readable by group or others (mode {mode:o}); chmod 600 it",
                path.display()
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_shared(_path: &Path) {}

#[cfg(test)]
#[path = "profiles_tests.rs"]
mod tests;
