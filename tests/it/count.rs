//! `mitocount count` and `batch` end to end: outputs, determinism, the planted hot spot,
//! broken slides in a batch, exit codes.

use std::path::{Path, PathBuf};
use std::process::Command;

use mitocount::config::{AnalysisConfig, AnalysisOptions};
use mitocount::pipeline::{analyse_slide, open_slide, Progress, ProgressMode};
use mitocount::report::{DetectionClass, Report, VerdictBasis};
use mitocount::synth::{write_slide, PlantedHotspot, SynthOptions, TiffOptions};
use mitocount::units::Mpp;

fn mitocount() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mitocount"))
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The analysis options with no flag set, built without clap as a library user would.
fn default_args() -> AnalysisOptions {
    AnalysisOptions::default()
}

fn analyse(path: &Path, args: &AnalysisOptions, threads: usize) -> Report {
    let cfg = AnalysisConfig::from_options(args).unwrap();
    let slide = open_slide(path, &cfg).unwrap();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        analyse_slide(&slide, &cfg, &Progress::new(ProgressMode::Hidden, "test"))
            .unwrap()
            .report
    })
}

#[test]
fn count_on_the_sample_slide_prints_the_verdict_and_writes_every_file() {
    let out = tempfile::tempdir().unwrap();
    let run = mitocount()
        .args(["-q", "count", "sample_tiles/synthetic-seed7.tiff", "--out"])
        .arg(out.path())
        .args(["--truth", "sample_tiles/synthetic-seed7.truth.csv"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("Verdict:"), "{stdout}");
    assert!(stdout.contains("0.2500 µm/px"), "{stdout}");
    for name in [
        "report.json",
        "detections.csv",
        "detections.geojson",
        "mitotic-figures.json",
        "heatmap.png",
        "report.html",
    ] {
        let p = out.path().join(name);
        assert!(
            std::fs::metadata(&p).map(|m| m.len() > 0).unwrap_or(false),
            "{name}"
        );
    }
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(report["slide"]["width_px"], 4096);
    assert_eq!(report["parameters"]["hpf_area_mm2"], 0.237);
    let eval = &report["evaluation"];
    assert!(eval["true_positives"].as_u64().is_some(), "{eval}");
    let csv = std::fs::read_to_string(out.path().join("detections.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    assert!(
        header.starts_with("x_px,y_px,x_um,y_um,area_um2,score,class,hpf_row,hpf_col"),
        "{header}"
    );
    assert_eq!(
        csv.lines().count() - 1,
        report["counts"]["candidates_listed"].as_u64().unwrap() as usize
    );
}

#[test]
fn json_flag_prints_the_report_on_stdout() {
    let out = tempfile::tempdir().unwrap();
    let run = mitocount()
        .args([
            "-q",
            "count",
            "--json",
            "--no-images",
            "sample_tiles/synthetic-seed7.tiff",
            "--out",
        ])
        .arg(out.path())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert!(v["verdict"]["statement"].as_str().unwrap().contains("HPF"));
    assert!(
        !out.path().join("heatmap.png").exists(),
        "--no-images writes no PNG"
    );
}

/// The same detections, scores and counts with 1 and 2 threads and two field sizes.
#[test]
fn report_does_not_depend_on_threads_or_field_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.tiff");
    let opts = SynthOptions {
        width_px: 3000,
        height_px: 2500,
        seed: 23,
        mitoses_per_mm2: 40.0,
        ..SynthOptions::default()
    };
    write_slide(&opts, &path).unwrap();
    let mut a = default_args();
    a.field_size_um = 500.0;
    let mut b = default_args();
    b.field_size_um = 230.0;
    let r1 = analyse(&path, &a, 1);
    let r2 = analyse(&path, &b, 2);
    assert!(
        r1.counts.candidates > 20,
        "{} candidates",
        r1.counts.candidates
    );
    assert_eq!(r1.detections.len(), r2.detections.len());
    for (d1, d2) in r1.detections.iter().zip(&r2.detections) {
        assert_eq!((d1.x_px, d1.y_px, d1.class), (d2.x_px, d2.y_px, d2.class));
        assert_eq!(d1.score, d2.score);
    }
    assert_eq!(r1.counts, r2.counts);
    assert_eq!(r1.hotspot, r2.hotspot);
    assert_eq!(r1.verdict, r2.verdict);
}

/// A slide with a planted dense region: the hot spot is found on it, and its count is the
/// ground-truth count in that window within the detector's error.
///
/// Ignored in 0.2.0 while `synth` drew nuclei the learned classifier took for mitoses;
/// since `synth` draws them closer to real H&E (docs/classifier.md, "Synthetic slides")
/// it runs again.
#[test]
fn planted_hotspot_is_found_where_it_was_planted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hot.tiff");
    // A 40x scan (0.25 µm/px, the resolution the detector is trained at): 2.6 x 2.1 mm.
    let (w_um, h_um) = (2600.0, 2100.0);
    let planted = PlantedHotspot {
        centre_x_um: w_um / 2.0,
        centre_y_um: h_um / 2.0,
        width_um: PlantedHotspot::TEN_HPF_WIDTH_UM,
        height_um: PlantedHotspot::TEN_HPF_HEIGHT_UM,
        mitoses_per_mm2: 25.0,
    };
    let opts = SynthOptions {
        width_px: 10400,
        height_px: 8400,
        mpp: Mpp::new(0.25).unwrap(),
        seed: 101,
        mitoses_per_mm2: 1.0,
        hotspot: Some(planted),
        tiff: TiffOptions::default(),
        ..SynthOptions::default()
    };
    let summary = write_slide(&opts, &path).unwrap();
    let report = analyse(&path, &default_args(), 2);
    let hs = report
        .hotspot
        .as_ref()
        .expect("a hot-spot window fits in the tissue");
    // Overlap with the planted rectangle (level-0 px at 0.25 µm/px).
    let (px0, py0) = (
        (planted.centre_x_um - planted.width_um / 2.0) / 0.25,
        (planted.centre_y_um - planted.height_um / 2.0) / 0.25,
    );
    let (px1, py1) = (
        px0 + planted.width_um / 0.25,
        py0 + planted.height_um / 0.25,
    );
    let ix = (hs.x_px + hs.width_px).min(px1) - hs.x_px.max(px0);
    let iy = (hs.y_px + hs.height_px).min(py1) - hs.y_px.max(py0);
    let overlap = ix.max(0.0) * iy.max(0.0) / (hs.width_px * hs.height_px);
    assert!(
        overlap > 0.6,
        "hot spot {hs:?} overlaps the planted region by {overlap:.2}"
    );
    // Ground-truth mitoses inside the window found.
    let truth = std::fs::read_to_string(&summary.truth.csv).unwrap();
    let truth_in_window = truth
        .lines()
        .skip(1)
        .filter(|l| l.split(',').nth(4) == Some("mitotic_figure"))
        .filter_map(|l| {
            let mut f = l.split(',');
            Some((
                f.next()?.parse::<f64>().ok()?,
                f.next()?.parse::<f64>().ok()?,
            ))
        })
        .filter(|&(x, y)| hs.contains(x, y))
        .count();
    assert!(
        truth_in_window >= 30,
        "{truth_in_window} planted mitoses in the window"
    );
    let err = (hs.mitoses as f64 - truth_in_window as f64).abs() / truth_in_window as f64;
    assert!(
        err < 0.25,
        "hot spot counts {} mitoses, truth has {truth_in_window}",
        hs.mitoses
    );
    let mitoses_in_hs = report
        .detections
        .iter()
        .filter(|d| d.class == DetectionClass::MitoticFigure && hs.contains(d.x_px, d.y_px))
        .count();
    assert_eq!(mitoses_in_hs, hs.mitoses);
    // 5.5 mm² of tissue, more than 10 HPF: the verdict's one number is the count in the
    // densest 10-HPF window.
    let v = &report.verdict;
    assert_eq!(v.basis, VerdictBasis::Hotspot);
    assert_eq!(v.value, Some(hs.mitoses as f64));
    assert!(
        v.headline.contains("mitoses in the densest 10 HPF window"),
        "{}",
        v.headline
    );
}

