//! A report a pathologist can trust (issue 12), tested as a user meets it: the
//! `mitocount` binary on real files (`sample_tiles/`, and `../shared/data` where present),
//! then its stdout, report.json, the tables, the GeoJSON and the output folder.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn mitocount() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mitocount"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn run(args: &[&str]) -> Output {
    mitocount().args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const CMU1: &str = "sample_tiles/CMU-1-Small-Region.svs";

/// A file of the shared data folder, or `None` (with a note on stderr) when it is absent.
fn shared(rel: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(rel);
    let p = if p.exists() {
        p
    } else {
        Path::new("/work/shared/data").join(rel)
    };
    if p.exists() {
        Some(p)
    } else {
        eprintln!("SKIPPED: {rel} is absent (../shared/data not here); this check did not run");
        None
    }
}

fn count_into(slide: &str, out: &Path, extra: &[&str]) -> Output {
    let mut c = mitocount();
    c.args(["-q", "count", slide, "--out"]).arg(out).args(extra);
    let o = c.output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}\n{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    o
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// CMU-1 (2.7 HPF of tissue, no 10-HPF window fits): one verdict number with its basis,
/// no second figure "per 10 HPF" anywhere in stdout, report.json or the batch summary; no
/// internal identifiers in the prose; provenance complete.
#[test]
fn cmu1_says_one_number_with_its_basis_and_where_it_comes_from() {
    let out = tempfile::tempdir().unwrap();
    let o = count_into(CMU1, out.path(), &[]);
    let stdout = text(&o.stdout);
    let verdicts: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("Verdict:"))
        .collect();
    assert_eq!(verdicts.len(), 1, "{stdout}");
    assert!(
        verdicts[0].contains("NEGATIVE: 0 mitoses counted over all the tissue, 2.7 HPF")
            && verdicts[0].contains("fewer than the 10 HPF the criterion asks"),
        "{stdout}"
    );
    assert_eq!(stdout.matches("per 10 HPF").count(), 0, "{stdout}");
    for code_name in [
        "AperioDescription",
        "AllTissue",
        "MitoticFigure",
        "all-tissue",
        "mpp_source",
        "Hotspot",
    ] {
        assert!(!stdout.contains(code_name), "{code_name} in {stdout}");
    }
    let r = json(&out.path().join("report.json"));
    let v = &r["verdict"];
    assert_eq!(v["outcome"], "negative");
    assert_eq!(v["value"], 0.0);
    assert_eq!(v["value_unit"], "mitoses");
    assert_eq!(v["basis"], "all-tissue");
    assert!(
        r["counts"].get("mitoses_per_10_hpf").is_none(),
        "{}",
        r["counts"]
    );
    // Provenance: version, model, options, the file, its hash, start and duration.
    let p = &r["provenance"];
    assert_eq!(
        p["program"],
        format!("mitocount {}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(p["model_sha256"], r["parameters"]["classifier"]["sha256"]);
    assert_eq!(p["model_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(p["options"]["criterion"], "cutaneous-leiomyosarcoma");
    assert_eq!(p["slide_file_name"], "CMU-1-Small-Region.svs");
    let bytes = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(CMU1)).unwrap();
    assert_eq!(p["slide_size_bytes"], bytes.len() as u64);
    use sha2::Digest;
    let head: String = sha2::Sha256::digest(&bytes[..bytes.len().min(1 << 20)])
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(p["slide_first_mib_sha256"], head);
    let started = p["started_at_utc"].as_str().unwrap();
    assert!(humantime::parse_rfc3339(started).is_ok(), "{started}");
    assert!(p["duration_s"].as_f64().unwrap() > 0.0);
    let html = std::fs::read_to_string(out.path().join("report.html")).unwrap();
    assert_eq!(html.matches("class=\"verdict-number\"").count(), 1);
    assert!(html.contains("id=\"provenance\"") && html.contains(&head));
    assert!(!html.contains("AperioDescription"));
}

/// One vocabulary: report.json, detections.csv, the GeoJSON and the MIDOG JSON name
/// classes `mitotic figure` / `non-mitotic figure` only; the CSV has no repeated column
/// and lists exactly the candidates at or above the listing floor (and every mitosis).
#[test]
fn one_vocabulary_and_an_honest_csv() {
    let out = tempfile::tempdir().unwrap();
    count_into(CMU1, out.path(), &["--no-images"]);
    let vocabulary = ["mitotic figure", "non-mitotic figure"];
    let r = json(&out.path().join("report.json"));
    let floor = r["parameters"]["candidate_min_score"].as_f64().unwrap();
    for d in r["detections"].as_array().unwrap() {
        assert!(
            vocabulary.contains(&d["class"].as_str().unwrap()),
            "{}",
            d["class"]
        );
    }
    let mut csv = csv::Reader::from_path(out.path().join("detections.csv")).unwrap();
    let header: Vec<String> = csv.headers().unwrap().iter().map(String::from).collect();
    let mut unique = header.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), header.len(), "repeated column in {header:?}");
    let (class, score) = (
        header.iter().position(|h| h == "class").unwrap(),
        header.iter().position(|h| h == "score").unwrap(),
    );
    let mut rows = 0;
    for rec in csv.records() {
        let rec = rec.unwrap();
        rows += 1;
        assert!(vocabulary.contains(&&rec[class]), "{}", &rec[class]);
        let s: f64 = rec[score].parse().unwrap();
        assert!(
            &rec[class] == "mitotic figure" || s >= floor,
            "{s} < {floor}"
        );
    }
    assert_eq!(rows, r["counts"]["candidates_listed"].as_u64().unwrap());
    let g = json(&out.path().join("detections.geojson"));
    for f in g["features"].as_array().unwrap() {
        if f["properties"]["objectType"] == "detection" {
            let name = f["properties"]["classification"]["name"].as_str().unwrap();
            assert!(vocabulary.contains(&name), "{name}");
        }
    }
    let m = json(&out.path().join("mitotic-figures.json"));
    for p in m["points"].as_array().unwrap() {
        assert!(vocabulary.contains(&p["name"].as_str().unwrap()));
    }
}

/// Not enough tissue is its own outcome, never NEGATIVE: a white image, a blank 1x1 px
/// image and the 16 x 16 px `small.svs` say INSUFFICIENT TISSUE (stdout, report.json,
/// batch summary), exit 0.
#[test]
fn too_little_tissue_is_insufficient_tissue_not_negative() {
    let dir = tempfile::tempdir().unwrap();
    let white = dir.path().join("white.png");
    image::RgbImage::from_pixel(300, 200, image::Rgb([245, 245, 245]))
        .save(&white)
        .unwrap();
    let mut slides = vec![white.clone()];
    if let Some(small) = shared("slides/small.svs") {
        slides.push(small);
    }
    for slide in &slides {
        let out = dir.path().join("out");
        let o = mitocount()
            .args(["-q", "count", "--mpp", "0.25", "--out"])
            .arg(&out)
            .arg(slide)
            .output()
            .unwrap();
        let stdout = text(&o.stdout);
        assert_eq!(o.status.code(), Some(0), "{stdout}{}", text(&o.stderr));
        assert!(stdout.contains("Verdict:  INSUFFICIENT TISSUE"), "{stdout}");
        assert!(!stdout.contains("NEGATIVE"), "{stdout}");
        let r = json(&out.join("report.json"));
        assert_eq!(r["verdict"]["outcome"], "insufficient-tissue");
        assert!(r["verdict"]["value"].is_null());
    }
    let batch_out = dir.path().join("batch");
    let o = mitocount()
        .args(["-q", "batch", "--mpp", "0.25", "--out"])
        .arg(&batch_out)
        .arg(&white)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let summary = std::fs::read_to_string(batch_out.join("batch-summary.csv")).unwrap();
    assert!(summary.contains("INSUFFICIENT TISSUE"), "{summary}");
}

/// Any image size from 1 x 1 px up gives a result or a clear error, never a panic.
#[test]
fn tiny_images_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    for (w, h) in [
        (1, 1),
        (2, 3),
        (7, 7),
        (15, 16),
        (16, 16),
        (17, 17),
        (1, 300),
        (300, 1),
    ] {
        let path = dir.path().join(format!("tiny-{w}x{h}.png"));
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            if (x + y) % 3 == 0 {
                image::Rgb([90, 40, 120])
            } else {
                image::Rgb([230, 150, 190])
            }
        });
        img.save(&path).unwrap();
        let o = mitocount()
            .args(["-q", "count", "--mpp", "0.25", "--out"])
            .arg(dir.path().join(format!("out-{w}x{h}")))
            .arg(&path)
            .output()
            .unwrap();
        let stderr = text(&o.stderr);
        assert!(
            matches!(o.status.code(), Some(0 | 1)) && !stderr.contains("panicked"),
            "{w}x{h}: {:?} {stderr}",
            o.status.code()
        );
        if o.status.code() == Some(0) {
            assert!(text(&o.stdout).contains("INSUFFICIENT TISSUE"), "{w}x{h}");
        }
    }
}

