//! `cargo xtask proto-check`: buf-style lint and breaking checks of
//! `proto/`, offline (protox parses the files in Rust; no buf, no protoc).
//! Lint exceptions live in `proto/lint-exceptions.txt`, one
//! `RULE ELEMENT  # why` a line; each must still match a violation, so the
//! list shrinks as the contract is fixed. The breaking check compares with
//! `proto/baseline.json` (`--write-baseline` records the tree as it is, for
//! a release or a deliberate, announced break).

mod breaking;
mod lint;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Context;
use prost_types::FileDescriptorProto;

#[derive(clap::Args)]
pub struct ProtoCheckArgs {
    /// Record the current contract as the baseline instead of checking.
    #[arg(long)]
    write_baseline: bool,
    /// The tree to check (default: the workspace's proto/).
    #[arg(long)]
    proto_dir: Option<PathBuf>,
}

fn proto_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto")
}

pub fn run(args: ProtoCheckArgs) -> anyhow::Result<()> {
    let dir = args.proto_dir.unwrap_or_else(proto_dir);
    let files = compile(&dir)?;
    let baseline = dir.join("baseline.json");
    if args.write_baseline {
        let text = serde_json::to_string_pretty(&breaking::summary(&files))?;
        std::fs::write(&baseline, text + "\n")?;
        eprintln!("proto-check: wrote {}", baseline.display());
        return Ok(());
    }
    let exceptions = std::fs::read_to_string(dir.join("lint-exceptions.txt")).unwrap_or_default();
    let mut problems = unexcepted(lint::lint(&files), &exceptions);
    let old: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&baseline)
            .with_context(|| format!("reading {}", baseline.display()))?,
    )?;
    problems.extend(
        breaking::breaking(&old, &breaking::summary(&files))
            .into_iter()
            .map(|b| format!("BREAKING {b}")),
    );
    for p in &problems {
        eprintln!("proto-check: {p}");
    }
    anyhow::ensure!(
        problems.is_empty(),
        "proto-check: {} problem(s)",
        problems.len()
    );
    eprintln!(
        "proto-check: {} files lint clean, nothing breaking",
        files.len()
    );
    Ok(())
}

/// Every `.proto` under `dir`, compiled with `dir` as the include root
/// (imports outside it: the well-known types protox carries).
pub fn compile(dir: &Path) -> anyhow::Result<Vec<FileDescriptorProto>> {
    let mut paths = Vec::new();
    collect(dir, &mut paths)?;
    paths.sort();
    let set = protox::Compiler::new([dir])?
        .include_imports(false)
        .open_files(&paths)
        .map_err(|e| anyhow::anyhow!("{e:?}"))?
        .file_descriptor_set();
    Ok(set.file)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "proto") {
            out.push(path);
        }
    }
    Ok(())
}

/// Violations not excepted, and exceptions that no longer match one.
fn unexcepted(violations: Vec<lint::Violation>, exceptions: &str) -> Vec<String> {
    let listed: BTreeSet<(String, String)> = exceptions
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .filter_map(|l| {
            let (rule, element) = l.split_once(char::is_whitespace)?;
            Some((rule.to_string(), element.trim().to_string()))
        })
        .collect();
    let mut used = BTreeSet::new();
    let mut out = Vec::new();
    for v in violations {
        let key = (v.rule.to_string(), v.element.clone());
        if listed.contains(&key) {
            used.insert(key);
        } else {
            out.push(format!("{} {}: {}", v.rule, v.element, v.message));
        }
    }
    for (rule, element) in listed.difference(&used) {
        out.push(format!(
            "stale exception {rule} {element}: remove it from lint-exceptions.txt"
        ));
    }
    out
}
