//! Gauge families whose series are replaced as a whole at each refresh (the
//! catalog's per-service lag and state). The `metrics` facade can add a
//! series but never forget one, and a deleted service's last lag must not
//! stay on `/metrics` for ever, firing alerts about a service that is gone.

use std::fmt::Write;
use std::sync::{Arc, Mutex, OnceLock};

/// One series: its labels (name, value) and its value.
pub type Series = (Vec<(&'static str, String)>, f64);

pub struct GaugeFamily {
    name: &'static str,
    help: &'static str,
    /// Each series' labels already in text form (`,name="escaped value"…`),
    /// escaped once when stored rather than at every scrape.
    series: Mutex<Vec<(String, f64)>>,
}

fn families() -> &'static Mutex<Vec<Arc<GaugeFamily>>> {
    static FAMILIES: OnceLock<Mutex<Vec<Arc<GaugeFamily>>>> = OnceLock::new();
    FAMILIES.get_or_init(Default::default)
}

/// The family `name`, registered for `/metrics` on first use (with no
/// series, so only its HELP and TYPE show until the first refresh).
pub fn gauge_family(name: &'static str, help: &'static str) -> Arc<GaugeFamily> {
    let mut all = families().lock().unwrap_or_else(|p| p.into_inner());
    if let Some(f) = all.iter().find(|f| f.name == name) {
        return f.clone();
    }
    let family = Arc::new(GaugeFamily {
        name,
        help,
        series: Mutex::new(Vec::new()),
    });
    all.push(family.clone());
    family
}

impl GaugeFamily {
    /// Replaces every series: what is not in `series` is no longer exported.
    pub fn replace(&self, series: Vec<Series>) {
        let series = series
            .into_iter()
            .map(|(labels, value)| {
                let mut text = String::new();
                for (name, value) in labels {
                    let _ = write!(text, ",{name}=\"{}\"", escape(&value));
                }
                (text, value)
            })
            .collect();
        *self.series.lock().unwrap_or_else(|p| p.into_inner()) = series;
    }

    /// `global` is the global label in text form (`service="catalog"`).
    fn render(&self, out: &mut String, global: &str) {
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} gauge", self.name);
        let series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        for (labels, value) in series.iter() {
            let _ = writeln!(out, "{}{{{global}{labels}}} {value}", self.name);
        }
        out.push('\n');
    }
}

/// Every registered family in Prometheus text, each series with the
/// exporter's global label (`service="<binary>"`) first, as the others have.
pub(crate) fn render(global: (&str, &str)) -> String {
    let global = format!("{}=\"{}\"", global.0, escape(global.1));
    let mut out = String::new();
    for family in families().lock().unwrap_or_else(|p| p.into_inner()).iter() {
        family.render(&mut out, &global);
    }
    out
}

/// Label values as the text format wants them: `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_family_renders_only_its_new_series() {
        let f = gauge_family("xregion_test_series_gauge", "a test gauge");
        f.replace(vec![
            (vec![("id", "a".into())], 1.0),
            (vec![("id", "b\"c".into())], 2.5),
        ]);
        f.replace(vec![(vec![("id", "b\"c".into())], 3.0)]);
        let text = render(("service", "catalog"));
        assert!(text.contains("# HELP xregion_test_series_gauge a test gauge\n"));
        assert!(text.contains("# TYPE xregion_test_series_gauge gauge\n"));
        assert!(text.contains("xregion_test_series_gauge{service=\"catalog\",id=\"b\\\"c\"} 3\n"));
        assert!(!text.contains("id=\"a\""), "{text}");
        // Asking again gives the same family, not a second one.
        gauge_family("xregion_test_series_gauge", "other");
        let text = render(("service", "catalog"));
        assert_eq!(text.matches("# TYPE xregion_test_series_gauge").count(), 1);
    }
}
