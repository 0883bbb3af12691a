//! Local names of restored files, built only from a validated backup id and
//! validated path segments, so that nothing a store holds can make a
//! restore write outside `--into`.

use std::path::{Component, Path, PathBuf};

use xregion_domain::{ids, layout};

/// Folder below `--into` for files still downloading. Ids start with a
/// letter or digit, so no backup's folder can be called this.
pub const PARTIAL_DIR: &str = ".partial";

/// Where one file of a plan goes, and where it grows until verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalPaths {
    /// `<into>/<backup_id>/<path>`
    pub dest: PathBuf,
    /// `<into>/.partial/<backup_id>/<path>`
    pub partial: PathBuf,
}

pub fn local_paths(into: &Path, backup_id: &str, relative: &str) -> anyhow::Result<LocalPaths> {
    ids::validate_id("backup_id", backup_id)?;
    layout::check_backup_paths(&[relative])?;
    let below = relative
        .split('/')
        .fold(PathBuf::from(backup_id), |p, segment| p.join(segment));
    // Belt and braces: only plain names below `into`.
    anyhow::ensure!(
        below
            .components()
            .all(|c| matches!(c, Component::Normal(_))),
        "unsafe local path {below:?}"
    );
    Ok(LocalPaths {
        dest: into.join(&below),
        partial: into.join(PARTIAL_DIR).join(&below),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn files_land_below_into_by_backup_and_path() {
        let p = local_paths(Path::new("/r"), "b1", "stripe1/db.bak").unwrap();
        assert_eq!(p.dest, PathBuf::from("/r/b1/stripe1/db.bak"));
        assert_eq!(p.partial, PathBuf::from("/r/.partial/b1/stripe1/db.bak"));
    }

    #[test]
    fn nothing_can_point_outside_into() {
        for (id, rel) in [
            ("../../../../tmp/x", "f"),
            ("/etc", "f"),
            ("..", "f"),
            ("b", "../../x"),
            ("b", "/abs"),
            ("b", "a//b"),
            ("b", "."),
            ("b", ""),
            ("b", "C:\\x"),
        ] {
            assert!(
                local_paths(Path::new("/r"), id, rel).is_err(),
                "{id:?} {rel:?}"
            );
        }
    }
}
