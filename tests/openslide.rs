//! The `openslide` feature's reader against the native one on the same real slide
//! (`sample_tiles/CMU-1-Small-Region.svs`, Aperio, JPEG tiles): the same levels and pixel
//! size, pixels within JPEG decoder rounding (OpenSlide decodes with the system's libjpeg,
//! the native reader with zune-jpeg), and the same detections.
//!
//! Its own test binary with `required-features = ["openslide"]`, so that CI builds only the
//! library and this file a second time: `cargo test --release --features openslide --test
//! openslide`.

use std::path::Path;

mod common;

use mitocount::config::{AnalysisConfig, AnalysisOptions, Pictures, ProgressMode};
use mitocount::pipeline::{analyse_slide, Progress};
use mitocount::report::DetectionClass;
use mitocount::slide::{Limits, Slide, SlideFormat};

const CMU1: &str = "sample_tiles/CMU-1-Small-Region.svs";

fn both() -> (Slide, Slide) {
    let native = Slide::open(Path::new(CMU1)).unwrap();
    let os = Slide::open_with_openslide(Path::new(CMU1), Limits::default()).unwrap();
    assert_eq!(native.format(), SlideFormat::AperioSvs);
    assert_eq!(os.format(), SlideFormat::OpenSlide);
    (native, os)
}

#[test]
fn cmu1_levels_pixel_size_and_associated_images_agree() {
    let (native, os) = both();
    let sizes = |s: &Slide| -> Vec<(u64, u64)> {
        s.levels()
            .iter()
            .map(|l| (l.width_px, l.height_px))
            .collect()
    };
    assert_eq!(sizes(&native), sizes(&os));
    assert_eq!(sizes(&native), vec![(2220, 2967)]);
    assert_eq!(native.mpp().unwrap(), os.mpp().unwrap());
    assert_eq!(os.mpp().unwrap().um_per_px(), 0.499);
    assert_eq!(native.objective_mag(), os.objective_mag());
    assert_eq!(os.levels()[0].tile_size_px, native.levels()[0].tile_size_px);
    let kinds = |s: &Slide| -> Vec<_> {
        let mut k: Vec<_> = s
            .associated_images()
            .iter()
            .map(|a| format!("{:?} {}x{}", a.kind, a.width_px, a.height_px))
            .collect();
        k.sort();
        k
    };
    assert_eq!(kinds(&native), kinds(&os));
    for a in native.associated_images() {
        let (n, o) = (
            native.read_associated(a.kind).unwrap(),
            os.read_associated(a.kind).unwrap(),
        );
        assert_eq!(n.dimensions(), o.dimensions(), "{:?}", a.kind);
    }
}

#[test]
fn cmu1_pixels_agree_within_jpeg_decoder_rounding() {
    let (native, os) = both();
    // The whole level (edge tiles included), then regions across every edge: white outside.
    let whole = |s: &Slide| s.read_region(0, 0, 0, 2220, 2967).unwrap();
    let (mean, max) = common::diff(&whole(&native), &whole(&os));
    println!("CMU-1 level 0: mean |diff| {mean:.3}, max {max} grey levels");
    assert!(mean < 1.0, "mean |diff| {mean}");
    assert!(max <= 48, "max |diff| {max}");
    for (x, y) in [
        (-50, -60),
        (2220 - 70, 2967 - 40),
        (1000, -30),
        (-10, 1500),
        (2300, 10),
    ] {
        let (n, o) = (
            native.read_region(0, x, y, 128, 96).unwrap(),
            os.read_region(0, x, y, 128, 96).unwrap(),
        );
        let (mean, _) = common::diff(&n, &o);
        assert!(mean < 1.5, "region at ({x}, {y}): mean |diff| {mean}");
        // Outside the level both are exactly white.
        for (px, py, p) in o.enumerate_pixels() {
            let (lx, ly) = (x + i64::from(px), y + i64::from(py));
            if !(0..2220).contains(&lx) || !(0..2967).contains(&ly) {
                assert_eq!(p.0, [255, 255, 255]);
                assert_eq!(n.get_pixel(px, py).0, [255, 255, 255]);
            }
        }
    }
}

#[test]
fn cmu1_detections_agree() {
    let (native, os) = both();
    let cfg = AnalysisConfig::from_options(&AnalysisOptions {
        pictures: Pictures::Skip,
        ..AnalysisOptions::default()
    })
    .unwrap();
    let progress = Progress::new(ProgressMode::Hidden, "");
    let run = |s: &Slide| analyse_slide(s, &cfg, &progress).unwrap().report;
    let (n, o) = (run(&native), run(&os));
    let mitoses = |r: &mitocount::report::Report| {
        r.detections
            .iter()
            .filter(|d| d.class == DetectionClass::MitoticFigure)
            .count()
    };
    println!(
        "CMU-1: native {} candidates listed, {} mitoses; OpenSlide {} candidates, {} mitoses",
        n.detections.len(),
        mitoses(&n),
        o.detections.len(),
        mitoses(&o)
    );
    assert_eq!(mitoses(&n), mitoses(&o));
    assert_eq!(n.hotspot, o.hotspot);
    // Every candidate listed (score >= 0.01) by one reader is found by the other within
    // 1 px with a score within 0.02, except a few low scorers: on CMU-1, 9 of the 859
    // native ones (scores 0.010-0.070) and 3 of the 853 OpenSlide ones (0.010-0.199), where
    // pixels differing by 1 grey level move a blob's centre by 2 px or more, or across the
    // detector's cut-offs, and the classifier's patch with it (0.027 became 0.199). None
    // comes near the mitosis threshold (0.66): those below half of it are allowed, 2 %.
    let unmatched = |a: &mitocount::report::Report, b: &mitocount::report::Report| {
        a.detections
            .iter()
            .filter(|d| {
                !b.detections.iter().any(|e| {
                    (d.x_px - e.x_px).abs() <= 1.0
                        && (d.y_px - e.y_px).abs() <= 1.0
                        && (d.score - e.score).abs() <= 0.02
                })
            })
            .map(|d| {
                let near = b
                    .detections
                    .iter()
                    .min_by(|p, q| {
                        let dp = (p.x_px - d.x_px).hypot(p.y_px - d.y_px);
                        let dq = (q.x_px - d.x_px).hypot(q.y_px - d.y_px);
                        dp.total_cmp(&dq)
                    })
                    .map(|e| ((e.x_px - d.x_px).hypot(e.y_px - d.y_px), e.score));
                (d.score, near)
            })
            .collect::<Vec<_>>()
    };
    for (name, lost) in [
        ("native", unmatched(&n, &o)),
        ("OpenSlide", unmatched(&o, &n)),
    ] {
        println!("{name} candidates without a match: {lost:?}");
        assert!(lost.len() * 50 <= n.detections.len(), "{name}: {lost:?}");
        assert!(lost.iter().all(|&(s, _)| s < 0.33), "{name}: {lost:?}");
    }
}
