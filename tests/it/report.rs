//! The report and its writers on made-up data: a synthetic 10 x 7.5 mm slide (pink
//! elliptical tissue with purple nuclei), 300 rejected candidates, 20 scattered mitoses
//! and a planted cluster of 14, the hot spot found by `find_hotspot`.
//!
//! `MITOCOUNT_REPORT_DEMO_DIR=/tmp/demo cargo test --release --test it report::demo --
//! --ignored` writes the outputs for looking at.

use std::path::Path;

use image::{Rgb, RgbImage};
use mitocount::hotspot::{find_hotspot, HotspotOptions};
use mitocount::report::images::{gallery_requests, hotspot_view_request};
use mitocount::report::{
    self, tables, Criterion, Detection, DetectionClass, FieldCount, GalleryCrop, HpfAreaSource,
    Outcome, Parameters, RegionRequest, RegionView, Report, ReportImages, ReportInput, SlideInfo,
    StageTiming, StainInfo, StainSource, Timings, VerdictBasis,
};
use mitocount::tiling::TissueMask;
use mitocount::units::Mpp;
use ndarray::Array2;
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;
use serde_json::Value;

pub(super) const SLIDE: (u64, u64) = (40_000, 30_000);
pub(super) const MPP: f64 = 0.25;
const MASK_DS: f64 = 40.0;
const CENTRE: (f64, f64) = (20_000.0, 15_000.0);
const RADII: (f64, f64) = (17_000.0, 12_000.0);
const CLUSTER: (f64, f64) = (26_000.0, 11_000.0);
const FEATURES: [&str; 3] = ["blue_ratio_mean", "solidity", "eccentricity"];

fn in_tissue(x: f64, y: f64) -> bool {
    ((x - CENTRE.0) / RADII.0).powi(2) + ((y - CENTRE.1) / RADII.1).powi(2) <= 1.0
}

fn tissue_mask() -> TissueMask {
    let cols = (SLIDE.0 as f64 / MASK_DS).ceil() as usize;
    let rows = (SLIDE.1 as f64 / MASK_DS).ceil() as usize;
    TissueMask::new(
        Array2::from_shape_fn((rows, cols), |(r, c)| {
            in_tissue((c as f64 + 0.5) * MASK_DS, (r as f64 + 0.5) * MASK_DS)
        }),
        MASK_DS,
    )
}

fn detection(x: f64, y: f64, class: DetectionClass, score: f64, field_px: f64) -> Detection {
    Detection {
        x_px: x,
        y_px: y,
        x_um: 0.0,
        y_um: 0.0,
        area_um2: 20.0 + 60.0 * score,
        score,
        class,
        hpf_row: (y / field_px).floor() as u32,
        hpf_col: (x / field_px).floor() as u32,
        features: FEATURES
            .iter()
            .enumerate()
            .map(|(i, n)| (n.to_string(), score * (i + 1) as f64))
            .collect(),
    }
}

/// The made-up report, with `path` as the slide path.
pub(super) fn make_report(path: &str) -> Report {
    make_report_snapped(path, None)
}