#[test]
fn batch_records_broken_slides_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let slides = dir.path().join("slides");
    std::fs::create_dir(&slides).unwrap();
    std::fs::copy(
        repo("sample_tiles/synthetic-seed7.tiff"),
        slides.join("a-good.tiff"),
    )
    .unwrap();
    std::fs::write(slides.join("b-text.svs"), "this is not a slide\n").unwrap();
    let good = std::fs::read(repo("sample_tiles/synthetic-seed7.tiff")).unwrap();
    std::fs::write(slides.join("c-truncated.tiff"), &good[..good.len() / 3]).unwrap();
    std::fs::write(slides.join("notes.txt"), "ignored: not a slide extension").unwrap();
    let out = dir.path().join("out");
    let run = mitocount()
        .args(["-q", "batch", "--no-images"])
        .arg(&slides)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("2 of 3 slides failed"), "{stderr}");
    let summary = std::fs::read_to_string(out.join("batch-summary.csv")).unwrap();
    let rows: Vec<&str> = summary.lines().collect();
    assert_eq!(rows.len(), 4, "{summary}");
    assert!(
        rows[1].contains("a-good.tiff") && rows[1].contains(",ok,"),
        "{}",
        rows[1]
    );
    assert!(
        rows[2].contains("b-text.svs") && rows[2].contains(",error,"),
        "{}",
        rows[2]
    );
    assert!(
        rows[3].contains("c-truncated.tiff") && rows[3].contains(",error,"),
        "{}",
        rows[3]
    );
    assert!(out.join("a-good").join("report.json").exists());
}

#[test]
fn a_png_without_mpp_asks_for_mpp() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("field.png");
    image::RgbImage::from_pixel(64, 64, image::Rgb([230, 160, 200]))
        .save(&png)
        .unwrap();
    let run = mitocount()
        .args(["-q", "count"])
        .arg(&png)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("field.png") && stderr.contains("--mpp"),
        "{stderr}"
    );
}

#[test]
fn bad_flags_are_usage_errors_naming_the_flag() {
    for (flags, named) in [
        (vec!["--hotspot-aspect", "4x3"], "--hotspot-aspect"),
        (vec!["--threshold=-1"], "--threshold"),
        (vec!["--stains", "H:1,1,1"], "--stains"),
        (vec!["--criterion", "nonsense"], "--criterion"),
        (vec!["--hpf-area-mm2", "0"], "--hpf-area-mm2"),
        (vec!["--field-size-um", "1"], "--field-size-um"),
        (vec!["--threads", "0"], "--threads"),
    ] {
        let run = mitocount()
            .args(["count", "sample_tiles/synthetic-seed7.tiff"])
            .args(&flags)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{flags:?}: {stderr}");
        assert!(stderr.contains(named), "{flags:?}: {stderr}");
    }
}
