//! Tabular and vector outputs: `detections.csv`, `detections.geojson` (QuPath),
//! `mitotic-figures.json` (MIDOG / Grand Challenge).

use std::path::PathBuf;

use serde_json::{json, Map, Value};

use super::{DetectionClass, Report};
use crate::error::{Error, Result};

/// Fixed leading columns of `detections.csv`; feature columns follow.
pub const CSV_COLUMNS: [&str; 9] = [
    "x_px", "y_px", "x_um", "y_um", "area_um2", "score", "class", "hpf_row", "hpf_col",
];

/// QuPath class name and colour (RGB) of mitoses: the one vocabulary's name.
pub const QUPATH_MITOSIS: (&str, [u8; 3]) = ("mitotic figure", [0, 200, 0]);
/// QuPath class name and colour of rejected candidates.
pub const QUPATH_NON_MITOSIS: (&str, [u8; 3]) = ("non-mitotic figure", [255, 215, 0]);
/// QuPath class name and colour of the hot-spot annotation.
pub const QUPATH_HOTSPOT: (&str, [u8; 3]) = ("Mitotic hot spot", [255, 0, 255]);
/// QuPath class name and colour of HPF annotations.
pub const QUPATH_HPF: (&str, [u8; 3]) = ("HPF", [90, 90, 255]);

/// The feature names over all detections, in order of first appearance.
pub fn feature_names(report: &Report) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for d in &report.detections {
        for (name, _) in &d.features {
            if seen.insert(name.as_str()) {
                names.push(name.clone());
            }
        }
    }
    names
}

/// `detections.csv`: one row per listed candidate, mitotic and not: every mitotic figure,
/// and the other candidates whose score is at least `parameters.candidate_min_score`
/// (0.01 by default; the others are counted in `counts.candidates`, not listed). Columns
/// [`CSV_COLUMNS`] then one per feature (empty where a detection lacks it or it is not
/// finite); a feature of the same name as a leading column (`area_um2`) is not repeated.
/// `class` is `mitotic figure` or `non-mitotic figure`.
///
/// # Errors
/// [`Error::Output`] if the CSV writer fails (it writes to memory, so it should not).
pub fn detections_csv(report: &Report) -> Result<Vec<u8>> {
    let err = |e: csv::Error| Error::Output {
        path: PathBuf::from("detections.csv"),
        reason: e.to_string(),
    };
    let features: Vec<String> = feature_names(report)
        .into_iter()
        .filter(|n| !CSV_COLUMNS.contains(&n.as_str()))
        .collect();
    let mut w = csv::Writer::from_writer(Vec::new());
    let header: Vec<&str> = CSV_COLUMNS
        .iter()
        .copied()
        .chain(features.iter().map(String::as_str))
        .collect();
    w.write_record(&header).map_err(err)?;
    let index: std::collections::HashMap<&str, usize> = features
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    for d in &report.detections {
        let mut row = vec![
            format!("{:.2}", d.x_px),
            format!("{:.2}", d.y_px),
            format!("{:.3}", d.x_um),
            format!("{:.3}", d.y_um),
            format!("{:.3}", d.area_um2),
            format!("{:.6}", d.score),
            d.class.label().to_string(),
            d.hpf_row.to_string(),
            d.hpf_col.to_string(),
        ];
        let mut cells = vec![String::new(); features.len()];
        for (name, value) in &d.features {
            if let (Some(&i), true) = (index.get(name.as_str()), value.is_finite()) {
                cells[i] = format!("{value}");
            }
        }
        row.extend(cells);
        w.write_record(&row).map_err(err)?;
    }
    w.into_inner().map_err(|e| Error::Output {
        path: PathBuf::from("detections.csv"),
        reason: e.to_string(),
    })
}

fn classification((name, color): (&str, [u8; 3])) -> Value {
    json!({ "name": name, "color": color })
}

fn finite_measurements(pairs: impl IntoIterator<Item = (String, f64)>) -> Value {
    let mut m = Map::new();
    for (k, v) in pairs {
        if v.is_finite() {
            m.insert(k, json!(v));
        }
    }
    Value::Object(m)
}

fn rectangle(x: f64, y: f64, w: f64, h: f64) -> Value {
    json!({
        "type": "Polygon",
        "coordinates": [[[x, y], [x + w, y], [x + w, y + h], [x, y + h], [x, y]]]
    })
}