/// The made-up report; with `snap_px = Some(t)` every detection is moved to the nearest
/// centre of a `t` px lattice (for the demo with a mosaic of real mitosis crops).
fn make_report_snapped(path: &str, snap_px: Option<f64>) -> Report {
    let mpp = Mpp::new(MPP).unwrap();
    let hpf_area_mm2 = 0.237;
    let field_side_um = (hpf_area_mm2 * 1e6f64).sqrt();
    let field_px = mpp.um_to_px(field_side_um);
    let mut rng = Pcg64::seed_from_u64(42);
    let random_in_tissue = |rng: &mut Pcg64| loop {
        let x = rng.random::<f64>() * SLIDE.0 as f64;
        let y = rng.random::<f64>() * SLIDE.1 as f64;
        if in_tissue(x, y) {
            return (x, y);
        }
    };
    let mut detections = Vec::new();
    for _ in 0..300 {
        let (x, y) = random_in_tissue(&mut rng);
        let score = 0.45 * rng.random::<f64>();
        detections.push(detection(
            x,
            y,
            DetectionClass::NonMitoticFigure,
            score,
            field_px,
        ));
    }
    for _ in 0..20 {
        let (x, y) = random_in_tissue(&mut rng);
        let score = 0.5 + 0.5 * rng.random::<f64>();
        detections.push(detection(
            x,
            y,
            DetectionClass::MitoticFigure,
            score,
            field_px,
        ));
    }
    for i in 0..14 {
        let a = i as f64 * 2.399_963;
        let r = 2_400.0 * ((i as f64 + 0.5) / 14.0).sqrt();
        let (x, y) = (CLUSTER.0 + r * a.cos(), CLUSTER.1 + r * a.sin());
        let score = 0.6 + 0.4 * rng.random::<f64>();
        detections.push(detection(
            x,
            y,
            DetectionClass::MitoticFigure,
            score,
            field_px,
        ));
    }
    if let Some(t) = snap_px {
        for d in &mut detections {
            d.x_px = ((d.x_px / t).floor() + 0.5) * t;
            d.y_px = ((d.y_px / t).floor() + 0.5) * t;
            d.hpf_row = (d.y_px / field_px).floor() as u32;
            d.hpf_col = (d.x_px / field_px).floor() as u32;
        }
    }
    // Deterministic order: by field, then y, then x.
    detections.sort_by(|a, b| {
        (a.hpf_row, a.hpf_col)
            .cmp(&(b.hpf_row, b.hpf_col))
            .then(a.y_px.total_cmp(&b.y_px))
            .then(a.x_px.total_cmp(&b.x_px))
    });

    let tissue = tissue_mask();
    let cols = (SLIDE.0 as f64 / field_px).ceil() as u32;
    let rows = (SLIDE.1 as f64 / field_px).ceil() as u32;
    let mut fields = Vec::new();
    for row in 0..rows {
        for col in 0..cols {
            let (x, y) = (col as f64 * field_px, row as f64 * field_px);
            let w = field_px.min(SLIDE.0 as f64 - x);
            let h = field_px.min(SLIDE.1 as f64 - y);
            let tissue_fraction = tissue.tissue_fraction(x, y, x + w, y + h);
            if tissue_fraction <= 0.0 {
                continue;
            }
            let here = detections
                .iter()
                .filter(|d| d.hpf_row == row && d.hpf_col == col);
            fields.push(FieldCount {
                row,
                col,
                x_px: x,
                y_px: y,
                width_px: w,
                height_px: h,
                tissue_fraction,
                mitoses: here
                    .clone()
                    .filter(|d| d.class == DetectionClass::MitoticFigure)
                    .count(),
                candidates: here.count(),
            });
        }
    }
    let hotspot_opts = HotspotOptions::default();
    let mitoses: Vec<[f64; 2]> = detections
        .iter()
        .filter(|d| d.class == DetectionClass::MitoticFigure)
        .map(|d| [d.x_px, d.y_px])
        .collect();
    let hotspot = find_hotspot(&mitoses, &tissue, SLIDE, mpp, &hotspot_opts).unwrap();
    let input = ReportInput {
        slide: SlideInfo {
            path: path.to_string(),
            format: "tiff".to_string(),
            width_px: SLIDE.0,
            height_px: SLIDE.1,
            mpp_um_per_px: MPP,
            mpp_source: "tiff-resolution".to_string(),
            objective_magnification: Some(40.0),
        },
        parameters: Parameters {
            hpf_area_mm2,
            hpf_area_source: HpfAreaSource::Default,
            field_side_um,
            min_field_tissue_fraction: 0.5,
            hotspot: hotspot_opts,
            criterion: Criterion::default(),
            stain: StainInfo {
                haematoxylin_od: [0.65, 0.70, 0.29],
                eosin_od: [0.07, 0.99, 0.11],
                residual_od: [0.27, 0.57, 0.78],
                source: StainSource::Default,
            },
            detector: serde_json::json!({ "min_score": 0.5, "blob_sigma_um": [1.5, 4.0] }),
            tissue_mask: serde_json::json!({ "downsample": MASK_DS }),
            candidate_min_score: 0.0,
            classifier: None,
            mitosis_threshold: 0.5,
        },
        tissue_area_mm2: mpp.px2_to_um2(tissue.tissue_area_px2()) / 1e6,
        fields,
        detections,
        unlisted_candidates: 0,
        hotspot,
        warnings: vec!["stain estimation fell back to defaults".to_string()],
        evaluation: None,
        timings: Timings {
            total_s: 1.5,
            stages_s: vec![StageTiming {
                stage: "detect".to_string(),
                seconds: 1.2,
            }],
        },
    };
    Report::build(input).unwrap()
}