/// Plausibility: a `--mpp` far from the file's own pixel size is warned about (stdout,
/// report.json, HTML); so are a density no tissue reaches and nuclei of impossible size
/// (the TCGA export, a low-power image, read as if at 0.5 µm/px).
#[test]
fn implausible_pixel_sizes_are_warned_about() {
    let out = tempfile::tempdir().unwrap();
    let o = count_into(CMU1, out.path(), &["--mpp", "0.25"]);
    let stdout = text(&o.stdout);
    assert!(
        stdout.contains("Warning:  implausible pixel size: --mpp 0.25"),
        "{stdout}"
    );
    let r = json(&out.path().join("report.json"));
    let warned = |r: &Value, what: &str| {
        r["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().starts_with(what))
    };
    assert!(warned(&r, "implausible pixel size"));
    let html = std::fs::read_to_string(out.path().join("report.html")).unwrap();
    assert!(html.contains("class=\"warn\">Warning: implausible pixel size"));
    // The file's own pixel size: no such warning.
    let out2 = tempfile::tempdir().unwrap();
    let o = count_into(CMU1, out2.path(), &["--no-images"]);
    assert!(
        !text(&o.stdout).contains("implausible"),
        "{}",
        text(&o.stdout)
    );

    let Some(tcga) = shared("slides/tcga-cr-7395-01a-01-ts1.svs") else {
        return;
    };
    let out3 = tempfile::tempdir().unwrap();
    let o = count_into(tcga.to_str().unwrap(), out3.path(), &["--mpp", "0.5"]);
    let stdout = text(&o.stdout);
    assert!(stdout.contains("Warning:  implausible"), "{stdout}");
    let r = json(&out3.path().join("report.json"));
    assert!(
        warned(&r, "implausible density") || warned(&r, "implausible nuclei sizes"),
        "{}",
        r["warnings"]
    );
}

/// Stale files: a run into a folder of an earlier run leaves only its own files (and
/// the user's other files); report.json lists them.
#[test]
fn a_rerun_leaves_no_stale_outputs() {
    let out = tempfile::tempdir().unwrap();
    count_into(CMU1, out.path(), &[]);
    assert!(out.path().join("report.html").exists());
    std::fs::write(out.path().join("hotspot.png"), b"an earlier run's picture").unwrap();
    std::fs::write(out.path().join("my-notes.txt"), b"mine").unwrap();
    count_into(CMU1, out.path(), &["--no-images"]);
    for gone in ["report.html", "heatmap.png", "hotspot.png"] {
        assert!(
            !out.path().join(gone).exists(),
            "{gone} left from the earlier run"
        );
    }
    assert!(out.path().join("my-notes.txt").exists());
    let r = json(&out.path().join("report.json"));
    let mut listed: Vec<String> = r["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    listed.sort();
    let mut present: Vec<String> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "my-notes.txt")
        .collect();
    present.sort();
    assert_eq!(listed, present);
}

/// An unusable `--out` is found before the analysis: a PNG without a pixel size would fail
/// the analysis, but the error is the folder's (exit 1, names it, says what to do).
#[test]
fn unwritable_out_is_found_first() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let png = dir.path().join("field.png");
    image::RgbImage::from_pixel(64, 64, image::Rgb([200, 100, 150]))
        .save(&png)
        .unwrap();
    for out in [file.clone(), file.join("sub")] {
        let o = mitocount()
            .args(["-q", "count"])
            .arg(&png)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        let stderr = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(&out.display().to_string()), "{stderr}");
        assert!(
            stderr.contains("--out") && !stderr.contains("--mpp"),
            "{stderr}"
        );
    }
}

