//! Secrets read from files (`*_file` keys), so that they need not sit in a
//! configuration file, an environment variable or a command line.

use std::path::Path;

use crate::error::{Error, Result};

/// The secret in `path`, for the configuration key `key` (named in the
/// error). One trailing line break is dropped (files written by `echo` or
/// by container secret mounts end with one); an empty file is an error.
pub fn read_secret_file(key: &str, path: &Path) -> Result<String> {
    let fail = |reason: String| Error::SecretFile {
        key: key.to_string(),
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let secret = text
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(&text);
    if secret.is_empty() {
        return Err(fail("the file is empty".into()));
    }
    Ok(secret.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_without_the_trailing_line_break() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        std::fs::write(&path, "p@ss word\r\n").unwrap();
        assert_eq!(read_secret_file("k", &path).unwrap(), "p@ss word");
        std::fs::write(&path, "two\n\n").unwrap();
        assert_eq!(read_secret_file("k", &path).unwrap(), "two\n");
    }

    #[test]
    fn a_missing_or_empty_file_names_the_key_and_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let err = read_secret_file("catalog.database_url_file", &missing)
            .unwrap_err()
            .to_string();
        assert!(err.contains("catalog.database_url_file"), "{err}");
        assert!(err.contains("nope"), "{err}");
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        let err = read_secret_file("x_file", &empty).unwrap_err().to_string();
        assert!(err.contains("empty") && err.contains("x_file"), "{err}");
    }
}