/// Synthetic H&E of a level-0 rectangle at a downsample: pink tissue, off-white
/// background, purple nuclei (darker for mitoses) and a sprinkle of background nuclei.
fn render_region(report: &Report, req: &RegionRequest) -> RegionView {
    render_region_with(report, req, None)
}

/// As [`render_region`], or, with a `texture`, tissue sampled from that image repeated
/// over the slide (1 texture px = 1 level-0 px) and no drawn nuclei.
fn render_region_with(
    report: &Report,
    req: &RegionRequest,
    texture: Option<&RgbImage>,
) -> RegionView {
    let ds = req.downsample;
    let w = (req.width_px / ds).round().max(1.0) as u32;
    let h = (req.height_px / ds).round().max(1.0) as u32;
    let mut img = RgbImage::from_fn(w, h, |ox, oy| {
        let x = req.x_px + (ox as f64 + 0.5) * ds;
        let y = req.y_px + (oy as f64 + 0.5) * ds;
        if let (true, Some(t)) = (in_tissue(x, y), texture) {
            let tx = (x.floor() as i64).rem_euclid(t.width() as i64) as u32;
            let ty = (y.floor() as i64).rem_euclid(t.height() as i64) as u32;
            *t.get_pixel(tx, ty)
        } else if in_tissue(x, y) {
            // Background nuclei on a 40 µm lattice, jittered.
            let (gx, gy) = ((x / 160.0).floor(), (y / 160.0).floor());
            let hsh = ((gx * 73_856_093.0 + gy * 19_349_663.0) as i64).rem_euclid(1000) as f64;
            let (nx, ny) = (
                (gx + 0.2 + hsh / 1600.0) * 160.0,
                (gy + 0.3 + hsh / 2000.0) * 160.0,
            );
            if (x - nx).hypot(y - ny) < 18.0 {
                Rgb([150, 100, 175])
            } else {
                Rgb([236, 170, 200])
            }
        } else {
            Rgb([246, 244, 246])
        }
    });
    let r_px = (5.0 / MPP / ds).max(1.0);
    for d in report.detections.iter().filter(|_| texture.is_none()) {
        let (cx, cy) = ((d.x_px - req.x_px) / ds, (d.y_px - req.y_px) / ds);
        let color = match d.class {
            DetectionClass::MitoticFigure => Rgb([60, 20, 100]),
            DetectionClass::NonMitoticFigure => Rgb([110, 60, 150]),
        };
        let rr = r_px.ceil() as i64;
        for dy in -rr..=rr {
            for dx in -rr..=rr {
                let (px, py) = (cx.round() as i64 + dx, cy.round() as i64 + dy);
                if (dx * dx + dy * dy) as f64 <= r_px * r_px
                    && px >= 0
                    && py >= 0
                    && px < w as i64
                    && py < h as i64
                {
                    img.put_pixel(px as u32, py as u32, color);
                }
            }
        }
    }
    RegionView {
        image: img,
        origin_x_px: req.x_px,
        origin_y_px: req.y_px,
        downsample: ds,
    }
}