/// A killed run never leaves a folder that looks complete: whenever report.json exists,
/// every file it lists exists and no partial file is left; a run killed in the middle
/// leaves no report.json, even where an earlier run had written one.
#[test]
fn a_killed_run_never_looks_complete() {
    let out = tempfile::tempdir().unwrap();
    count_into(CMU1, out.path(), &[]);
    let mut killed_midway = 0;
    for delay_ms in [300u64, 1500, 2500, 4000, 6000] {
        let mut child = mitocount()
            .args(["-q", "count", CMU1, "--out"])
            .arg(out.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let running = child.try_wait().unwrap().is_none();
        let _ = child.kill(); // SIGKILL on Unix
        let status = child.wait().unwrap();
        let report = out.path().join("report.json");
        if report.exists() {
            let r = json(&report);
            for f in r["outputs"].as_array().unwrap() {
                assert!(out.path().join(f.as_str().unwrap()).exists(), "{f} missing");
            }
            let partial = std::fs::read_dir(out.path()).unwrap().any(|e| {
                e.unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".partial")
            });
            assert!(!partial, "a .partial file beside report.json");
        }
        if running && !status.success() {
            killed_midway += 1;
            // By then the run has passed its start (options, slide, --out check).
            if delay_ms >= 2500 {
                assert!(
                    !report.exists(),
                    "killed after {delay_ms} ms, report.json present"
                );
            }
        }
    }
    assert!(killed_midway > 0, "no run was killed before it finished");
}

