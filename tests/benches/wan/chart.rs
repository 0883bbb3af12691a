//! The PNG chart: throughput against RTT, one line per tool and workload.
//! Text goes through plotters' ab_glyph renderer with a TrueType font read at
//! run time (no system font libraries needed).

use std::path::Path;

use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use xregion_tests::wan::plan::{self, Row, Workload, RCLONE, XREGION};

/// Where Debian's fonts-dejavu-core puts it; `XREGION_BENCH_FONT` overrides.
const DEFAULT_FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

fn load_font() -> anyhow::Result<()> {
    let path = std::env::var("XREGION_BENCH_FONT").unwrap_or_else(|_| DEFAULT_FONT.into());
    let bytes = std::fs::read(&path)
        .map_err(|e| anyhow::anyhow!("font {path}: {e} (set XREGION_BENCH_FONT)"))?;
    // plotters keeps fonts for the life of the process.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| anyhow::anyhow!("{path} is not a font plotters can read"))
}

/// A legend label, its points, its colour, and whether it is thin.
type Line = (String, Vec<(f64, f64)>, RGBColor, bool);

pub fn draw(rows: &[Row], cap_mbps: f64, scale: f64, path: &Path) -> anyhow::Result<()> {
    load_font()?;
    let lines: Vec<Line> = [
        (XREGION, Workload::Mixed, BLUE, false),
        (RCLONE, Workload::Mixed, RED, false),
        (XREGION, Workload::Small, BLUE, true),
        (RCLONE, Workload::Small, RED, true),
    ]
    .into_iter()
    .map(|(tool, w, colour, thin)| {
        (
            format!("{tool}, {}", w.name()),
            plan::series(rows, tool, w),
            colour,
            thin,
        )
    })
    .filter(|(_, points, _, _)| !points.is_empty())
    .collect();
    anyhow::ensure!(!lines.is_empty(), "nothing to chart");
    let max_rtt = lines
        .iter()
        .flat_map(|l| l.1.iter().map(|p| p.0))
        .fold(1.0, f64::max);
    let max_mbps = lines
        .iter()
        .flat_map(|l| l.1.iter().map(|p| p.1))
        .fold(1.0, f64::max);

    let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("Throughput through the WAN emulator ({cap_mbps} MB/s per connection, scale {scale})"),
            ("sans-serif", 20),
        )
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..max_rtt * 1.05, 0.0..max_mbps * 1.15)?;
    chart
        .configure_mesh()
        .x_desc("round-trip time (ms)")
        .y_desc("MB/s")
        .label_style(("sans-serif", 14))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()?;
    for (name, points, colour, thin) in lines {
        let style = colour.stroke_width(if thin { 1 } else { 3 });
        chart
            .draw_series(LineSeries::new(points.clone(), style))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        chart.draw_series(points.iter().map(|p| Circle::new(*p, 4, colour.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()?;
    root.present()?;
    Ok(())
}