fn make_images(report: &Report) -> ReportImages {
    let thumb = render_region(
        report,
        &RegionRequest {
            x_px: 0.0,
            y_px: 0.0,
            width_px: SLIDE.0 as f64,
            height_px: SLIDE.1 as f64,
            downsample: MASK_DS,
        },
    );
    let hotspot_view = hotspot_view_request(report).map(|r| render_region(report, &r));
    let gallery = gallery_requests(report, 100, 8)
        .into_iter()
        .map(|(i, r)| GalleryCrop {
            detection_index: i,
            view: render_region(report, &r),
        })
        .collect();
    let mask = tissue_mask().mask().clone();
    let thumbnail_tissue = (mask.dim()
        == (thumb.image.height() as usize, thumb.image.width() as usize))
        .then_some(mask);
    assert!(
        thumbnail_tissue.is_some(),
        "test mask on the thumbnail grid"
    );
    ReportImages {
        thumbnail: thumb.image,
        thumbnail_downsample: MASK_DS,
        thumbnail_tissue,
        hotspot_view,
        gallery,
    }
}

pub(super) fn write_all(report: &Report, dir: &Path) -> Vec<std::path::PathBuf> {
    let images = make_images(report);
    report::write_outputs(report, Some(&images), dir).unwrap()
}

#[test]
fn build_derives_counts_hotspot_and_verdict() {
    let r = make_report("slides/case-1.tiff");
    assert_eq!(r.counts.mitoses, 34);
    assert_eq!(r.counts.candidates, 334);
    let hs = r.hotspot.as_ref().unwrap();
    // The planted cluster (14 within 600 µm of its centre) is inside the hot spot.
    assert!(hs.contains(CLUSTER.0, CLUSTER.1), "{hs:?}");
    assert!(hs.mitoses >= 14, "{hs:?}");
    assert!((hs.area_mm2 - 2.37).abs() < 1e-9);
    assert!((hs.mitoses_per_10_hpf - hs.mitoses as f64).abs() < 1e-9);
    assert!((hs.x_um - hs.x_px * MPP).abs() < 1e-9);
    assert_eq!(r.verdict.outcome, Outcome::Positive);
    assert_eq!(r.verdict.basis, VerdictBasis::Hotspot);
    assert_eq!(r.verdict.count, hs.mitoses);
    // The sentence states the numbers used.
    let st = &r.verdict.statement;
    for needle in [
        "0.2370 mm²",
        "0.2500 µm/px",
        "(0.650, 0.700, 0.290)",
        ">= 3",
        "cutaneous",
    ] {
        assert!(st.contains(needle), "{needle:?} missing from {st}");
    }
    // Densities agree with each other.
    let per_mm2 = r.counts.mitoses_per_mm2.unwrap();
    assert!((per_mm2 - 34.0 / r.tissue.tissue_area_mm2).abs() < 1e-12);
    assert!((r.tissue.tissue_area_hpf - r.tissue.tissue_area_mm2 / 0.237).abs() < 1e-9);
    // µm coordinates filled in.
    assert!(r
        .detections
        .iter()
        .all(|d| (d.x_um - d.x_px * MPP).abs() < 1e-9));
    assert!(r.fields.iter().any(|f| f.tissue_fraction < 0.5));
    assert!(r.tissue.fields_counted < r.tissue.fields_with_tissue);
}

#[test]
fn hotspot_count_mismatch_is_warned_and_recounted() {
    let r = make_report("a.tiff");
    let mut hs = find_hotspot(
        &[[CLUSTER.0, CLUSTER.1]],
        &tissue_mask(),
        SLIDE,
        Mpp::new(MPP).unwrap(),
        &HotspotOptions::default(),
    )
    .unwrap()
    .unwrap();
    hs.count = 1;
    let input = ReportInput {
        slide: r.slide.clone(),
        parameters: r.parameters.clone(),
        tissue_area_mm2: r.tissue.tissue_area_mm2,
        fields: r.fields.clone(),
        detections: r.detections.clone(),
        unlisted_candidates: 0,
        hotspot: Some(hs),
        warnings: vec![],
        evaluation: None,
        timings: Timings::default(),
    };
    let r2 = Report::build(input).unwrap();
    assert!(r2.hotspot.as_ref().unwrap().mitoses > 1);
    assert!(r2
        .warnings
        .iter()
        .any(|w| w.contains("hot-spot search counted 1")));
}

