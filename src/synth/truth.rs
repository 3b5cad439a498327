//! Ground-truth files written beside a synthetic slide.
//!
//! - `<stem>.truth.csv`: `x_px,y_px,x_um,y_um,kind,phase`, one row per object, level-0
//!   coordinates (pixel `i` spans `[i, i + 1)`); `phase` is empty for mimics.
//! - `<stem>.truth.json`: MIDOG / grand-challenge style points in mm,
//!   `{"type":"Multiple points","points":[{"point":[x_mm,y_mm,0],"name":"mitotic figure"}]}`;
//!   mimics are included with `"name":"non-mitotic figure"`. Every point also carries
//!   `kind` (and `phase` for mitoses) so the kinds can be told apart.
//! - `<stem>.synth.json`: the options, the stain vectors used, the planted hot spot in px
//!   and µm with the number of mitoses inside, tissue area and counts per kind and phase.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::pyramid::Written;
use super::scene::SynthScene;
use super::{KindCounts, ObjectKind};
use crate::error::{Error, Result};

/// The ground-truth files of a slide.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TruthPaths {
    /// `<stem>.truth.csv`.
    pub csv: PathBuf,
    /// `<stem>.truth.json` (MIDOG-style points in mm).
    pub json: PathBuf,
    /// `<stem>.synth.json` (options and summary).
    pub synth_json: PathBuf,
}

/// The ground-truth paths beside `out_tiff`: `/a/b/s.tiff` gives `/a/b/s.truth.csv`,
/// `/a/b/s.truth.json` and `/a/b/s.synth.json`.
pub fn truth_paths(out_tiff: &Path) -> TruthPaths {
    let stem = out_tiff
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "slide".into());
    let dir = out_tiff.parent().unwrap_or_else(|| Path::new(""));
    TruthPaths {
        csv: dir.join(format!("{stem}.truth.csv")),
        json: dir.join(format!("{stem}.truth.json")),
        synth_json: dir.join(format!("{stem}.synth.json")),
    }
}

/// Writes the three files.
pub(crate) fn write_truth(scene: &SynthScene, paths: &TruthPaths, written: &Written) -> Result<()> {
    let mpp = scene.options().mpp;
    let truth = scene.truth();

    let mut csv = String::from("x_px,y_px,x_um,y_um,kind,phase\n");
    for t in truth {
        csv.push_str(&format!(
            "{:.2},{:.2},{:.3},{:.3},{},{}\n",
            t.x_px,
            t.y_px,
            mpp.px_to_um(t.x_px),
            mpp.px_to_um(t.y_px),
            t.kind.as_str(),
            t.phase.map_or("", |p| p.as_str())
        ));
    }
    write_file(&paths.csv, csv.as_bytes())?;

    let points: Vec<serde_json::Value> = truth
        .iter()
        .map(|t| {
            let x_mm = round_to(mpp.px_to_um(t.x_px) / 1000.0, 6);
            let y_mm = round_to(mpp.px_to_um(t.y_px) / 1000.0, 6);
            let name = match t.kind {
                ObjectKind::MitoticFigure => "mitotic figure",
                _ => "non-mitotic figure",
            };
            let mut p = json!({
                "point": [x_mm, y_mm, 0.0],
                "name": name,
                "kind": t.kind.as_str(),
            });
            if let (Some(phase), Some(obj)) = (t.phase, p.as_object_mut()) {
                obj.insert("phase".into(), json!(phase.as_str()));
            }
            p
        })
        .collect();
    let midog = json!({
        "type": "Multiple points",
        "points": points,
        "version": {"major": 1, "minor": 0},
        "mpp_um": mpp.um_per_px(),
    });
    write_json(&paths.json, &midog)?;

    let counts = KindCounts::of(truth);
    let mut by_phase: BTreeMap<&str, usize> = BTreeMap::new();
    for t in truth {
        if let Some(p) = t.phase {
            *by_phase.entry(p.as_str()).or_default() += 1;
        }
    }
    let hotspot = match (scene.hotspot_rect_px(), scene.options().hotspot.as_ref()) {
        (Some(r), Some(h)) => json!({
            "x0_px": r.x0_px,
            "y0_px": r.y0_px,
            "width_px": r.width_px,
            "height_px": r.height_px,
            "x0_um": h.centre_x_um - h.width_um / 2.0,
            "y0_um": h.centre_y_um - h.height_um / 2.0,
            "width_um": h.width_um,
            "height_um": h.height_um,
            "area_mm2": h.width_um * h.height_um / crate::units::UM2_PER_MM2,
            "mitoses_per_mm2_planned": h.mitoses_per_mm2,
            "mitoses_inside": scene.mitoses_in_hotspot(),
            "tissue_fraction": round_to(scene.tissue_fraction_in(r), 4),
        }),
        _ => serde_json::Value::Null,
    };
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    let summary = json!({
        "generator": format!("mitocount {} synth", env!("CARGO_PKG_VERSION")),
        "seed": scene.options().seed,
        "mpp_um": mpp.um_per_px(),
        "width_px": scene.options().width_px,
        "height_px": scene.options().height_px,
        "levels_px": written.levels_px,
        "bigtiff": written.bigtiff,
        "tiff_bytes": written.bytes,
        "options": scene.options(),
        "stain_vectors": scene.stain_vectors(),
        "tissue_area_mm2": round_to(scene.tissue_area_mm2(), 4),
        "hotspot": hotspot,
        "counts": counts,
        "mitoses_by_phase": by_phase,
        "truth_files": {"csv": name(&paths.csv), "json": name(&paths.json)},
        "coordinates": "level-0 pixels, x right, y down; pixel i spans [i, i+1); points in the MIDOG file are in mm",
    });
    write_json(&paths.synth_json, &summary)
}

fn round_to(v: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (v * f).round() / f
}

fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| Error::Output {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    text.push('\n');
    write_file(path, text.as_bytes())
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    f.write_all(bytes).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_sit_beside_the_tiff() {
        let p = truth_paths(Path::new("/tmp/x/slide.tiff"));
        assert_eq!(p.csv, Path::new("/tmp/x/slide.truth.csv"));
        assert_eq!(p.json, Path::new("/tmp/x/slide.truth.json"));
        assert_eq!(p.synth_json, Path::new("/tmp/x/slide.synth.json"));
        assert_eq!(
            truth_paths(Path::new("s.svs")).csv,
            Path::new("s.truth.csv")
        );
    }
}
