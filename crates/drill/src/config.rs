use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use xregion_common::units;
use xregion_common::validate::{positive, Invalid, Validate};
use xregion_domain::Engine;

/// The catalog's bound on a drill's restore time.
const MAX_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);

xregion_common::service_config! {
    /// The common sections and `[drill]`.
    pub struct DrillConfig { drill: DrillSettings }
}

impl Validate for DrillConfig {
    fn validate(&self) -> Result<(), Invalid> {
        let s = &self.drill;
        positive("drill.interval_secs", s.interval)?;
        positive("drill.tick_secs", s.tick)?;
        positive("drill.timeout_secs", s.timeout)?;
        // The catalog refuses a restore time of a week or more: a longer
        // limit would let a slow drill be refused and repeated every tick.
        if s.timeout >= MAX_TIMEOUT {
            return Err(Invalid::new(
                "drill.timeout_secs",
                "must be less than 7 days (604800)",
            ));
        }
        for engine in &s.engines {
            // `xregion drill` restores into a MariaDB server only: an engine
            // it cannot drill would fail every drill of its services.
            if Engine::parse(engine) != Some(Engine::Mysql) {
                return Err(Invalid::new(
                    "drill.engines",
                    format!("{engine:?} cannot be drilled (xregion drill restores mysql only)"),
                ));
            }
        }
        Ok(())
    }
}

/// The `[drill]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DrillSettings {
    /// How long after a service's last drill it is drilled again.
    #[serde(rename = "interval_secs", with = "units::secs")]
    pub interval: Duration,
    /// How often the role looks for a service that is due; the due ones
    /// are then drilled one after another, the most overdue first.
    #[serde(rename = "tick_secs", with = "units::secs")]
    pub tick: Duration,
    /// The engines this deployment can drill (the `xregion drill` beside it
    /// needs their server: MariaDB for mysql).
    pub engines: Vec<String>,
    /// The `xregion` binary; unset: the one beside this executable.
    pub cli: Option<PathBuf>,
    /// A drill still running after this is killed and counts as failed.
    #[serde(rename = "timeout_secs", with = "units::secs")]
    pub timeout: Duration,
}

impl Default for DrillSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(24 * 3600),
            tick: Duration::from_secs(60),
            engines: vec!["mysql".into()],
            cli: None,
            timeout: Duration::from_secs(3600),
        }
    }
}

impl DrillSettings {
    /// The engines, parsed ([`Validate`] refused any other).
    pub fn engines(&self) -> Vec<Engine> {
        self.engines
            .iter()
            .filter_map(|e| Engine::parse(e))
            .collect()
    }

    /// The `xregion` binary to run.
    pub fn cli_path(&self) -> std::io::Result<PathBuf> {
        match &self.cli {
            Some(path) => Ok(path.clone()),
            None => Ok(std::env::current_exe()?.with_file_name("xregion")),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use xregion_common::config_cases::{each_refused_naming_its_key, load_set};

    #[test]
    fn limits_are_checked_at_load_naming_the_key() {
        each_refused_naming_its_key::<DrillConfig>(&[
            ("drill.interval_secs", "0"),
            ("drill.tick_secs", "0"),
            ("drill.timeout_secs", "0"),
            ("drill.timeout_secs", "604800"),
            ("drill.engines", "[\"oracle\"]"),
            ("drill.engines", "[\"mysql\", \"sqlserver\"]"),
            ("drill.nope", "1"),
        ])
        .unwrap();
        let cfg: DrillConfig = load_set("drill.timeout_secs", "604799").unwrap();
        assert_eq!(cfg.drill.timeout, Duration::from_secs(604_799));
        let cfg: DrillConfig = load_set("drill.interval_secs", "3600").unwrap();
        assert_eq!(cfg.drill.interval, Duration::from_secs(3600));
        assert_eq!(cfg.drill.engines(), [Engine::Mysql]);
    }
}
