//! `scaling.png`: throughput per workload and the operator's peak RSS against size.
//! Text needs a TrueType font, read at run time (`BENCH_FONT`, else DejaVu Sans or
//! Liberation Sans from the usual system paths).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use crate::report::Report;

const FONT_PATHS: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

fn load_font() -> Result<()> {
    let candidates: Vec<PathBuf> = std::env::var_os("BENCH_FONT")
        .map(PathBuf::from)
        .into_iter()
        .chain(FONT_PATHS.iter().map(PathBuf::from))
        .collect();
    let path = candidates
        .iter()
        .find(|p| p.is_file())
        .context("no TrueType font found: set BENCH_FONT to a .ttf file")?;
    let bytes = std::fs::read(path)?;
    // plotters keeps the font for the whole process.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| anyhow::anyhow!("{} is not a usable font", path.display()))
}

fn label(r: &Report) -> String {
    format!("{}n/{}t", r.sizes.nodes, r.sizes.tasks)
}

/// Draws the chart of `runs` (in order) into `out`.
pub fn draw(runs: &[Report], out: &Path) -> Result<()> {
    if runs.is_empty() {
        bail!("no runs to chart");
    }
    load_font()?;
    let root = BitMapBackend::new(out, (1200, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    let title = match runs.iter().rev().find_map(|r| {
        r.allocator_criterion_ns
            .iter()
            .max_by(|a, b| a.1.total_cmp(b.1))
    }) {
        Some((name, ns)) => format!(
            "mesos-operator scaling (allocator criterion, slowest case {name}: {:.2} ms/cycle)",
            ns / 1e6
        ),
        None => "mesos-operator scaling".to_string(),
    };
    let root = root.titled(&title, ("sans-serif", 20)).map_err(plot_err)?;
    let (left, right) = root.split_horizontally(700);
    let labels: Vec<String> = runs.iter().map(label).collect();
    let n = runs.len();
    let x_range = -0.3f64..(n as f64 - 0.7);
    let x_fmt = |x: &f64| {
        let i = x.round();
        if (x - i).abs() < 0.01 && i >= 0.0 {
            labels.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };

    let series = [
        ("bare", RGBColor(90, 90, 90)),
        ("scheduler", RGBColor(31, 119, 180)),
        ("operator", RGBColor(214, 39, 40)),
    ];
    let y_max = runs
        .iter()
        .flat_map(|r| r.workloads.values())
        .flat_map(|f| [f.running_per_second, f.finished_per_second])
        .flatten()
        .fold(1.0f64, f64::max)
        * 1.6;
    let mut chart = ChartBuilder::on(&left)
        .caption("throughput (objects/s)", ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(x_range.clone(), 0f64..y_max)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_labels(n)
        .x_label_formatter(&x_fmt)
        .y_desc("objects per second")
        .draw()
        .map_err(plot_err)?;
    for (name, color) in series {
        for (suffix, finished) in [("to running", false), ("to finished", true)] {
            let points: Vec<(f64, f64)> = runs
                .iter()
                .enumerate()
                .filter_map(|(i, r)| {
                    let f = r.workloads.get(name)?;
                    let v = if finished {
                        f.finished_per_second
                    } else {
                        f.running_per_second
                    }?;
                    Some((i as f64, v))
                })
                .collect();
            if points.is_empty() {
                continue;
            }
            let style = if finished {
                ShapeStyle::from(&color).stroke_width(1)
            } else {
                ShapeStyle::from(&color).stroke_width(3)
            };
            chart
                .draw_series(LineSeries::new(points.clone(), style))
                .map_err(plot_err)?
                .label(format!("{name} {suffix}"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
            chart
                .draw_series(points.iter().map(|p| Circle::new(*p, 3, color.filled())))
                .map_err(plot_err)?;
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(plot_err)?;

    let rss: Vec<(f64, f64)> = runs
        .iter()
        .enumerate()
        .filter_map(|(i, r)| Some((i as f64, r.operator.as_ref()?.peak_rss_mib)))
        .collect();
    let rss_max = rss.iter().map(|p| p.1).fold(1.0f64, f64::max) * 1.2;
    let mut chart = ChartBuilder::on(&right)
        .caption("operator peak RSS (MiB)", ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(x_range, 0f64..rss_max)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_labels(n)
        .x_label_formatter(&x_fmt)
        .y_desc("MiB")
        .draw()
        .map_err(plot_err)?;
    let red = RGBColor(214, 39, 40);
    chart
        .draw_series(LineSeries::new(
            rss.clone(),
            ShapeStyle::from(&red).stroke_width(3),
        ))
        .map_err(plot_err)?;
    chart
        .draw_series(rss.iter().map(|p| Circle::new(*p, 4, red.filled())))
        .map_err(plot_err)?;
    root.present().map_err(plot_err)?;
    Ok(())
}

fn plot_err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow::anyhow!("drawing the chart: {e}")
}