/// A stable feature id: a UUID (version 8, RFC 9562) made from the SHA-256 of the
/// object's kind and level-0 position, so the same object gets the same id in every run
/// and QuPath keeps it across re-imports. `seen` makes ids unique within one file (a
/// repeated key gets a counter).
fn stable_id(key: String, seen: &mut std::collections::HashMap<String, u32>) -> String {
    use sha2::Digest;
    let n = seen.entry(key.clone()).or_insert(0);
    *n += 1;
    let key = if *n == 1 { key } else { format!("{key}#{n}") };
    let digest = sha2::Sha256::digest(key.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Uuid::new_v8(bytes).to_string()
}

/// The HPF grid fields that overlap the hot spot (every one with tissue, whatever its
/// tissue fraction), as indices into `report.fields`.
pub fn hotspot_fields(report: &Report) -> Vec<usize> {
    let Some(h) = &report.hotspot else {
        return Vec::new();
    };
    report
        .fields
        .iter()
        .enumerate()
        .filter(|(_, f)| {
            f.x_px < h.x_px + h.width_px
                && h.x_px < f.x_px + f.width_px
                && f.y_px < h.y_px + h.height_px
                && h.y_px < f.y_px + f.height_px
        })
        .map(|(i, _)| i)
        .collect()
}

/// `detections.geojson`: a GeoJSON FeatureCollection (RFC 7946 structure) in QuPath's
/// object shape, coordinates in level-0 px (QuPath's convention), every feature with a
/// stable `id` (a UUID derived from its kind and position):
///
/// - the hot spot: a locked `annotation` Polygon classed "Mitotic hot spot" with its counts
///   as measurements;
/// - the HPF grid: a locked `annotation` Polygon classed "HPF" for every field that
///   overlaps the hot spot (the whole grid of the hot spot) and every other field counted
///   as an HPF, named `HPF r{row} c{col}`, measurements `mitoses`, `candidates`,
///   `tissue_fraction`, `in_hotspot` (1 or 0);
/// - each candidate: a `detection` Point classed `mitotic figure` or `non-mitotic figure`,
///   with `score`, `area_um2` and every feature as measurements (a JSON object, as QuPath
///   >= 0.4 writes them).
///
/// Import in QuPath with File > Import objects from file (or drag and drop).
pub fn geojson(report: &Report) -> Value {
    let mut features = Vec::new();
    let mut seen = std::collections::HashMap::new();
    let hpf_area_mm2 = report.parameters.hpf_area_mm2;
    if let Some(h) = &report.hotspot {
        features.push(json!({
            "type": "Feature",
            "id": stable_id(format!("hotspot:{:.2}:{:.2}", h.x_px, h.y_px), &mut seen),
            "geometry": rectangle(h.x_px, h.y_px, h.width_px, h.height_px),
            "properties": {
                "objectType": "annotation",
                "name": format!("Mitotic hot spot ({:.2} mm², {:.1} HPF)", h.area_mm2, h.area_hpf),
                "classification": classification(QUPATH_HOTSPOT),
                "isLocked": true,
                "measurements": finite_measurements([
                    ("mitoses".to_string(), h.mitoses as f64),
                    ("mitoses_per_mm2".to_string(), h.mitoses_per_mm2),
                    ("area_mm2".to_string(), h.area_mm2),
                    ("tissue_fraction".to_string(), h.tissue_fraction),
                ]),
            }
        }));
    }
    let in_hotspot = hotspot_fields(report);
    for (i, f) in report.fields.iter().enumerate() {
        let hot = in_hotspot.contains(&i);
        if !hot && f.tissue_fraction < report.parameters.min_field_tissue_fraction {
            continue;
        }
        features.push(json!({
            "type": "Feature",
            "id": stable_id(format!("hpf:{}:{}:{:.2}:{:.2}", f.row, f.col, f.x_px, f.y_px), &mut seen),
            "geometry": rectangle(f.x_px, f.y_px, f.width_px, f.height_px),
            "properties": {
                "objectType": "annotation",
                "name": format!("HPF r{} c{}", f.row, f.col),
                "classification": classification(QUPATH_HPF),
                "isLocked": true,
                "measurements": finite_measurements([
                    ("mitoses".to_string(), f.mitoses as f64),
                    ("candidates".to_string(), f.candidates as f64),
                    ("tissue_fraction".to_string(), f.tissue_fraction),
                    ("hpf_area_mm2".to_string(), hpf_area_mm2),
                    ("in_hotspot".to_string(), if hot { 1.0 } else { 0.0 }),
                ]),
            }
        }));
    }
    for d in &report.detections {
        let class = match d.class {
            DetectionClass::MitoticFigure => QUPATH_MITOSIS,
            DetectionClass::NonMitoticFigure => QUPATH_NON_MITOSIS,
        };
        let measurements = finite_measurements(
            [
                ("score".to_string(), d.score),
                ("area_um2".to_string(), d.area_um2),
            ]
            .into_iter()
            .chain(d.features.iter().filter(|(n, _)| n != "area_um2").cloned()),
        );
        features.push(json!({
            "type": "Feature",
            "id": stable_id(format!("detection:{:.2}:{:.2}", d.x_px, d.y_px), &mut seen),
            "geometry": { "type": "Point", "coordinates": [d.x_px, d.y_px] },
            "properties": {
                "objectType": "detection",
                "name": format!("{} {:.2}", d.class.label(), d.score),
                "classification": classification(class),
                "measurements": measurements,
            }
        }));
    }
    json!({ "type": "FeatureCollection", "features": features })
}

/// `mitotic-figures.json` in the MIDOG / Grand Challenge "Multiple points" format:
/// `{"type": "Multiple points", "points": [{"name": "mitotic figure" | "non-mitotic
/// figure", "point": [x_mm, y_mm, 0], "probability": score}], "version": {"major": 1,
/// "minor": 0}}`, as the MIDOG reference algorithm writes (non-mitotic candidates are
/// kept so average precision can be computed). Coordinates are level-0 px times the MPP,
/// in mm.
///
/// # Errors
/// [`Error::InvalidOption`] naming `--mpp` if the report's pixel size is not positive.
pub fn midog_points(report: &Report) -> Result<Value> {
    let mpp = report.mpp()?;
    let points: Vec<Value> = report
        .detections
        .iter()
        .map(|d| {
            let score = if d.score.is_finite() { d.score } else { 0.0 };
            json!({
                "name": d.class.label(),
                "point": [mpp.px_to_um(d.x_px) / 1000.0, mpp.px_to_um(d.y_px) / 1000.0, 0],
                "probability": score,
            })
        })
        .collect();
    Ok(json!({
        "type": "Multiple points",
        "points": points,
        "version": { "major": 1, "minor": 0 },
    }))
}
