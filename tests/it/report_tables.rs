//! The report's tables on the hand-built report of `report.rs`: `detections.geojson`
//! (RFC 7946 and QuPath's object shape) and `mitotic-figures.json` (MIDOG). Split from
//! `report.rs` to keep files under 850 lines.

use std::collections::HashSet;

use mitocount::report::{self, tables, DetectionClass};
use serde_json::Value;

use super::report::{make_report, write_all, MPP, SLIDE};

/// RFC 7946 structure (FeatureCollection of Features with well-formed geometries) and
/// QuPath's object shape.
#[test]
fn geojson_is_valid_and_qupath_shaped() {
    let r = make_report("a.tiff");
    let dir = tempfile::tempdir().unwrap();
    write_all(&r, dir.path());
    let text = std::fs::read_to_string(dir.path().join("detections.geojson")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["type"], "FeatureCollection");
    let features = v["features"].as_array().unwrap();
    let position = |p: &Value| {
        let a = p.as_array().expect("position is an array");
        assert!(a.len() >= 2, "position {p}");
        assert!(
            a.iter().all(|c| c.as_f64().is_some_and(f64::is_finite)),
            "position {p}"
        );
        (a[0].as_f64().unwrap(), a[1].as_f64().unwrap())
    };
    let (mut points, mut polygons) = (0, 0);
    let mut classes = HashSet::new();
    for f in features {
        assert_eq!(f["type"], "Feature");
        let g = &f["geometry"];
        match g["type"].as_str().unwrap() {
            "Point" => {
                points += 1;
                let (x, y) = position(&g["coordinates"]);
                assert!((0.0..=SLIDE.0 as f64).contains(&x) && (0.0..=SLIDE.1 as f64).contains(&y));
            }
            "Polygon" => {
                polygons += 1;
                let rings = g["coordinates"].as_array().unwrap();
                assert!(!rings.is_empty());
                for ring in rings {
                    let ring = ring.as_array().unwrap();
                    assert!(ring.len() >= 4, "a linear ring has at least 4 positions");
                    assert_eq!(
                        position(&ring[0]),
                        position(&ring[ring.len() - 1]),
                        "ring closed"
                    );
                }
            }
            other => panic!("unexpected geometry {other}"),
        }
        let p = f["properties"].as_object().expect("properties object");
        let object_type = p["objectType"].as_str().unwrap();
        assert!(object_type == "annotation" || object_type == "detection");
        let name = p["classification"]["name"].as_str().unwrap();
        classes.insert(name.to_string());
        let color = p["classification"]["color"].as_array().unwrap();
        assert_eq!(color.len(), 3);
        assert!(color.iter().all(|c| c.as_u64().is_some_and(|c| c <= 255)));
        let m = p["measurements"].as_object().expect("measurements object");
        assert!(m.values().all(|x| x.as_f64().is_some_and(f64::is_finite)));
        if object_type == "annotation" {
            assert_eq!(g["type"], "Polygon");
            assert_eq!(p["isLocked"], true);
            assert!(p["name"].is_string());
        } else {
            assert_eq!(g["type"], "Point");
            assert!(m.contains_key("score") && m.contains_key("solidity"));
        }
    }
    assert_eq!(points, r.detections.len());
    // The hot spot, every counted field and every field overlapping the hot spot.
    let hot_fields = report::tables::hotspot_fields(&r);
    let grid = r
        .fields
        .iter()
        .enumerate()
        .filter(|(i, f)| {
            f.tissue_fraction >= r.parameters.min_field_tissue_fraction || hot_fields.contains(i)
        })
        .count();
    assert!(
        hot_fields.len() >= 12,
        "{} fields overlap the hot spot",
        hot_fields.len()
    );
    assert_eq!(polygons, 1 + grid);
    for c in [
        "mitotic figure",
        "non-mitotic figure",
        "Mitotic hot spot",
        "HPF",
    ] {
        assert!(classes.contains(c), "{c} missing");
    }
    let n_mitosis = features
        .iter()
        .filter(|f| f["properties"]["classification"]["name"] == "mitotic figure")
        .count();
    assert_eq!(n_mitosis, r.counts.mitoses);
}

/// The MIDOG reference algorithm's output format (DeepMicroscopy/MIDOG_reference_docker
/// README): "Multiple points", points in mm with z = 0, name and probability, version 1.0.
#[test]
fn midog_json_matches_reference_format() {
    let r = make_report("a.tiff");
    let v = tables::midog_points(&r).unwrap();
    assert_eq!(v["type"], "Multiple points");
    assert_eq!(v["version"]["major"], 1);
    assert_eq!(v["version"]["minor"], 0);
    let points = v["points"].as_array().unwrap();
    assert_eq!(points.len(), r.detections.len());
    for (p, d) in points.iter().zip(&r.detections) {
        let pt = p["point"].as_array().unwrap();
        assert_eq!(pt.len(), 3);
        assert!((pt[0].as_f64().unwrap() - d.x_px * MPP / 1000.0).abs() < 1e-12);
        assert!((pt[1].as_f64().unwrap() - d.y_px * MPP / 1000.0).abs() < 1e-12);
        assert_eq!(pt[2].as_f64().unwrap(), 0.0);
        let prob = p["probability"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&prob));
        let name = p["name"].as_str().unwrap();
        let want = match d.class {
            DetectionClass::MitoticFigure => "mitotic figure",
            DetectionClass::NonMitoticFigure => "non-mitotic figure",
        };
        assert_eq!(name, want);
    }
    let n_mit = points
        .iter()
        .filter(|p| p["name"] == "mitotic figure")
        .count();
    assert_eq!(n_mit, 34);
}