/// Numeric options are validated in their units, negative numbers included (no clap tip
/// about `--`); each error cause is printed once; a folder given as the slide points to
/// `mitocount batch`.
#[test]
fn clear_messages_for_bad_options_and_paths() {
    for (flag, value, words) in [
        ("--hpf-area-mm2", "-1", "positive area"),
        ("--mpp", "-0.5", "positive number of µm per pixel"),
        ("--threshold", "-1", "mitoses per 10 HPF >= 0"),
        ("--field-size-um", "-5", "µm"),
        ("--hotspot-min-tissue", "-0.1", "--hotspot-min-tissue"),
        ("--min-field-tissue", "-0.1", "0..=1"),
        ("--score-threshold", "-1", "0..=1"),
        ("--candidate-min-score", "-1", "0..=1"),
        ("--hotspot-area-mm2", "-2", "--hotspot-area-mm2"),
    ] {
        let o = run(&[
            "-q",
            "count",
            CMU1,
            flag,
            value,
            "--no-images",
            "--out",
            "/tmp/x",
        ]);
        let stderr = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{flag}: {stderr}");
        assert!(
            stderr.contains(flag) && stderr.contains(words) && !stderr.contains("tip:"),
            "{flag}: {stderr}"
        );
    }
    let o = run(&[
        "evaluate",
        "--truth",
        "a.csv",
        "--detections",
        "b.csv",
        "--radius-um",
        "-1",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("positive number of µm"));

    let o = run(&["info", "/nonexistent/slide.svs"]);
    let stderr = text(&o.stderr);
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "{stderr}"
    );

    let o = run(&["-q", "count", "sample_tiles"]);
    let stderr = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("is a directory") && stderr.contains("did you mean `mitocount batch"),
        "{stderr}"
    );
}

