//! The plain-text summary printed on stdout.

use super::Report;

/// A few lines for stdout: program, slide, the verdict in one sentence with its one
/// number and basis, tissue, counts (densities per mm² only, so no second figure "per
/// 10 HPF" competes with the verdict's), hot spot, warnings, provenance. Ends with a
/// newline.
pub fn summary_text(report: &Report) -> String {
    let mut out = String::new();
    let s = &report.slide;
    let v = &report.verdict;
    let p = &report.parameters;
    out.push_str(&format!(
        "{} {}: {} ({}, {} x {} px, {:.4} µm/px from {})\n",
        report.program.name,
        report.program.version,
        s.path,
        s.format,
        s.width_px,
        s.height_px,
        s.mpp_um_per_px,
        s.mpp_source
    ));
    // The verdict's one number, with its basis, in one sentence.
    out.push_str(&format!("Verdict:  {}\n", v.headline));
    out.push_str(&format!("          {}\n", v.statement));
    for n in &v.notes {
        out.push_str(&format!("  Note:   {n}\n"));
    }
    let t = &report.tissue;
    out.push_str(&format!(
        "Tissue:   {:.2} mm² = {:.1} HPF of {:.4} mm²; {} of {} fields with tissue counted (tissue >= {:.0} %)\n",
        t.tissue_area_mm2,
        t.tissue_area_hpf,
        p.hpf_area_mm2,
        t.fields_counted,
        t.fields_with_tissue,
        100.0 * p.min_field_tissue_fraction
    ));
    let c = &report.counts;
    let density = match c.mitoses_per_mm2 {
        Some(a) => format!("; density over all tissue {a:.3} per mm²"),
        None => String::new(),
    };
    out.push_str(&format!(
        "Mitoses:  {} in all tissue, of {} candidates ({} listed: score >= {}){density}\n",
        c.mitoses, c.candidates, c.candidates_listed, p.candidate_min_score
    ));
    if let Some(m) = &p.classifier {
        out.push_str(&format!(
            "Model:    {} {} (sha256 {}, {}); a mitosis scores >= {:.2}\n",
            m.name,
            m.version,
            &m.sha256[..m.sha256.len().min(12)],
            m.source,
            p.mitosis_threshold
        ));
    }
    match &report.hotspot {
        Some(h) => out.push_str(&format!(
            "Hot spot: {} {} in {:.3} mm² ({:.1} HPF), {:.3} per mm²; \
             x {:.0}-{:.0} px, y {:.0}-{:.0} px (x {:.1}-{:.1} µm, y {:.1}-{:.1} µm); tissue {:.0} %\n",
            h.mitoses,
            super::criterion::mitoses_word(h.mitoses),
            h.area_mm2,
            h.area_hpf,
            h.mitoses_per_mm2,
            h.x_px,
            h.x_px + h.width_px,
            h.y_px,
            h.y_px + h.height_px,
            h.x_um,
            h.x_um + h.width_um,
            h.y_um,
            h.y_um + h.height_um,
            100.0 * h.tissue_fraction
        )),
        None => out.push_str("Hot spot: none (no window fits in the tissue)\n"),
    }
    if let Some(e) = &report.evaluation {
        let f = |v: Option<f64>| v.map_or("n/a".to_string(), |x| format!("{x:.3}"));
        out.push_str(&format!(
            "Truth:    precision {}, recall {}, F1 {} (TP {}, FP {}, FN {}; {} µm) vs {}\n",
            f(e.precision),
            f(e.recall),
            f(e.f1),
            e.true_positives,
            e.false_positives,
            e.false_negatives,
            e.match_radius_um,
            e.truth_source
        ));
    }
    for w in &report.warnings {
        out.push_str(&format!("Warning:  {w}\n"));
    }
    let pv = &report.provenance;
    if !pv.started_at_utc.is_empty() {
        out.push_str(&format!(
            "Run:      {} on {} ({} bytes, first MiB sha256 {}), started {}, {:.1} s\n",
            pv.program,
            pv.slide_file_name,
            pv.slide_size_bytes,
            &pv.slide_first_mib_sha256[..pv.slide_first_mib_sha256.len().min(12)],
            pv.started_at_utc,
            pv.duration_s
        ));
    }
    out
}
