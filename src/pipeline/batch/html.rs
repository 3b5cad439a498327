//! `batch-summary.html`: one self-contained page with a sortable table of the slides
//! (each verdict linked to the slide's report), a plot of each slide's verdict value
//! against the threshold and a histogram of the values, drawn by `plotters` (SVG).

use std::fmt::Write;
use std::path::Path;

use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::report::html::escape;

use super::summary::SummaryRow;

/// Plot size, px.
const PLOT_SIZE_PX: (u32, u32) = (720, 300);

/// The page. `folder` is where it is written (links are relative to it); `missing` lists
/// slides of the plan without a row (from `merge`); `title` names what made it.
///
/// # Errors
/// [`Error::Output`] when a plot cannot be drawn.
pub fn page(rows: &[SummaryRow], missing: &[String], folder: &Path, title: &str) -> Result<String> {
    let ok: Vec<&SummaryRow> = rows.iter().filter(|r| r.is_ok()).collect();
    let failed = rows.len() - ok.len();
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>mitocount {title} summary</title><style>{STYLE}</style></head><body>\n\
         <h1>mitocount {title}: {} slides</h1>\n<p>{} analysed, {failed} failed{}.</p>\n",
        rows.len() + missing.len(),
        ok.len(),
        if missing.is_empty() {
            String::new()
        } else {
            format!(", {} missing (no result yet)", missing.len())
        }
    );
    let values: Vec<(String, f64)> = ok
        .iter()
        .filter_map(|r| Some((r.slide.clone(), r.verdict_value.parse::<f64>().ok()?)))
        .collect();
    if !values.is_empty() {
        let unit = common(&ok, |r| &r.verdict_unit).unwrap_or("mixed units (see the table)");
        let threshold = common(&ok, |r| &r.verdict_threshold).and_then(|t| t.parse().ok());
        h.push_str("<div class=\"plots\">");
        h.push_str(&per_slide_plot(&values, unit, threshold)?);
        h.push_str(&histogram(&values, unit)?);
        h.push_str("</div>\n");
    }
    h.push_str(&table(rows, folder));
    if !missing.is_empty() {
        h.push_str("<h2>Missing slides</h2>\n<ul>");
        for m in missing {
            let _ = write!(h, "<li>{}</li>", escape(m));
        }
        h.push_str("</ul>\n");
    }
    let _ = write!(h, "<script>{SORT_SCRIPT}</script>\n</body></html>\n");
    Ok(h)
}

/// The value every row shares, if they all share one.
fn common<'r>(
    rows: &[&'r SummaryRow],
    f: impl Fn(&'r SummaryRow) -> &'r String,
) -> Option<&'r str> {
    let first = f(rows.first()?);
    rows.iter().all(|r| f(r) == first).then_some(first.as_str())
}