#[test]
fn no_hotspot_falls_back_to_all_tissue() {
    let r = make_report("a.tiff");
    let input = ReportInput {
        slide: r.slide.clone(),
        parameters: r.parameters.clone(),
        tissue_area_mm2: 1.0,
        fields: vec![],
        detections: r.detections[..5].to_vec(),
        unlisted_candidates: 0,
        hotspot: None,
        warnings: vec![],
        evaluation: None,
        timings: Timings::default(),
    };
    let r2 = Report::build(input).unwrap();
    assert_eq!(r2.verdict.basis, VerdictBasis::AllTissue);
    // 1 mm² of tissue is 4.2 HPF: every mitosis in it, against the threshold as it is.
    assert!(
        r2.verdict
            .headline
            .contains("counted over all the tissue, 4.2 HPF")
            && r2
                .verdict
                .headline
                .contains("fewer than the 10 HPF the criterion asks"),
        "{}",
        r2.verdict.headline
    );
    assert_eq!(r2.verdict.value, Some(r2.verdict.count as f64));
    // With enough tissue but no window that fits, a warning says why.
    let input = ReportInput {
        slide: r.slide.clone(),
        parameters: r.parameters.clone(),
        tissue_area_mm2: 3.0,
        fields: vec![],
        detections: r.detections[..5].to_vec(),
        unlisted_candidates: 0,
        hotspot: None,
        warnings: vec![],
        evaluation: None,
        timings: Timings::default(),
    };
    let thin = Report::build(input).unwrap();
    assert!(thin
        .warnings
        .iter()
        .any(|w| w.contains("no 2.370 mm² hot-spot window")));
    // The HTML still renders without a hot-spot picture.
    let dir = tempfile::tempdir().unwrap();
    let files = write_all(&r2, dir.path());
    assert!(!files.iter().any(|f| f.ends_with("hotspot.png")));
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.contains("none: no window fits in the tissue"));
}

#[test]
fn report_json_round_trips_with_unit_names() {
    let r = make_report("a.tiff");
    let s = report::to_json_string(&r).unwrap();
    let back: Report = serde_json::from_str(&s).unwrap();
    // serde_json's default float parsing may differ in the last bit: compare with a
    // relative tolerance.
    let v: Value = serde_json::from_str(&s).unwrap();
    let v2 = serde_json::to_value(&back).unwrap();
    assert_json_close(&v, &v2, "");
    assert_eq!(back.detections.len(), r.detections.len());
    assert_eq!(back.verdict.statement, r.verdict.statement);
    assert_eq!(v["program"]["name"], "mitocount");
    assert_eq!(v["program"]["version"], env!("CARGO_PKG_VERSION"));
    for ptr in [
        "/slide/mpp_um_per_px",
        "/parameters/hpf_area_mm2",
        "/parameters/hotspot/window_area_mm2",
        "/parameters/criterion/threshold_per_10_hpf",
        "/tissue/tissue_area_mm2",
        "/counts/mitoses_per_mm2",
        "/hotspot/width_um",
        "/verdict/threshold",
        "/detections/0/features/solidity",
        "/timings/total_s",
    ] {
        assert!(v.pointer(ptr).is_some(), "{ptr} missing");
    }
    assert_eq!(v["verdict"]["outcome"], "positive");
    assert_eq!(v["verdict"]["comparison"], ">=");
    assert_eq!(
        v["parameters"]["criterion"]["name"],
        "cutaneous-leiomyosarcoma"
    );
}

fn assert_json_close(a: &Value, b: &Value, at: &str) {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!(
                (x - y).abs() <= 1e-12 * x.abs().max(1.0),
                "{at}: {x} vs {y}"
            );
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{at}");
            for (i, (x, y)) in x.iter().zip(y).enumerate() {
                assert_json_close(x, y, &format!("{at}/{i}"));
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            assert_eq!(x.len(), y.len(), "{at}");
            for (k, xv) in x {
                assert_json_close(xv, &y[k], &format!("{at}/{k}"));
            }
        }
        _ => assert_eq!(a, b, "{at}"),
    }
}

