//! `report.html`: one self-contained page (inline CSS, images as base64 data URIs, no
//! scripts, no external resources) with the verdict, the numbers, the heat map, the hot
//! spot, the gallery of counted mitoses and of the highest-scoring rejected candidates,
//! the parameters and the warnings. Every text from the report is HTML-escaped.

use base64::Engine;

use super::criterion::fmt_value;
use super::images::{self, gallery_order};
use super::{DetectionClass, Outcome, Report, ReportImages};
use crate::error::Result;

/// JPEG quality of the photographs in the page (hot-spot view, gallery crops); PNG would
/// be 5-10 times larger.
const PHOTO_JPEG_QUALITY: u8 = 88;

/// Width of the hot-spot picture in the page, px (the file keeps full resolution).
const HOTSPOT_PAGE_WIDTH_PX: u32 = 1400;

/// Escapes `&`, `<`, `>`, `"` and `'` for HTML text and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn data_uri(mime: &str, bytes: &[u8]) -> String {
    format!(
        "data:{mime};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

const STYLE: &str = r#"
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;color:#1d1d1f;background:#f5f5f7}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:18px;margin:28px 0 10px;border-bottom:1px solid #d2d2d7;padding-bottom:4px}
.slide{color:#515154;margin:0 0 16px;word-break:break-all}
.verdict{border-radius:10px;padding:18px 22px;color:#fff}
.verdict.positive{background:#b3261e}.verdict.negative{background:#1e6b34}
.verdict.borderline{background:#a15c00}.verdict.graded{background:#30507a}
.verdict.insufficient{background:#5b5b60}
.verdict-number{font-size:30px;font-weight:700}
.badge.near{background:#a15c00}
.outcome{font-size:34px;font-weight:700;letter-spacing:.04em}
.headline{font-size:20px;margin-top:4px}
.statement{margin:12px 0 4px;line-height:1.45}
.notes{margin:6px 0 0;padding-left:20px;opacity:.92}
table{border-collapse:collapse;background:#fff;border-radius:8px;overflow:hidden}
td,th{padding:6px 12px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.cols{display:flex;gap:24px;flex-wrap:wrap;align-items:flex-start}
figure{margin:0}
figure.big img{max-width:100%;height:auto;border:1px solid #d2d2d7;background:#fff}
figcaption{font-size:13px;color:#515154;margin-top:4px;line-height:1.35}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(168px,1fr));gap:10px}
.crop{background:#fff;border-radius:6px;padding:5px;border:3px solid #ddd}
.crop.mit{border-color:#00b400}.crop.rej{border-color:#f0c800}
.crop img{width:100%;height:auto;display:block;border-radius:3px}
.crop figcaption{font-size:12px;font-variant-numeric:tabular-nums}
.badge{display:inline-block;background:#c800c8;color:#fff;border-radius:4px;padding:0 5px;font-size:11px;font-weight:600}
.warn{background:#fff4ce;border-left:4px solid #a15c00;padding:8px 12px;margin:6px 0}
.key{display:inline-block;width:12px;height:12px;border-radius:6px;vertical-align:middle;margin-right:4px}
footer{color:#86868b;font-size:12px;margin-top:32px}
"#;

fn outcome_class(o: Outcome) -> &'static str {
    match o {
        Outcome::Positive => "positive",
        Outcome::Negative => "negative",
        Outcome::Borderline => "borderline",
        Outcome::Graded => "graded",
        Outcome::InsufficientTissue => "insufficient",
    }
}

fn row(out: &mut String, label: &str, value: &str) {
    out.push_str(&format!(
        "<tr><th>{}</th><td class=\"num\">{}</td></tr>\n",
        escape(label),
        escape(value)
    ));
}

/// Flattens a JSON value into `(dotted.key, text)` rows.
fn flatten(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        serde_json::Value::Array(a) if a.iter().all(|x| !x.is_object() && !x.is_array()) => {
            let items: Vec<String> = a.iter().map(value_text).collect();
            out.push((prefix.to_string(), format!("[{}]", items.join(", "))));
        }
        serde_json::Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), v, out);
            }
        }
        other => out.push((prefix.to_string(), value_text(other))),
    }
}

fn value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The HTML page. `heatmap_png` is the encoded `heatmap.png`, embedded as it is (sharp
/// colour blocks and text compress well as PNG). `hotspot` is the rendered `hotspot.png`
/// picture; it (scaled to 1400 px wide) and the gallery crops are photographs, embedded
/// as JPEG (quality 88) because as PNG a 2000 px H&E view alone would add about 10 MB to
/// the page.
///
/// # Errors
/// [`crate::Error::Output`] if a picture cannot be encoded.
pub fn page(
    report: &Report,
    imgs: &ReportImages,
    heatmap_png: &[u8],
    hotspot: Option<&image::RgbImage>,
) -> Result<String> {
    let v = &report.verdict;
    let s = &report.slide;
    let mut h = String::with_capacity(1 << 20);
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    h.push_str(&format!(
        "<title>{} - {} - {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n",
        escape(&report.program.name),
        escape(&s.file_name()),
        v.outcome.word()
    ));
    h.push_str("<h1>Mitotic count report</h1>\n");
    h.push_str(&format!(
        "<p class=\"slide\">{} &middot; {} &middot; {} &times; {} px &middot; {:.4} µm/px ({}){}</p>\n",
        escape(&s.path),
        escape(&s.format),
        s.width_px,
        s.height_px,
        s.mpp_um_per_px,
        escape(&s.mpp_source),
        s.objective_magnification
            .map(|m| format!(" &middot; scanned at {}x", escape(&m.to_string())))
            .unwrap_or_default()
    ));

    // Verdict: one number, with its basis, in one sentence.
    h.push_str(&format!(
        "<section class=\"verdict {}\" id=\"verdict\">\n<div class=\"outcome\">{}</div>\n",
        outcome_class(v.outcome),
        escape(v.outcome.word())
    ));
    let symbol = match v.comparison {
        super::Comparison::AtLeast => "≥",
        super::Comparison::MoreThan => ">",
    };
    match v.value {
        Some(value) => h.push_str(&format!(
            "<div class=\"headline\"><span class=\"verdict-number\">{}</span> {} {} \
             &middot; {} &middot; threshold {} {} &middot; {}</div>\n",
            escape(&fmt_value(value)),
            escape(if v.value_unit == "mitoses" && v.count == 1 {
                "mitosis"
            } else {
                &v.value_unit
            }),
            escape(&v.basis_text),
            escape(&v.category),
            escape(symbol),
            escape(&fmt_value(v.threshold)),
            escape(&v.criterion_title)
        )),
        None => h.push_str(&format!(
            "<div class=\"headline\">No verdict: {} ({} {} found).</div>\n",
            escape(&v.basis_text),
            v.count,
            super::criterion::mitoses_word(v.count)
        )),
    }
    h.push_str(&format!(
        "<p class=\"statement\">{}</p>\n",
        escape(&v.statement)
    ));
    if !v.notes.is_empty() {
        h.push_str("<ul class=\"notes\">\n");
        for n in &v.notes {
            h.push_str(&format!("<li>{}</li>\n", escape(n)));
        }
        h.push_str("</ul>\n");
    }
    h.push_str("</section>\n");

    for w in &report.warnings {
        h.push_str(&format!(
            "<div class=\"warn\">Warning: {}</div>\n",
            escape(w)
        ));
    }

    // Numbers.
    let p = &report.parameters;
    h.push_str("<h2>Numbers</h2>\n<div class=\"cols\">\n<table>\n<tr><th colspan=\"2\">Hot spot</th></tr>\n");
    match &report.hotspot {
        Some(hs) => {
            row(&mut h, "Mitoses", &hs.mitoses.to_string());
            row(
                &mut h,
                "Area",
                &format!("{:.3} mm² ({:.1} HPF)", hs.area_mm2, hs.area_hpf),
            );
            row(
                &mut h,
                "Mitoses per mm²",
                &format!("{:.3}", hs.mitoses_per_mm2),
            );
            row(
                &mut h,
                "Size",
                &format!("{:.0} × {:.0} µm", hs.width_um, hs.height_um),
            );
            row(
                &mut h,
                "Top-left",
                &format!(
                    "x {:.0}, y {:.0} px (x {:.1}, y {:.1} µm)",
                    hs.x_px, hs.y_px, hs.x_um, hs.y_um
                ),
            );
            row(
                &mut h,
                "Tissue",
                &format!("{:.1} %", 100.0 * hs.tissue_fraction),
            );
        }
        None => row(&mut h, "Hot spot", "none: no window fits in the tissue"),
    }
    h.push_str("</table>\n<table>\n<tr><th colspan=\"2\">All tissue</th></tr>\n");
    let c = &report.counts;
    let t = &report.tissue;
    row(&mut h, "Mitoses", &c.mitoses.to_string());
    row(
        &mut h,
        "Candidates (mitotic or not)",
        &c.candidates.to_string(),
    );
    row(
        &mut h,
        "Candidates listed (score ≥ listing floor)",
        &format!(
            "{} (score ≥ {})",
            c.candidates_listed, p.candidate_min_score
        ),
    );
    row(
        &mut h,
        "Tissue area",
        &format!("{:.2} mm²", t.tissue_area_mm2),
    );
    row(
        &mut h,
        "Tissue in HPF",
        &format!("{:.1}", t.tissue_area_hpf),
    );
    row(
        &mut h,
        "Fields counted",
        &format!(
            "{} of {} (tissue ≥ {:.0} %)",
            t.fields_counted,
            t.fields_with_tissue,
            100.0 * p.min_field_tissue_fraction
        ),
    );
    let opt = |x: Option<f64>, d: usize| x.map_or("n/a".to_string(), |x| format!("{x:.d$}"));
    row(
        &mut h,
        "Density over all tissue, per mm²",
        &opt(c.mitoses_per_mm2, 3),
    );
    row(&mut h, "HPF area", &format!("{:.4} mm²", p.hpf_area_mm2));
    h.push_str("</table>\n");
    if let Some(e) = &report.evaluation {
        h.push_str("<table>\n<tr><th colspan=\"2\">Against ground truth</th></tr>\n");
        row(&mut h, "Truth", &e.truth_source);
        row(&mut h, "Precision", &opt(e.precision, 3));
        row(&mut h, "Recall", &opt(e.recall, 3));
        row(&mut h, "F1", &opt(e.f1, 3));
        row(
            &mut h,
            "TP / FP / FN",
            &format!(
                "{} / {} / {}",
                e.true_positives, e.false_positives, e.false_negatives
            ),
        );
        row(&mut h, "Match radius", &format!("{} µm", e.match_radius_um));
        h.push_str("</table>\n");
    }
    h.push_str("</div>\n");
    hotspot_fields_table(&mut h, report);

    // Pictures.
    h.push_str("<h2>Where</h2>\n<div class=\"cols\">\n");
    h.push_str(&format!(
        "<figure class=\"big\" style=\"flex:1 1 420px\"><img src=\"{}\" id=\"heatmap\" \
         alt=\"heat map of mitoses per mm² in each HPF field, with colour bar and scale bar\">\
         <figcaption>Mitoses per mm² in each square field of one HPF ({:.4} mm²), colour bar \
         on the right, coloured on tissue only (fields at the tissue's edge hold less than one \
         HPF of tissue); the hot spot outlined in white; scale bar bottom left.</figcaption>\
         </figure>\n",
        data_uri("image/png", heatmap_png),
        p.hpf_area_mm2,
    ));
    if let Some(img) = hotspot {
        // At most 1400 px wide in the page; hotspot.png keeps the full resolution.
        let small;
        let shown = if img.width() > HOTSPOT_PAGE_WIDTH_PX {
            let h = (img.height() as u64 * HOTSPOT_PAGE_WIDTH_PX as u64 / img.width() as u64).max(1)
                as u32;
            small = image::imageops::resize(
                img,
                HOTSPOT_PAGE_WIDTH_PX,
                h,
                image::imageops::FilterType::Triangle,
            );
            &small
        } else {
            img
        };
        let jpeg = images::encode_jpeg(shown, PHOTO_JPEG_QUALITY, "report.html")?;
        h.push_str(&format!(
            "<figure class=\"big\" style=\"flex:1 1 520px\"><img src=\"{}\" alt=\"the mitotic hot spot\">\
             <figcaption><span class=\"key\" style=\"background:#00c800\"></span>mitotic figure \
             (solid circle, with its score) <span class=\"key\" style=\"background:#ffd700\"></span>\
             borderline non-mitotic figure (dashed circle, with its score; the others are not drawn); circles {} µm \
             in radius; thin white lines: the HPF fields; hotspot.png has it at {} µm/px or finer.\
             </figcaption></figure>\n",
            data_uri("image/jpeg", &jpeg),
            images::CIRCLE_RADIUS_UM,
            images::HOTSPOT_VIEW_MAX_UM_PER_PX
        ));
    }
    h.push_str("</div>\n");

    // Galleries.
    let order = gallery_order(report);
    let crop_of: std::collections::HashMap<usize, &images::GalleryCrop> = imgs
        .gallery
        .iter()
        .map(|c| (c.detection_index, c))
        .collect();
    let hot = |i: usize| {
        let d = &report.detections[i];
        report
            .hotspot
            .as_ref()
            .is_some_and(|hs| hs.contains(d.x_px, d.y_px))
    };
    let t = report.parameters.mitosis_threshold;
    let near = |i: usize| (report.detections[i].score - t).abs() <= images::BORDERLINE_SCORE_BAND;
    let sections = [
        (
            format!("Counted mitotic figures ({})", order.mitoses.len()),
            &order.mitoses,
            format!(
                "Every detection counted as a mitotic figure, those in the hot spot first, then \
                 by score. Those marked \"borderline\" scored within {} of the threshold \
                 {t:.2}: confirm or reject them. The ticks point at the detection; each crop is \
                 64 µm wide.",
                images::BORDERLINE_SCORE_BAND
            ),
        ),
        (
            "Non-mitotic figures scoring closest to the threshold".to_string(),
            &order.rejected,
            format!(
                "Candidates the classifier did not count, highest score first; those marked \
                 \"borderline\" scored within {} of the threshold {t:.2}: check them for \
                 missed mitoses.",
                images::BORDERLINE_SCORE_BAND
            ),
        ),
    ];
    for (title, list, caption) in sections {
        let shown: Vec<usize> = list
            .iter()
            .copied()
            .filter(|i| crop_of.contains_key(i))
            .collect();
        if list.is_empty() && title.starts_with("Non-mitotic") {
            continue;
        }
        h.push_str(&format!(
            "<h2>{}</h2>\n<p>{}",
            escape(&title),
            escape(&caption)
        ));
        if shown.len() < list.len() {
            h.push_str(&escape(&format!(
                " Showing {} of {}; all are listed in detections.csv.",
                shown.len(),
                list.len()
            )));
        }
        h.push_str("</p>\n<div class=\"grid\">\n");
        for i in shown {
            let (Some(crop), Some(d)) = (crop_of.get(&i), report.detections.get(i)) else {
                continue;
            };
            let Some(img) = images::render_crop(report, crop) else {
                continue;
            };
            let jpeg = images::encode_jpeg(&img, PHOTO_JPEG_QUALITY, "report.html")?;
            let class = match d.class {
                DetectionClass::MitoticFigure => "mit",
                DetectionClass::NonMitoticFigure => "rej",
            };
            let in_hot = hot(i);
            h.push_str(&format!(
                "<figure class=\"crop {class}\"><img src=\"{}\" alt=\"detection {i}\">\
                 <figcaption><b>#{i}</b> &middot; score {:.2}{}{}<br>x {:.0} µm, y {:.0} µm<br>\
                 {:.0} µm² &middot; HPF r{} c{}</figcaption></figure>\n",
                data_uri("image/jpeg", &jpeg),
                d.score,
                if in_hot {
                    " <span class=\"badge\">hot spot</span>"
                } else {
                    ""
                },
                if near(i) {
                    " <span class=\"badge near\">borderline</span>"
                } else {
                    ""
                },
                d.x_um,
                d.y_um,
                d.area_um2,
                d.hpf_row,
                d.hpf_col
            ));
        }
        h.push_str("</div>\n");
    }

    provenance_block(&mut h, report);

    // Parameters and slide.
    h.push_str("<h2>Parameters</h2>\n<table>\n");
    let mut rows = Vec::new();
    if let Ok(j) = serde_json::to_value(&report.slide) {
        flatten("slide", &j, &mut rows);
    }
    if let Ok(j) = serde_json::to_value(&report.parameters) {
        flatten("", &j, &mut rows);
    }
    for (k, val) in rows {
        h.push_str(&format!(
            "<tr><th>{}</th><td>{}</td></tr>\n",
            escape(&k),
            escape(&val)
        ));
    }
    h.push_str("</table>\n");

    let stages: Vec<String> = report
        .timings
        .stages_s
        .iter()
        .map(|st| format!("{} {:.2} s", st.stage, st.seconds))
        .collect();
    let model = report
        .parameters
        .classifier
        .as_ref()
        .map(|m| {
            format!(
                " &middot; model {} {} (SHA-256 {})",
                escape(&m.name),
                escape(&m.version),
                escape(&m.sha256)
            )
        })
        .unwrap_or_default();
    h.push_str(&format!(
        "<footer>{} {}{model} &middot; total {:.2} s{}{} &middot; coordinates are level-0 pixels (x right, y down) \
         and µm from the slide's top-left corner.</footer>\n",
        escape(&report.program.name),
        escape(&report.program.version),
        report.timings.total_s,
        if stages.is_empty() { "" } else { " &middot; " },
        escape(&stages.join(", "))
    ));
    h.push_str("</main>\n</body>\n</html>\n");
    Ok(h)
}

/// The per-field table: each HPF field of the grid that overlaps the hot spot, with its
/// mitoses (all, and those inside the hot spot) and its tissue fraction.
fn hotspot_fields_table(h: &mut String, report: &Report) {
    let Some(hs) = &report.hotspot else {
        return;
    };
    let fields = super::tables::hotspot_fields(report);
    h.push_str(&format!(
        "<h2>HPF fields of the hot spot</h2>\n<p>The {} square fields of one HPF ({:.4} mm²) \
         of the grid that overlap the hot spot; a field's count is every mitotic figure in it, \
         inside the hot spot or not.</p>\n<table id=\"hotspot-fields\">\n<tr><th>Field</th>\
         <th>Mitoses in the field</th><th>of them in the hot spot</th><th>Tissue</th></tr>\n",
        fields.len(),
        report.parameters.hpf_area_mm2
    ));
    for i in fields {
        let f = &report.fields[i];
        let inside = report
            .detections
            .iter()
            .filter(|d| {
                d.class == DetectionClass::MitoticFigure
                    && d.hpf_row == f.row
                    && d.hpf_col == f.col
                    && hs.contains(d.x_px, d.y_px)
            })
            .count();
        h.push_str(&format!(
            "<tr><td>r{} c{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{:.0} %</td></tr>\n",
            f.row,
            f.col,
            f.mitoses,
            inside,
            100.0 * f.tissue_fraction
        ));
    }
    h.push_str("</table>\n");
}

/// The provenance block: program, model, slide file and its hash, start time, duration
/// and every option used.
fn provenance_block(h: &mut String, report: &Report) {
    let pv = &report.provenance;
    let or_none = |s: &str| {
        if s.is_empty() {
            "not recorded".to_string()
        } else {
            s.to_string()
        }
    };
    h.push_str("<h2>Provenance</h2>\n<table id=\"provenance\">\n");
    let program = if pv.program.is_empty() {
        format!("{} {}", report.program.name, report.program.version)
    } else {
        pv.program.clone()
    };
    row(h, "Program", &program);
    let model = report.parameters.classifier.as_ref();
    row(
        h,
        "Model",
        &model.map_or(or_none(&pv.model), |m| format!("{} {}", m.name, m.version)),
    );
    row(
        h,
        "Model SHA-256",
        &model.map_or(or_none(&pv.model_sha256), |m| m.sha256.clone()),
    );
    row(h, "Slide file", &or_none(&pv.slide_file_name));
    row(h, "Slide size", &format!("{} bytes", pv.slide_size_bytes));
    row(
        h,
        "SHA-256 of the slide's first MiB",
        &or_none(&pv.slide_first_mib_sha256),
    );
    row(h, "Started (UTC)", &or_none(&pv.started_at_utc));
    row(h, "Duration", &format!("{:.2} s", pv.duration_s));
    row(h, "Threads", &pv.threads.to_string());
    let mut rows = Vec::new();
    flatten("option", &pv.options, &mut rows);
    for (k, v) in rows {
        row(h, &k, &v);
    }
    h.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }
}
