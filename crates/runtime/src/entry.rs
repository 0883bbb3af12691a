//! From `main` to a running service and back to an exit code.

use std::future::Future;
use std::process::ExitCode;

use clap::{Arg, ArgMatches, Args, Command, FromArgMatches};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use xregion_bus::Bus;
use xregion_common::CommonArgs;
use xregion_telemetry::Health;

use crate::error::{Result, ServiceError};
use crate::host::ServiceHost;
use crate::{Context, HasCommon};

/// A service binary: its name, its one-line description, and the flags it
/// has besides the common ones.
pub struct Binary {
    pub name: &'static str,
    pub about: &'static str,
    pub flags: &'static [Flag],
}

/// A flag that overrides one configuration key (`--grpc-listen` →
/// `gateway.listen`).
pub struct Flag {
    pub long: &'static str,
    pub key: &'static str,
    pub help: &'static str,
}

impl Binary {
    fn command(&self) -> Command {
        let mut cmd = CommonArgs::augment_args(
            Command::new(self.name)
                .about(self.about)
                .version(env!("CARGO_PKG_VERSION")),
        );
        for flag in self.flags {
            cmd = cmd.arg(
                Arg::new(flag.long)
                    .long(flag.long)
                    .value_name("VALUE")
                    .help(flag.help),
            );
        }
        cmd
    }

    fn overrides(&self, matches: &ArgMatches) -> Vec<(String, String)> {
        self.flags
            .iter()
            .filter_map(|f| {
                matches
                    .get_one::<String>(f.long)
                    .map(|v| (f.key.to_string(), v.clone()))
            })
            .collect()
    }
}

/// The whole `main` of a service binary.
pub fn service_main<C, F, Fut>(binary: Binary, run: F) -> ExitCode
where
    C: Serialize + DeserializeOwned + Default + HasCommon + xregion_common::Validate,
    F: FnOnce(Context<C>) -> Fut,
    Fut: Future<Output = std::result::Result<(), ServiceError>>,
{
    let matches = binary.command().get_matches();
    let args = match CommonArgs::from_arg_matches(&matches) {
        Ok(args) => args,
        Err(error) => error.exit(),
    };
    let extra = binary.overrides(&matches);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("Error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run_service(binary.name, &args, extra, run)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("Error: {}", chain(&error));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, as an operator reads them.
fn chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

/// Loads the configuration, starts telemetry and the health endpoint,
/// connects to the bus, runs the service and tears everything down.
pub async fn run_service<C, F, Fut>(
    name: &'static str,
    args: &CommonArgs,
    extra_overrides: Vec<(String, String)>,
    run: F,
) -> Result<()>
where
    C: Serialize + DeserializeOwned + Default + HasCommon + xregion_common::Validate,
    F: FnOnce(Context<C>) -> Fut,
    Fut: Future<Output = std::result::Result<(), ServiceError>>,
{
    let mut overrides = args.overrides();
    overrides.extend(extra_overrides);
    let config: C = xregion_common::load(args.config.as_deref(), &overrides)?;
    if args.dump_config {
        print!("{}", xregion_common::config::dump(&config)?);
        return Ok(());
    }
    let common = config.common().clone();
    let telemetry = xregion_telemetry::init(name, &common.telemetry)?;
    let shutdown = xregion_common::shutdown::on_signal();
    let health = Health::default();
    let http_stop = CancellationToken::new();
    let http =
        xregion_telemetry::serve_http(&common.http.listen, name, health.clone(), http_stop.clone())
            .await?;
    xregion_bus::metrics::describe();
    let result = async {
        let (client, ns) = xregion_bus::bootstrap(&common.bus, name).await?;
        let bus = Bus::new(client, ns, &common.bus);
        let host = ServiceHost::new(
            name,
            bus.clone(),
            health,
            xregion_common::clock::system(),
            shutdown,
        );
        run(Context { config, bus, host }).await
    }
    .await;
    if let Err(error) = &result {
        tracing::error!(error = %chain(error), "service failed");
    }
    http_stop.cancel();
    let _ = http.task.await;
    telemetry.shutdown();
    result
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    const BINARY: Binary = Binary {
        name: "xregion-test",
        about: "a test binary",
        flags: &[Flag {
            long: "grpc-listen",
            key: "gateway.listen",
            help: "gRPC listen address",
        }],
    };

    #[test]
    fn extra_flags_become_overrides_after_the_common_ones() {
        let matches = BINARY
            .command()
            .try_get_matches_from([
                "xregion-test",
                "--grpc-listen",
                "127.0.0.1:1",
                "--set",
                "worker.log_concurrency=8",
            ])
            .expect("parses");
        let args = CommonArgs::from_arg_matches(&matches).expect("common args");
        assert_eq!(
            args.overrides(),
            vec![("worker.log_concurrency".into(), "8".into())]
        );
        assert_eq!(
            BINARY.overrides(&matches),
            vec![("gateway.listen".into(), "127.0.0.1:1".into())]
        );
    }

    #[test]
    fn an_unknown_flag_is_refused() {
        assert!(BINARY
            .command()
            .try_get_matches_from(["xregion-test", "--no-such-flag"])
            .is_err());
    }

    #[test]
    fn the_error_chain_is_one_line_without_repeats() {
        let inner = std::io::Error::other("disk gone");
        let outer = ServiceError::other(inner);
        assert_eq!(chain(&outer), "disk gone");
    }
}
