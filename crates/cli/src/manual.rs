//! `xregion completions` and `xregion man`: the shell completion script and
//! the roff man pages, generated from the same clap definition that parses
//! the command line, so they cannot drift from it. Neither reads config or
//! connects anywhere.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap_complete::Shell;

#[derive(clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(clap::Args)]
pub struct ManArgs {
    /// Write one page per command (`xregion.1`, `xregion-update.1`,
    /// `xregion-admin-dead-letters-list.1`, …) into this directory instead
    /// of printing them all, concatenated, to stdout.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// Prints the completion script of `cmd` for `shell`.
pub fn completions(
    mut cmd: clap::Command,
    args: &CompletionsArgs,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let name = cmd.get_name().to_owned();
    // Into memory first: `generate` panics on a failed write (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, name, &mut script);
    out.write_all(&script)?;
    Ok(())
}

/// Renders the top page and one per subcommand (at any depth): to stdout
/// one after the other, or one file each under `--out-dir`.
pub fn man(cmd: clap::Command, args: &ManArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let pages = pages(cmd)?;
    let Some(dir) = &args.out_dir else {
        for (_, roff) in &pages {
            out.write_all(roff)?;
        }
        return Ok(());
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, roff) in &pages {
        let path = dir.join(format!("{name}.1"));
        std::fs::write(&path, roff).with_context(|| format!("writing {}", path.display()))?;
        writeln!(out, "{}", path.display())?;
    }
    Ok(())
}

/// (page name, roff) for `cmd` and each visible subcommand, named the git
/// way: `xregion-admin-dead-letters`.
fn pages(mut cmd: clap::Command) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    // Built so that global flags (`--endpoint`, `--output`) show on every page.
    cmd.build();
    let mut pages = Vec::new();
    collect(&cmd, &mut pages)?;
    Ok(pages)
}

fn collect(cmd: &clap::Command, pages: &mut Vec<(String, Vec<u8>)>) -> anyhow::Result<()> {
    // `build` gave each subcommand the display name `xregion-admin-…`.
    let name = cmd.get_display_name().unwrap_or(cmd.get_name()).to_owned();
    let mut roff = Vec::new();
    // Subcommands carry no version of their own: every page names the CLI's.
    clap_mangen::Man::new(cmd.clone())
        .source(concat!("xregion ", env!("CARGO_PKG_VERSION")))
        .render(&mut roff)?;
    pages.push((name, roff));
    for sub in cmd.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        collect(sub, pages)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // test code

    use clap::CommandFactory;

    use super::*;

    fn man_text(out_dir: Option<PathBuf>) -> String {
        let mut out = Vec::new();
        man(crate::Cli::command(), &ManArgs { out_dir }, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_visible_command_has_a_page() {
        let text = man_text(None);
        for name in [
            "xregion",
            "xregion-update",
            "xregion-restore",
            "xregion-admin-dead-letters-replay",
        ] {
            assert!(text.contains(&format!(".TH {name} ")), "no page for {name}");
        }
        assert!(!text.contains(".TH xregion-help "), "help got a page");
    }

    #[test]
    fn out_dir_gets_one_file_per_page() {
        let dir = tempfile::tempdir().unwrap();
        let listed = man_text(Some(dir.path().join("man1")));
        let update = dir.path().join("man1/xregion-update.1");
        assert!(listed.contains("xregion-update.1"), "{listed}");
        let page = std::fs::read_to_string(update).unwrap();
        assert!(page.contains(".TH xregion-update "), "{page}");
    }

    #[test]
    fn zsh_script_is_for_xregion() {
        let mut out = Vec::new();
        let args = CompletionsArgs { shell: Shell::Zsh };
        completions(crate::Cli::command(), &args, &mut out).unwrap();
        assert!(String::from_utf8(out)
            .unwrap()
            .starts_with("#compdef xregion"));
    }
}