#[test]
fn csv_has_header_and_one_row_per_candidate() {
    let r = make_report("a.tiff");
    let bytes = tables::detections_csv(&r).unwrap();
    let mut rd = csv::Reader::from_reader(bytes.as_slice());
    let header: Vec<String> = rd.headers().unwrap().iter().map(String::from).collect();
    let mut want: Vec<String> = tables::CSV_COLUMNS.iter().map(|s| s.to_string()).collect();
    want.extend(FEATURES.iter().map(|s| s.to_string()));
    assert_eq!(header, want);
    assert_eq!(
        &header[..9],
        ["x_px", "y_px", "x_um", "y_um", "area_um2", "score", "class", "hpf_row", "hpf_col"]
    );
    let rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), r.detections.len());
    let mut n_mit = 0;
    for (row, d) in rows.iter().zip(&r.detections) {
        assert!((row[0].parse::<f64>().unwrap() - d.x_px).abs() < 0.006);
        assert!((row[2].parse::<f64>().unwrap() - d.x_um).abs() < 0.0006);
        match &row[6] {
            "mitotic figure" => n_mit += 1,
            "non-mitotic figure" => {}
            other => panic!("class {other}"),
        }
        assert_eq!(row[7].parse::<u32>().unwrap(), d.hpf_row);
        assert_eq!(row[10].parse::<f64>().unwrap(), d.features[1].1);
    }
    assert_eq!(n_mit, 34);
}

#[test]
fn html_shows_verdict_embeds_images_and_escapes_text() {
    let r = make_report("/data/<script>alert('x')</script>.svs");
    let dir = tempfile::tempdir().unwrap();
    let files = write_all(&r, dir.path());
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "detections.csv",
            "detections.geojson",
            "mitotic-figures.json",
            "heatmap.png",
            "hotspot.png",
            "report.html",
            "report.json"
        ],
        "report.json is written last"
    );
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    // The hot spot's HPF grid, and one verdict number.
    assert!(html.contains("id=\"hotspot-fields\""));
    assert_eq!(html.matches("class=\"verdict-number\"").count(), 1);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("POSITIVE"));
    assert!(html.contains("class=\"verdict positive\""));
    // The heat map as PNG; the hot-spot view and every gallery crop (each mitosis plus 8
    // rejected candidates) as JPEG.
    assert_eq!(html.matches("data:image/png;base64,").count(), 1);
    assert_eq!(html.matches("data:image/jpeg;base64,").count(), 1 + 34 + 8);
    assert!(!html.contains("<script"), "unescaped script tag");
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    // Self-contained: no external resources.
    for needle in ["http://", "https://", "src=\"/", "<link"] {
        assert!(!html.contains(needle), "{needle} found");
    }
    // The embedded heat map is the file's PNG.
    use base64::Engine;
    let png = std::fs::read(dir.path().join("heatmap.png")).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&png);
    assert!(html.contains(&b64));
}