fn table(rows: &[SummaryRow], folder: &Path) -> String {
    const COLUMNS: [&str; 12] = [
        "slide",
        "case",
        "status",
        "verdict",
        "value",
        "basis",
        "tissue mm²",
        "HPF counted",
        "calls",
        "µm/px",
        "s",
        "error / note",
    ];
    let mut h = String::from("<table id=\"slides\"><thead><tr>");
    for (i, c) in COLUMNS.iter().enumerate() {
        let _ = write!(h, "<th onclick=\"sortBy({i})\">{c}</th>");
    }
    h.push_str("</tr></thead><tbody>\n");
    for r in rows {
        let report = ["report.html", "report.json"]
            .iter()
            .map(|f| Path::new(&r.out_dir).join(f))
            .find(|p| !r.out_dir.is_empty() && folder.join(p).is_file());
        let verdict = match report {
            Some(p) => format!(
                "<a href=\"{}\">{}</a>",
                escape(&p.display().to_string()),
                escape(&r.verdict)
            ),
            None => escape(&r.verdict),
        };
        let class = match r.verdict.as_str() {
            "POSITIVE" => "pos",
            "" => "err",
            _ => "",
        };
        let value = if r.verdict_value.is_empty() {
            String::new()
        } else {
            format!(
                "{} {} (threshold {})",
                r.verdict_value, r.verdict_unit, r.verdict_threshold
            )
        };
        let cells = [
            escape(&r.slide),
            escape(&r.case),
            escape(&r.status),
            verdict,
            escape(&value),
            escape(&r.verdict_basis),
            escape(&r.tissue_area_mm2),
            escape(&r.hpf_counted),
            escape(&r.calls),
            escape(&r.mpp_um_per_px),
            escape(&r.seconds),
            escape(&format!("{}{}", r.error, r.note)),
        ];
        let _ = write!(h, "<tr class=\"{class}\">");
        for c in cells {
            let _ = write!(h, "<td>{c}</td>");
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody></table>\n");
    h
}

fn draw_error<E: std::fmt::Debug>(e: E) -> Error {
    Error::Output {
        path: "batch-summary.html".into(),
        reason: format!("cannot draw the plot: {e:?}"),
    }
}

/// Each slide's value (in the table's order) as a point, and the threshold as a line.
fn per_slide_plot(values: &[(String, f64)], unit: &str, threshold: Option<f64>) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, PLOT_SIZE_PX).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        let n = values.len() as f64;
        let top = values
            .iter()
            .map(|(_, v)| *v)
            .chain(threshold)
            .fold(1.0_f64, f64::max)
            * 1.1;
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("{unit} per slide"), ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(0.5..n + 0.5, 0.0..top)
            .map_err(draw_error)?;
        chart
            .configure_mesh()
            .x_desc("slide (order of the summary)")
            .y_desc(unit)
            .disable_x_mesh()
            .light_line_style(WHITE)
            .x_labels(values.len().min(20) + 2)
            .x_label_formatter(&|x| {
                if x.fract() == 0.0 && *x >= 1.0 {
                    format!("{x:.0}")
                } else {
                    String::new()
                }
            })
            .draw()
            .map_err(draw_error)?;
        chart
            .draw_series(
                values
                    .iter()
                    .enumerate()
                    .map(|(i, (_, v))| Circle::new((i as f64 + 1.0, *v), 4, BLUE.filled())),
            )
            .map_err(draw_error)?;
        if let Some(t) = threshold {
            chart
                .draw_series(LineSeries::new(
                    [(0.5, t), (n + 0.5, t)],
                    RED.stroke_width(2),
                ))
                .map_err(draw_error)?
                .label(format!("threshold {t}"))
                .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], RED));
            chart
                .configure_series_labels()
                .border_style(BLACK)
                .background_style(WHITE)
                .draw()
                .map_err(draw_error)?;
        }
        root.present().map_err(draw_error)?;
    }
    Ok(svg)
}

/// A histogram of the values: 20 bins at most, integer-wide when the values allow.
fn histogram(values: &[(String, f64)], unit: &str) -> Result<String> {
    let max = values.iter().map(|(_, v)| *v).fold(0.0_f64, f64::max);
    let bin = (max / 20.0).ceil().max(1.0);
    let bins = (max / bin).floor() as u32 + 1;
    let mut counts = vec![0u32; bins as usize];
    for (_, v) in values {
        let b = ((v.max(0.0) / bin).floor() as usize).min(counts.len() - 1);
        counts[b] += 1;
    }
    let tallest = counts.iter().copied().max().unwrap_or(1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, PLOT_SIZE_PX).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        let width = f64::from(bins) * bin;
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("Slides by {unit}"), ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..width, 0u32..tallest + 1)
            .map_err(draw_error)?;
        chart
            .configure_mesh()
            .x_desc(format!("{unit} (bins of {bin})"))
            .y_desc("slides")
            .disable_x_mesh()
            .light_line_style(WHITE)
            .draw()
            .map_err(draw_error)?;
        // Bars drawn in bin order as rectangles (plotters' Histogram series orders them
        // by a hash map, which would make the page differ from run to run).
        let gap = bin * 0.05;
        chart
            .draw_series(
                counts
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| **c > 0)
                    .map(|(b, c)| {
                        let x0 = b as f64 * bin;
                        Rectangle::new(
                            [(x0 + gap, 0), (x0 + bin - gap, *c)],
                            BLUE.mix(0.6).filled(),
                        )
                    }),
            )
            .map_err(draw_error)?;
        root.present().map_err(draw_error)?;
    }
    Ok(svg)
}

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;color:#222}\
table{border-collapse:collapse;font-size:0.9em}th,td{border:1px solid #ccc;padding:3px 6px}\
th{background:#eee;cursor:pointer}tr.pos td{background:#fde8e8}tr.err td{color:#a00}\
.plots svg{margin:0 1em 1em 0}";

/// Sorts the table by a clicked column (numbers numerically, text alphabetically; a
/// second click reverses). Plain DOM script, no library.
const SORT_SCRIPT: &str =
    "let dir={};function sortBy(c){const b=document.querySelector('#slides tbody');\
const rows=[...b.rows];dir[c]=-(dir[c]||-1);const key=r=>r.cells[c].innerText.trim();\
rows.sort((x,y)=>{const a=key(x),z=key(y),na=parseFloat(a),nz=parseFloat(z);\
const d=(!isNaN(na)&&!isNaN(nz))?na-nz:a.localeCompare(z);return d*dir[c];});\
rows.forEach(r=>b.appendChild(r));}";
