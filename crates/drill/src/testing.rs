//! What the unit tests share: fake `xregion` scripts.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// One test at a time writes and runs scripts: a script still open for
/// writing in one test while another forks cannot be executed (ETXTBSY), a
/// race of the tests, not of the role.
pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// An executable shell script `dir/fake-xregion` running `body`.
#[allow(clippy::unwrap_used)]
pub fn script(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("fake-xregion");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}