#[test]
fn pngs_decode_with_expected_sizes_and_outline_in_place() {
    let r = make_report("a.tiff");
    let images = make_images(&r);
    let dir = tempfile::tempdir().unwrap();
    report::write_outputs(&r, Some(&images), dir.path()).unwrap();
    let heat = image::open(dir.path().join("heatmap.png"))
        .unwrap()
        .to_rgb8();
    let (tw, th) = images.thumbnail.dimensions();
    assert_eq!(heat.height(), th);
    assert!(
        heat.width() > tw && heat.width() < tw + 200,
        "legend panel width"
    );
    // Background far from tissue is left as it was.
    assert_eq!(heat.get_pixel(5, 5), images.thumbnail.get_pixel(5, 5));
    // Glass inside fields is not coloured: apart from the faint grid lines, the hot-spot
    // outline and the scale bar, glass pixels keep the thumbnail's colour.
    let mask = images.thumbnail_tissue.as_ref().unwrap();
    let (mut glass, mut changed) = (0usize, 0usize);
    for ((row, col), &is_tissue) in mask.indexed_iter() {
        if !is_tissue {
            glass += 1;
            let (x, y) = (col as u32, row as u32);
            changed += usize::from(heat.get_pixel(x, y) != images.thumbnail.get_pixel(x, y));
        }
    }
    assert!(
        glass > 0 && (changed as f64) < 0.05 * glass as f64,
        "{changed} of {glass} glass px coloured"
    );
    // The hot-spot outline: black outer edge, white inside it, at the rectangle's place.
    let hs = r.hotspot.as_ref().unwrap();
    let ds = images.thumbnail_downsample;
    let (x0, y0) = ((hs.x_px / ds).round() as u32, (hs.y_px / ds).round() as u32);
    let (x1, y1) = (
        ((hs.x_px + hs.width_px) / ds).round() as u32,
        ((hs.y_px + hs.height_px) / ds).round() as u32,
    );
    let mx = (x0 + x1) / 2;
    let my = (y0 + y1) / 2;
    assert_eq!(*heat.get_pixel(mx, y0), Rgb([0, 0, 0]));
    assert_eq!(*heat.get_pixel(mx, y0 + 1), Rgb([255, 255, 255]));
    assert_eq!(*heat.get_pixel(x0, my), Rgb([0, 0, 0]));
    assert_eq!(*heat.get_pixel(x0 + 1, my), Rgb([255, 255, 255]));
    assert_eq!(*heat.get_pixel(x1 - 1, my), Rgb([0, 0, 0]));
    assert_eq!(*heat.get_pixel(mx, y1 - 1), Rgb([0, 0, 0]));
    // Just outside the outline the picture is not outline-coloured.
    assert_ne!(*heat.get_pixel(mx, y0 - 2), Rgb([255, 255, 255]));
    // The field holding the most mitoses is coloured near the top of viridis (yellow-green).
    let top = r
        .fields
        .iter()
        .filter(|f| f.tissue_fraction >= 0.5)
        .max_by_key(|f| f.mitoses)
        .unwrap();
    let (fx, fy) = (
        ((top.x_px + 0.25 * top.width_px) / ds) as u32,
        ((top.y_px + 0.25 * top.height_px) / ds) as u32,
    );
    let p = heat.get_pixel(fx, fy);
    assert!(p.0[1] > p.0[2] && p.0[1] > 150, "field colour {p:?}");

    let view = images.hotspot_view.as_ref().unwrap();
    let hot = image::open(dir.path().join("hotspot.png"))
        .unwrap()
        .to_rgb8();
    // The view keeps its pixel grid; the key is a white band below it.
    assert_eq!(hot.width(), view.image.width());
    assert!(hot.height() > view.image.height() && hot.height() < view.image.height() + 120);
    // At most 0.5 µm per pixel: figures can be judged.
    assert!(view.downsample * MPP <= report::images::HOTSPOT_VIEW_MAX_UM_PER_PX + 1e-9);
    assert!(hot.width() > 2000, "{} px", hot.width());
    let band_y = view.image.height() + 2;
    assert_eq!(
        *hot.get_pixel(hot.width() / 2, band_y),
        Rgb([255, 255, 255])
    );
    let (vx0, vy0) = view.to_image(hs.x_px, hs.y_px);
    let (vx1, _) = view.to_image(hs.x_px + hs.width_px, hs.y_px + hs.height_px);
    let vmx = ((vx0 + vx1) / 2.0) as u32;
    assert_eq!(*hot.get_pixel(vmx, vy0.round() as u32), Rgb([0, 0, 0]));
    assert_eq!(
        *hot.get_pixel(vmx, vy0.round() as u32 + 1),
        Rgb([255, 255, 255])
    );
    // Each mitosis in view is circled in green at the circle radius.
    let mpp = Mpp::new(MPP).unwrap();
    let radius = mpp.um_to_px(report::images::CIRCLE_RADIUS_UM) / view.downsample;
    let greens = r
        .detections
        .iter()
        .filter(|d| d.class == DetectionClass::MitoticFigure && hs.contains(d.x_px, d.y_px))
        .filter(|d| {
            let (cx, cy) = view.to_image(d.x_px, d.y_px);
            (0..360).step_by(5).any(|deg| {
                let a = (deg as f64).to_radians();
                let (px, py) = (cx + (radius + 1.0) * a.cos(), cy + (radius + 1.0) * a.sin());
                px >= 0.0
                    && py >= 0.0
                    && (px as u32) < hot.width()
                    && (py as u32) < hot.height()
                    && *hot.get_pixel(px as u32, py as u32) == report::images::MITOSIS_RGB
            })
        })
        .count();
    assert_eq!(greens, hs.mitoses);
}

