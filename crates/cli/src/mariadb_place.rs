//! Where a physical restore builds the datadir and how it puts it in
//! place: a restore never overwrites data. The datadir must be missing or
//! empty; the copy is built in a fresh private folder beside it (inside
//! it when it is a mount point: a rename cannot leave a file system) and
//! moved in at the end by renames the kernel refuses over anything that
//! appeared meanwhile, which is then left as it is.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::mariadb_server::private_dir;

/// Refuses a datadir that holds anything (or is not a plain folder).
pub fn ensure_fresh(datadir: &Path) -> anyhow::Result<()> {
    let meta = match std::fs::symlink_metadata(datadir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        other => other.with_context(|| format!("reading {}", datadir.display()))?,
    };
    anyhow::ensure!(
        meta.is_dir(),
        "refusing to restore into {}: it is not a folder (give a new or empty folder)",
        datadir.display()
    );
    let mut entries =
        std::fs::read_dir(datadir).with_context(|| format!("reading {}", datadir.display()))?;
    anyhow::ensure!(
        entries.next().is_none(),
        "refusing to restore into {}: it is not empty (a restore never overwrites data; give a new or empty folder)",
        datadir.display()
    );
    Ok(())
}

/// `path` absolute with its existing ancestors' links resolved (the rest
/// as given, without `..`): where it really is.
fn resolved(path: &Path) -> anyhow::Result<PathBuf> {
    let abs = std::path::absolute(path)?;
    let mut existing = abs.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = existing.canonicalize() {
            return Ok(rest.iter().rev().fold(real, |p, name| p.join(name)));
        }
        let name = existing
            .file_name()
            .filter(|n| *n != "..")
            .ok_or_else(|| anyhow::anyhow!("give {} without ..", path.display()))?;
        rest.push(name.to_owned());
        existing = existing
            .parent()
            .ok_or_else(|| anyhow::anyhow!("{} has no existing folder", path.display()))?;
    }
}

/// Refuses a download folder and a datadir inside one another (links
/// resolved): the datadir would not be empty by the time the FULL is moved
/// into it, or the downloads would land in the restored data.
pub fn check_places(into: &Path, datadir: &Path) -> anyhow::Result<()> {
    let (into_real, datadir_real) = (resolved(into)?, resolved(datadir)?);
    anyhow::ensure!(
        !into_real.starts_with(&datadir_real) && !datadir_real.starts_with(&into_real),
        "--into {} and --mariadb-datadir {} are inside one another: download somewhere else",
        into.display(),
        datadir.display()
    );
    Ok(())
}

/// A fresh private (0700, like the datadir it becomes) folder to build
/// the copy of `datadir` (absolute) in: beside it, or inside it when it
/// is an existing mount point.
pub fn staging_dir(datadir: &Path) -> anyhow::Result<PathBuf> {
    let parent = datadir
        .parent()
        .ok_or_else(|| anyhow::anyhow!("{} has no parent folder", datadir.display()))?;
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let mounted = match (std::fs::metadata(datadir), std::fs::metadata(parent)) {
        (Ok(dir), Ok(up)) => dir.is_dir() && dir.dev() != up.dev(),
        _ => false,
    };
    private_dir(if mounted { datadir } else { parent }, ".xregion-datadir")
}