/// QuPath round trip: the GeoJSON has unique stable ids (the same in a second run),
/// classes from the one vocabulary, level-0 px coordinates equal to detections.csv's;
/// `evaluate` reads it back as ground truth (F1 1 against the same run's CSV), and reads
/// QuPath-style polygons and unclassified points too.
#[test]
fn geojson_round_trip() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    count_into(CMU1, a.path(), &["--no-images", "--score-threshold", "0.3"]);
    count_into(CMU1, b.path(), &["--no-images", "--score-threshold", "0.3"]);
    let g = json(&a.path().join("detections.geojson"));
    let g2 = json(&b.path().join("detections.geojson"));
    let features = g["features"].as_array().unwrap();
    let ids: Vec<&str> = features.iter().map(|f| f["id"].as_str().unwrap()).collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "ids not unique");
    assert!(ids.iter().all(|id| uuid::Uuid::parse_str(id).is_ok()));
    let ids2: Vec<&str> = g2["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ids2, "ids change between runs");
    let r = json(&a.path().join("report.json"));
    let (w, h) = (
        r["slide"]["width_px"].as_f64().unwrap(),
        r["slide"]["height_px"].as_f64().unwrap(),
    );
    let points: Vec<(f64, f64)> = features
        .iter()
        .filter(|f| f["geometry"]["type"] == "Point")
        .map(|f| {
            let c = &f["geometry"]["coordinates"];
            (c[0].as_f64().unwrap(), c[1].as_f64().unwrap())
        })
        .collect();
    let dets = r["detections"].as_array().unwrap();
    assert_eq!(points.len(), dets.len());
    for ((x, y), d) in points.iter().zip(dets) {
        assert!((0.0..w).contains(x) && (0.0..h).contains(y));
        assert!((x - d["x_px"].as_f64().unwrap()).abs() < 1e-9);
    }
    let mitoses = r["counts"]["mitoses"].as_u64().unwrap();
    let o = run(&[
        "evaluate",
        "--json",
        "--mpp",
        "0.499",
        "--truth",
        a.path().join("detections.geojson").to_str().unwrap(),
        "--detections",
        a.path().join("detections.csv").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let e: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(e["truth_count"], mitoses);
    assert_eq!(e["true_positives"], mitoses);

    // As QuPath exports hand-drawn annotations: a polygon, an unclassified point, a
    // point classed as another thing (ignored).
    let qupath = serde_json::json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": "a", "geometry": {"type": "Polygon",
          "coordinates": [[[100.0, 100.0], [120.0, 100.0], [120.0, 120.0], [100.0, 120.0], [100.0, 100.0]]]},
         "properties": {"objectType": "annotation", "classification": {"name": "Mitosis"}}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [400.0, 50.0]},
         "properties": {"objectType": "annotation"}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [900.0, 900.0]},
         "properties": {"classification": {"name": "non-mitotic figure"}}}
    ]});
    let truth = a.path().join("qupath.geojson");
    std::fs::write(&truth, qupath.to_string()).unwrap();
    let dets = a.path().join("dets.csv");
    std::fs::write(
        &dets,
        "x_px,y_px,class\n110,110,mitotic figure\n900,900,mitotic figure\n",
    )
    .unwrap();
    let o = run(&[
        "evaluate",
        "--json",
        "--mpp",
        "0.25",
        "--truth",
        truth.to_str().unwrap(),
        "--detections",
        dets.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let e: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (
            &e["truth_count"],
            &e["true_positives"],
            &e["false_positives"]
        ),
        (
            &serde_json::json!(2),
            &serde_json::json!(1),
            &serde_json::json!(1)
        )
    );
    // Without --mpp, the GeoJSON's pixels cannot be compared: a clear usage error.
    let o = run(&[
        "evaluate",
        "--truth",
        truth.to_str().unwrap(),
        "--detections",
        dets.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("--mpp"));
}

/// The pictures people look at, on a real slide with a hot spot (the TCGA export at
/// 0.5 µm/px, hot-spot windows of >= 50 % tissue): hotspot.png at the slide's own 0.5 µm/px, the hot spot's whole HPF grid
/// in the GeoJSON and in the HTML's per-field table.
#[test]
fn hotspot_picture_and_fields_on_a_real_slide() {
    let Some(tcga) = shared("slides/tcga-cr-7395-01a-01-ts1.svs") else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    // Its tissue is ragged: a window of >= 50 % tissue fits, one of >= 95 % does not.
    count_into(
        tcga.to_str().unwrap(),
        out.path(),
        &["--mpp", "0.5", "--hotspot-min-tissue", "0.5"],
    );
    let r = json(&out.path().join("report.json"));
    let hs = &r["hotspot"];
    assert!(hs.is_object(), "no hot spot: {}", r["warnings"]);
    assert_eq!(r["verdict"]["basis"], "hotspot");
    let png = image::open(out.path().join("hotspot.png")).unwrap();
    // 0.5 µm/px is this slide's own pixel size: the picture is native, the window plus
    // a 4 % margin a side (clipped to the slide), a key band below.
    let width_px = hs["width_px"].as_f64().unwrap();
    assert!(
        f64::from(png.width()) >= width_px && f64::from(png.width()) <= width_px * 1.09 + 1.0,
        "{} px for a {width_px} px window",
        png.width()
    );
    let g = json(&out.path().join("detections.geojson"));
    let (x0, y0) = (hs["x_px"].as_f64().unwrap(), hs["y_px"].as_f64().unwrap());
    let (x1, y1) = (x0 + width_px, y0 + hs["height_px"].as_f64().unwrap());
    let overlapping: Vec<&Value> = r["fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            let (fx, fy) = (f["x_px"].as_f64().unwrap(), f["y_px"].as_f64().unwrap());
            let (fw, fh) = (
                f["width_px"].as_f64().unwrap(),
                f["height_px"].as_f64().unwrap(),
            );
            fx < x1 && x0 < fx + fw && fy < y1 && y0 < fy + fh
        })
        .collect();
    let hpf_in_hotspot = g["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["properties"]["measurements"]["in_hotspot"] == 1.0)
        .count();
    assert_eq!(hpf_in_hotspot, overlapping.len());
    let html = std::fs::read_to_string(out.path().join("report.html")).unwrap();
    let table = html.split("id=\"hotspot-fields\"").nth(1).unwrap();
    let table = table.split("</table>").next().unwrap();
    assert_eq!(table.matches("<tr><td>").count(), overlapping.len());
}
