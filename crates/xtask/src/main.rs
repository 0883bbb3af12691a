//! `cargo xtask up`: the whole system on its embedded defaults.
//! `cargo xtask test`: installs what the tests need when missing, then runs them all.

mod proto_check;
mod tools;
mod up;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "xtask", about = "xregion developer commands")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the five services on embedded defaults (SQLite catalog, file://
    /// regions, a private nats-server) until Ctrl-C.
    Up(up::UpArgs),
    /// Install nats-server and garage when missing, build, run every test.
    Test {
        /// Extra arguments for cargo nextest (e.g. a test name filter).
        #[arg(trailing_var_arg = true)]
        args: Vec<String>,
    },
    /// Benchmarks (`transfer`: xregion against rclone and cp; `fleet`: the
    /// PostgreSQL catalog with 10,000 services and 1,000,000 copies; set
    /// XREGION_BENCH_SCALE to shrink the workload).
    Bench {
        #[arg(default_value = "transfer")]
        name: String,
    },
    /// buf-style lint and breaking checks of proto/, offline.
    ProtoCheck(proto_check::ProtoCheckArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Cmd::Up(args) => up::run(args),
        Cmd::Test { args } => test(&args),
        Cmd::Bench { name } => bench(&name),
        Cmd::ProtoCheck(args) => proto_check::run(args),
    }
}

fn bench(name: &str) -> anyhow::Result<()> {
    const KNOWN: [&str; 3] = ["transfer", "fleet", "wan"];
    anyhow::ensure!(
        KNOWN.contains(&name),
        "unknown benchmark {name:?} (known: {})",
        KNOWN.join(", ")
    );
    let env = vec![
        (
            "XREGION_NATS_SERVER".to_string(),
            tools::ensure_nats_server()?.display().to_string(),
        ),
        (
            "XREGION_GARAGE".to_string(),
            tools::ensure_garage()?.display().to_string(),
        ),
    ];
    if name == "transfer" || name == "wan" {
        tools::ensure_rclone()?;
    }
    let mut env = env;
    if let Some(url) = tools::local_postgres() {
        env.push(("DATABASE_URL".into(), url));
    }
    tools::cargo(&["build", "--release", "--workspace", "--bins"], &env)?;
    tools::cargo(&["bench", "-p", "xregion-tests", "--bench", name], &env)
}

fn test(extra: &[String]) -> anyhow::Result<()> {
    let nats = tools::ensure_nats_server()?;
    let garage = tools::ensure_garage()?;
    let mut env = vec![
        (
            "XREGION_NATS_SERVER".to_string(),
            nats.display().to_string(),
        ),
        ("XREGION_GARAGE".to_string(), garage.display().to_string()),
    ];
    if std::env::var("DATABASE_URL")
        .map(|v| v.is_empty())
        .unwrap_or(true)
    {
        if let Some(url) = tools::local_postgres() {
            eprintln!("xtask: using the PostgreSQL server at {url} (one database per test)");
            env.push(("DATABASE_URL".into(), url));
        } else {
            eprintln!("xtask: no DATABASE_URL and no local server: tests make throwaway clusters with initdb");
        }
    }
    tools::cargo(&["build", "--workspace", "--bins"], &env)?;
    if tools::has_nextest() {
        // nextest does not run doc tests (the catalog contract's
        // compile_fail example is one): run them first, on a full run only.
        if extra.is_empty() {
            tools::cargo(&["test", "--workspace", "--doc"], &env)?;
        }
        let mut args = vec!["nextest", "run", "--workspace", "--no-fail-fast"];
        args.extend(extra.iter().map(String::as_str));
        tools::cargo(&args, &env)
    } else {
        let mut args = vec!["test", "--workspace", "--no-fail-fast"];
        args.extend(extra.iter().map(String::as_str));
        tools::cargo(&args, &env)
    }
}
