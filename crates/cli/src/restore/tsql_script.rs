//! `restore.sql` beside `plan.json` for a SQL Server plan: the T-SQL that
//! restores the downloaded `.bak`/`.trn` files up to the plan's stop, for
//! `sqlcmd -i` to run on the server that can read them.

use std::path::Path;

use anyhow::Context as _;
use xregion_domain::tsql::{restore_script, ScriptFile, ScriptInput};

use super::plan_json::PlanJson;

pub const FILE: &str = "restore.sql";

/// Writes `<into>/restore.sql` for `plan` and returns its path. Paths in it
/// are where the files landed, absolute: sqlcmd resolves them on the
/// server, not here.
pub fn write(plan: &PlanJson, into: &Path, database: &str) -> anyhow::Result<std::path::PathBuf> {
    let files = plan
        .files
        .iter()
        .map(|f| {
            let path = std::path::absolute(&f.path)?;
            let path = path
                .to_str()
                .with_context(|| format!("{} is not UTF-8: T-SQL cannot name it", path.display()))?
                .to_owned();
            Ok(ScriptFile {
                backup_id: f.backup_id.clone(),
                kind: f.kind,
                path,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let script = restore_script(&ScriptInput {
        database,
        stop_at: plan.stop_at_ms,
        files: &files,
    })?;
    let path = into.join(FILE);
    std::fs::write(&path, script).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}
