//! The tokens file and the JWKS file: read at start (an unusable file stops
//! the gateway), then checked every `reload_interval_ms`. A changed file
//! replaces its list; a file that cannot be read or parsed is logged and the
//! current list stays, so a half-written file never locks everyone out.

use std::path::{Path, PathBuf};

use super::jwt::{JwksError, JwtPolicy, KeySet};
use super::tokens::{parse_tokens_file, TokenError};
use super::Authenticator;
use crate::config::GatewaySettings;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("tokens file {path}: {source}")]
    TokensFile { path: PathBuf, source: TokenError },
    #[error("gateway.tokens: {0}")]
    Tokens(#[from] TokenError),
    #[error("JWKS file {path}: {source}")]
    Jwks { path: PathBuf, source: JwksError },
    #[error("{0}")]
    Config(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tokens,
    Jwks,
}

#[derive(Debug)]
struct Source {
    kind: Kind,
    path: PathBuf,
    /// The bytes last applied or refused: unchanged bytes are not parsed again.
    seen: Vec<u8>,
    /// The last read error, so a missing file is logged once, not every poll.
    read_error: Option<String>,
}

/// Keeps the authenticator's lists in step with their files.
#[derive(Debug)]
pub struct Reloader {
    auth: Authenticator,
    sources: Vec<Source>,
}

fn read(path: &Path) -> Result<Vec<u8>, LoadError> {
    std::fs::read(path).map_err(|source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn keys_of(path: &Path, bytes: &[u8]) -> Result<KeySet, LoadError> {
    let text = String::from_utf8_lossy(bytes);
    let (keys, skipped) = KeySet::parse(&text).map_err(|source| LoadError::Jwks {
        path: path.to_path_buf(),
        source,
    })?;
    for s in skipped {
        tracing::warn!(path = %path.display(), key = %s, "jwks key skipped");
    }
    Ok(keys)
}

fn tokens_of(path: &Path, bytes: &[u8]) -> Result<Vec<crate::TokenConfig>, LoadError> {
    parse_tokens_file(&String::from_utf8_lossy(bytes)).map_err(|source| LoadError::TokensFile {
        path: path.to_path_buf(),
        source,
    })
}

/// Builds the authenticator from the settings and the files they name.
pub fn load(settings: &GatewaySettings) -> Result<(Authenticator, Reloader), LoadError> {
    let mut sources = Vec::new();
    let mut from_file = Vec::new();
    if let Some(path) = &settings.tokens_file {
        let bytes = read(path)?;
        from_file = tokens_of(path, &bytes)?;
        sources.push(Source {
            kind: Kind::Tokens,
            path: path.clone(),
            seen: bytes,
            read_error: None,
        });
    }
    let jwt = match &settings.jwt.jwks_file {
        Some(path) => {
            let policy = JwtPolicy::from_settings(&settings.jwt).map_err(LoadError::Config)?;
            let bytes = read(path)?;
            let keys = keys_of(path, &bytes)?;
            sources.push(Source {
                kind: Kind::Jwks,
                path: path.clone(),
                seen: bytes,
                read_error: None,
            });
            Some((policy, keys))
        }
        None => None,
    };
    let auth = Authenticator::new(&settings.tokens, &from_file, jwt).map_err(|e| {
        match &settings.tokens_file {
            // A conflict may involve the file's tokens: name it.
            Some(path) => LoadError::TokensFile {
                path: path.clone(),
                source: e,
            },
            None => LoadError::Tokens(e),
        }
    })?;
    Ok((auth.clone(), Reloader { auth, sources }))
}

impl Reloader {
    pub fn watches_files(&self) -> bool {
        !self.sources.is_empty()
    }

    /// Checks every file once and applies what changed.
    pub fn poll(&mut self) {
        for source in &mut self.sources {
            let bytes = match read(&source.path) {
                Ok(b) => b,
                Err(e) => {
                    let text = e.to_string();
                    if source.read_error.as_deref() != Some(text.as_str()) {
                        tracing::warn!(error = %text, "reload failed; keeping the current list");
                        source.read_error = Some(text);
                    }
                    continue;
                }
            };
            source.read_error = None;
            if bytes == source.seen {
                continue;
            }
            let path = source.path.display().to_string();
            let applied = match source.kind {
                Kind::Tokens => tokens_of(&source.path, &bytes).and_then(|t| {
                    let n =
                        self.auth
                            .replace_file_tokens(&t)
                            .map_err(|e| LoadError::TokensFile {
                                path: source.path.clone(),
                                source: e,
                            })?;
                    tracing::info!(%path, tokens = n, "tokens reloaded");
                    Ok(())
                }),
                Kind::Jwks => keys_of(&source.path, &bytes).map(|keys| {
                    tracing::info!(%path, keys = keys.len(), "jwks reloaded");
                    self.auth.replace_keys(keys);
                }),
            };
            if let Err(error) = applied {
                tracing::warn!(%error, "reload failed; keeping the current list");
            }
            source.seen = bytes;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use tonic::metadata::MetadataMap;

    use super::*;
    use crate::auth::token_hash;

    fn md(token: &str) -> MetadataMap {
        let mut m = MetadataMap::new();
        m.insert("authorization", format!("Bearer {token}").parse().unwrap());
        m
    }

    fn tokens_toml(pairs: &[(&str, &str)]) -> String {
        pairs
            .iter()
            .map(|(t, tenant)| {
                format!(
                    "[[tokens]]\nsha256 = \"{}\"\ntenant = \"{tenant}\"\n",
                    token_hash(t)
                )
            })
            .collect()
    }

    #[test]
    fn a_changed_tokens_file_applies_and_a_broken_one_keeps_the_current_list() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.toml");
        std::fs::write(&path, tokens_toml(&[("one", "acme")])).unwrap();
        let settings = GatewaySettings {
            tokens_file: Some(path.clone()),
            ..Default::default()
        };
        let (auth, mut reloader) = load(&settings).unwrap();
        assert_eq!(auth.tenant(&md("one")).unwrap(), "acme");

        std::fs::write(&path, tokens_toml(&[("two", "globex")])).unwrap();
        reloader.poll();
        assert!(auth.tenant(&md("one")).is_err());
        assert_eq!(auth.tenant(&md("two")).unwrap(), "globex");

        for broken in [
            "tokens = [",
            "[[tokens]]\nsha256 = \"abc\"\ntenant = \"x\"\n",
        ] {
            std::fs::write(&path, broken).unwrap();
            reloader.poll();
            assert_eq!(auth.tenant(&md("two")).unwrap(), "globex");
        }
        std::fs::remove_file(&path).unwrap();
        reloader.poll();
        assert_eq!(auth.tenant(&md("two")).unwrap(), "globex");
    }

    #[test]
    fn unusable_files_stop_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let missing = GatewaySettings {
            tokens_file: Some(dir.path().join("absent.toml")),
            ..Default::default()
        };
        assert!(matches!(load(&missing), Err(LoadError::Read { .. })));
        let jwks = dir.path().join("jwks.json");
        std::fs::write(&jwks, r#"{"keys": []}"#).unwrap();
        let mut settings = GatewaySettings::default();
        settings.jwt.jwks_file = Some(jwks.clone());
        assert!(matches!(load(&settings), Err(LoadError::Config(_))));
        settings.jwt.issuer = "https://idp".into();
        settings.jwt.audience = "xregion".into();
        assert!(matches!(load(&settings), Err(LoadError::Jwks { .. })));
    }
}
