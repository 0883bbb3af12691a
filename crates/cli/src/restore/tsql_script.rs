//! `restore.sql` beside `plan.json` for a SQL Server plan: the T-SQL that
//! restores the downloaded `.bak`/`.trn` files up to the plan's stop, for
//! `sqlcmd -i` to run on the server that can read them.

use std::path::Path;

use anyhow::Context as _;
use xregion_domain::tsql::{restore_script, ScriptFile, ScriptInput};

use super::plan_json::PlanJson;

pub const FILE: &str = "restore.sql";

/// Writes `<into>/restore.sql` for `plan` and returns its path. Paths in it
/// are absolute: sqlcmd resolves them on the server, not here.
pub fn write(plan: &PlanJson, into: &Path, database: &str) -> anyhow::Result<std::path::PathBuf> {
    let dir = std::path::absolute(into)?;
    let dir = dir
        .to_str()
        .with_context(|| format!("{} is not UTF-8: T-SQL cannot name it", dir.display()))?;
    let files: Vec<ScriptFile> = plan
        .files
        .iter()
        .map(|f| ScriptFile {
            backup_id: f.backup_id.clone(),
            kind: f.kind,
            relative_path: f.relative_path.clone(),
        })
        .collect();
    let script = restore_script(&ScriptInput {
        database,
        stop_at: plan.stop_at_ms,
        dir,
        files: &files,
    })?;
    let path = into.join(FILE);
    std::fs::write(&path, script).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}