/// Moves the copy built in `staging` to `datadir`: one rename of the
/// folder (the kernel refuses it unless `datadir` is missing or an empty
/// folder by now), or, when `staging` is inside `datadir`, each entry
/// renamed without replacing anything, then `staging` removed. On failure
/// what was moved is taken back out (it is ours); `staging` is left for
/// the caller to remove.
pub fn place(staging: &Path, datadir: &Path) -> anyhow::Result<()> {
    let refused = || {
        format!(
            "moving the restored datadir into place: {} was to be new or empty and no longer is; left as it is",
            datadir.display()
        )
    };
    if staging.parent() != Some(datadir) {
        return std::fs::rename(staging, datadir).with_context(refused);
    }
    let (from, to) = (std::fs::File::open(staging)?, std::fs::File::open(datadir)?);
    let names = std::fs::read_dir(staging)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut moved = Vec::new();
    for name in &names {
        let renamed = nix::fcntl::renameat2(
            &from,
            name.as_os_str(),
            &to,
            name.as_os_str(),
            nix::fcntl::RenameFlags::RENAME_NOREPLACE,
        );
        if let Err(e) = renamed {
            for back in &moved {
                let _ = nix::fcntl::renameat2(
                    &to,
                    *back,
                    &from,
                    *back,
                    nix::fcntl::RenameFlags::RENAME_NOREPLACE,
                );
            }
            return Err(anyhow::Error::new(e).context(refused()));
        }
        moved.push(name.as_os_str());
    }
    std::fs::remove_dir(staging).with_context(|| format!("removing {}", staging.display()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn only_a_new_or_empty_folder_is_fresh() {
        let dir = tempfile::tempdir().unwrap();
        ensure_fresh(&dir.path().join("absent")).unwrap();
        ensure_fresh(dir.path()).unwrap();
        std::fs::write(dir.path().join("ibdata1"), b"x").unwrap();
        let err = ensure_fresh(dir.path()).unwrap_err().to_string();
        assert!(err.contains("not empty"), "{err}");
        let err = ensure_fresh(&dir.path().join("ibdata1"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a folder"), "{err}");
        assert_eq!(std::fs::read(dir.path().join("ibdata1")).unwrap(), b"x");
    }

    #[test]
    fn download_folder_and_datadir_cannot_be_inside_one_another() {
        let err = check_places(Path::new("/r/data/files"), Path::new("/r/data"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("inside one another"), "{err}");
        assert!(check_places(Path::new("/r/data"), Path::new("/r/data")).is_err());
        assert!(check_places(Path::new("/r"), Path::new("/r/data")).is_err());
        check_places(Path::new("/r/files"), Path::new("/r/data")).unwrap();
        check_places(Path::new("/r/database"), Path::new("/r/data")).unwrap();
        // Through a link: the folder it names counts.
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::os::unix::fs::symlink(&data, dir.path().join("link")).unwrap();
        assert!(check_places(&dir.path().join("link/files"), &data).is_err());
        assert!(check_places(&dir.path().join("files"), &dir.path().join("link")).is_ok());
        assert!(check_places(&dir.path().join("link"), &dir.path().join("link/x/../y")).is_err());
    }

    #[test]
    fn the_restored_folder_takes_the_place_of_a_missing_or_empty_datadir_only() {
        let dir = tempfile::tempdir().unwrap();
        let staged = || {
            let s = private_dir(dir.path(), ".xregion-datadir").unwrap();
            std::fs::write(s.join("ibdata1"), b"restored").unwrap();
            s
        };
        let missing = dir.path().join("new");
        place(&staged(), &missing).unwrap();
        assert_eq!(std::fs::read(missing.join("ibdata1")).unwrap(), b"restored");

        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        place(&staged(), &empty).unwrap();
        assert_eq!(std::fs::read(empty.join("ibdata1")).unwrap(), b"restored");

        // Someone wrote into the datadir during the restore: theirs stays.
        let gained = dir.path().join("gained");
        std::fs::create_dir(&gained).unwrap();
        std::fs::write(gained.join("theirs"), b"someone's").unwrap();
        let s = staged();
        let err = format!("{:#}", place(&s, &gained).unwrap_err());
        assert!(err.contains("no longer is"), "{err}");
        assert_eq!(std::fs::read(gained.join("theirs")).unwrap(), b"someone's");
        assert_eq!(std::fs::read_dir(&gained).unwrap().count(), 1);
        assert!(
            s.exists(),
            "the restored folder is left for restore() to remove"
        );
    }

    #[test]
    fn into_a_mount_point_entries_move_one_by_one_and_never_replace() {
        // A mount point cannot be made here: the inside layout is used directly.
        let dir = tempfile::tempdir().unwrap();
        let datadir = dir.path().join("mnt");
        std::fs::create_dir(&datadir).unwrap();
        let staging = private_dir(&datadir, ".xregion-datadir").unwrap();
        std::fs::write(staging.join("ibdata1"), b"restored").unwrap();
        std::fs::create_dir(staging.join("shop")).unwrap();
        place(&staging, &datadir).unwrap();
        assert!(!staging.exists());
        assert_eq!(std::fs::read(datadir.join("ibdata1")).unwrap(), b"restored");
        assert!(datadir.join("shop").is_dir());

        let datadir = dir.path().join("mnt2");
        std::fs::create_dir(&datadir).unwrap();
        let staging = private_dir(&datadir, ".xregion-datadir").unwrap();
        std::fs::write(staging.join("aria_log_control"), b"restored").unwrap();
        std::fs::write(staging.join("ibdata1"), b"restored").unwrap();
        std::fs::write(datadir.join("ibdata1"), b"someone's").unwrap();
        let err = format!("{:#}", place(&staging, &datadir).unwrap_err());
        assert!(err.contains("no longer is"), "{err}");
        assert_eq!(
            std::fs::read(datadir.join("ibdata1")).unwrap(),
            b"someone's"
        );
        assert!(!datadir.join("aria_log_control").exists(), "taken back out");
        assert_eq!(std::fs::read_dir(&staging).unwrap().count(), 2);
    }

    #[test]
    fn the_copy_is_built_beside_a_datadir_on_the_same_file_system() {
        let dir = tempfile::tempdir().unwrap();
        let datadir = dir.path().join("a/data");
        let staging = staging_dir(&datadir).unwrap();
        assert_eq!(staging.parent(), datadir.parent());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&staging).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