#[test]
fn outputs_are_deterministic() {
    let r = make_report("a.tiff");
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let fa = write_all(&r, a.path());
    write_all(&r, b.path());
    for f in fa {
        let name = f.file_name().unwrap();
        assert_eq!(
            std::fs::read(a.path().join(name)).unwrap(),
            std::fs::read(b.path().join(name)).unwrap(),
            "{name:?} differs"
        );
    }
}

#[test]
fn summary_text_states_verdict_and_numbers() {
    let r = make_report("case-7.svs");
    let t = report::summary_text(&r);
    let hs = r.hotspot.as_ref().unwrap();
    assert!(t.contains("Verdict:  POSITIVE"), "{t}");
    assert!(
        t.contains(&format!("{} mitoses in 2.370 mm²", hs.mitoses)),
        "{t}"
    );
    assert!(t.contains("34 in all tissue, of 334 candidates"), "{t}");
    assert!(t.contains("Verdict:  POSITIVE: ") && t.contains("in the densest 10 HPF window"));
    // One number per claim: no second figure "per 10 HPF" competes with the verdict's.
    assert_eq!(t.matches("per 10 HPF").count(), 0, "{t}");
    assert!(t.contains("case-7.svs"));
    assert!(t.contains("Warning:  stain estimation fell back to defaults"));
    assert!(t.contains("No validated mitotic cut-off"));
}

#[test]
fn write_outputs_reports_unwritable_folder() {
    let r = make_report("a.tiff");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-folder");
    std::fs::write(&file, b"x").unwrap();
    let err = report::write_outputs(&r, Some(&make_images(&r)), &file).unwrap_err();
    assert!(err.to_string().contains("not-a-folder"), "{err}");
}

/// Writes the demo outputs for looking at (set MITOCOUNT_REPORT_DEMO_DIR). With
/// MITOCOUNT_REPORT_DEMO_MOSAIC set to a PNG mosaic of 128 px crops each centred on a
/// mitosis, the tissue is that mosaic and the detections sit on the crop centres.
#[test]
#[ignore]
fn demo() {
    let dir = std::env::var("MITOCOUNT_REPORT_DEMO_DIR").unwrap_or("/tmp/mitocount-demo".into());
    let mosaic = std::env::var("MITOCOUNT_REPORT_DEMO_MOSAIC")
        .ok()
        .map(|p| image::open(p).unwrap().to_rgb8());
    let r = make_report_snapped(
        "/data/slides/<b>case-42</b>.tiff",
        mosaic.as_ref().map(|_| 128.0),
    );
    let texture = mosaic.as_ref();
    let thumb = render_region(
        &r,
        &RegionRequest {
            x_px: 0.0,
            y_px: 0.0,
            width_px: SLIDE.0 as f64,
            height_px: SLIDE.1 as f64,
            downsample: MASK_DS,
        },
    );
    let images = ReportImages {
        thumbnail: thumb.image,
        thumbnail_downsample: MASK_DS,
        thumbnail_tissue: None,
        hotspot_view: hotspot_view_request(&r).map(|q| render_region_with(&r, &q, texture)),
        gallery: gallery_requests(&r, 100, 8)
            .into_iter()
            .map(|(i, q)| GalleryCrop {
                detection_index: i,
                view: render_region_with(&r, &q, texture),
            })
            .collect(),
    };
    let files = report::write_outputs(&r, Some(&images), Path::new(&dir)).unwrap();
    print!("{}", report::summary_text(&r));
    for f in files {
        println!(
            "{} {} bytes",
            f.display(),
            std::fs::metadata(&f).unwrap().len()
        );
    }
}
