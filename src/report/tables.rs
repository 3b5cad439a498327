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

/// QuPath class name and colour (RGB) of mitoses.
pub const QUPATH_MITOSIS: (&str, [u8; 3]) = ("Mitosis", [0, 200, 0]);
/// QuPath class name and colour of rejected candidates.
pub const QUPATH_NON_MITOSIS: (&str, [u8; 3]) = ("Non-mitosis", [255, 215, 0]);
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

/// `detections.csv`: one row per candidate, mitotic and not. Columns [`CSV_COLUMNS`]
/// then one per feature (empty where a detection lacks it or it is not finite). `class` is
/// `mitotic figure` or `non-mitotic figure`.
///
/// # Errors
/// [`Error::Output`] if the CSV writer fails (it writes to memory, so it should not).
pub fn detections_csv(report: &Report) -> Result<Vec<u8>> {
    let err = |e: csv::Error| Error::Output {
        path: PathBuf::from("detections.csv"),
        reason: e.to_string(),
    };
    let features = feature_names(report);
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

/// `detections.geojson`: a GeoJSON FeatureCollection (RFC 7946 structure) in QuPath's
/// object shape, coordinates in level-0 px (QuPath's convention):
///
/// - the hot spot: a locked `annotation` Polygon classed "Mitotic hot spot" with its counts
///   as measurements;
/// - each counted HPF field: a locked `annotation` Polygon classed "HPF", named
///   `HPF r{row} c{col}`, measurements `mitoses`, `candidates`, `tissue_fraction`;
/// - each candidate: a `detection` Point classed "Mitosis" or "Non-mitosis", with `score`,
///   `area_um2` and every feature as measurements (a JSON object, as QuPath >= 0.4
///   writes them).
///
/// Import in QuPath with File > Import objects from file (or drag and drop).
pub fn geojson(report: &Report) -> Value {
    let mut features = Vec::new();
    let hpf_area_mm2 = report.parameters.hpf_area_mm2;
    if let Some(h) = &report.hotspot {
        features.push(json!({
            "type": "Feature",
            "geometry": rectangle(h.x_px, h.y_px, h.width_px, h.height_px),
            "properties": {
                "objectType": "annotation",
                "name": format!("Mitotic hot spot ({:.2} mm², {:.1} HPF)", h.area_mm2, h.area_hpf),
                "classification": classification(QUPATH_HOTSPOT),
                "isLocked": true,
                "measurements": finite_measurements([
                    ("mitoses".to_string(), h.mitoses as f64),
                    ("mitoses_per_10_hpf".to_string(), h.mitoses_per_10_hpf),
                    ("mitoses_per_mm2".to_string(), h.mitoses_per_mm2),
                    ("area_mm2".to_string(), h.area_mm2),
                    ("tissue_fraction".to_string(), h.tissue_fraction),
                ]),
            }
        }));
    }
    for f in report
        .fields
        .iter()
        .filter(|f| f.tissue_fraction >= report.parameters.min_field_tissue_fraction)
    {
        features.push(json!({
            "type": "Feature",
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
            .chain(d.features.iter().cloned()),
        );
        features.push(json!({
            "type": "Feature",
            "geometry": { "type": "Point", "coordinates": [d.x_px, d.y_px] },
            "properties": {
                "objectType": "detection",
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
