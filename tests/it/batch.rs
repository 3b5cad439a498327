//! `mitocount batch` and `merge` as a lab meets them: kill and resume, shards and merge,
//! a manifest with bad rows, progress lines in a log, exit codes, the Snakemake workflow.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use mitocount::synth::{write_slide, SynthOptions};

fn mitocount() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mitocount"))
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Small synthetic slides (1536 px square, about 0.07 mm² of tissue: about a second
/// each), written as `folder/<name>.tiff` with their seeds.
fn small_slides(folder: &Path, names: &[&str]) -> Vec<PathBuf> {
    std::fs::create_dir_all(folder).unwrap();
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let path = folder.join(format!("{name}.tiff"));
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).unwrap();
            }
            let opts = SynthOptions {
                width_px: 1536,
                height_px: 1536,
                seed: 11 + i as u64,
                mitoses_per_mm2: 40.0,
                ..SynthOptions::default()
            };
            write_slide(&opts, &path).unwrap();
            // Only the slide: the ground-truth files beside it are not slides.
            for ext in ["truth.csv", "truth.json", "synth.json"] {
                let _ = std::fs::remove_file(folder.join(format!("{name}.{ext}")));
            }
            path
        })
        .collect()
}

/// The summary CSV without its `seconds` column (the only column that changes between
/// identical runs), as rows of cells.
fn summary_without_seconds(path: &Path) -> Vec<Vec<String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let headers = r.headers().unwrap().clone();
    let skip = headers.iter().position(|h| h == "seconds").unwrap();
    let mut rows = vec![headers
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != skip)
        .map(|(_, c)| c.to_string())
        .collect::<Vec<_>>()];
    for rec in r.records() {
        let rec = rec.unwrap();
        rows.push(
            rec.iter()
                .enumerate()
                .filter(|(i, _)| *i != skip)
                .map(|(_, c)| c.to_string())
                .collect(),
        );
    }
    rows
}

/// Every file under `dir` with what changes between identical runs taken out: the
/// `timings` of report.json, the seconds of the completion record and the summary, the
/// footer (timings) of report.html and the seconds cells of batch-summary.html.
fn normalised_tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.unwrap();
        if !entry.file_type().is_file() {
            continue;
        }
        let path = entry.path();
        let rel = path.strip_prefix(dir).unwrap().to_path_buf();
        let name = rel.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(path).unwrap();
        let bytes = match name.as_str() {
            "report.json" => {
                let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                v.as_object_mut().unwrap().remove("timings");
                // Provenance: when the run started and how long it took.
                if let Some(p) = v.get_mut("provenance").and_then(|p| p.as_object_mut()) {
                    p.remove("started_at_utc");
                    p.remove("duration_s");
                }
                serde_json::to_vec(&v).unwrap()
            }
            "batch-slide.json" => {
                let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                v["row"]["seconds"] = serde_json::Value::Null;
                serde_json::to_vec(&v).unwrap()
            }
            "report.html" => text(&bytes)
                .lines()
                .filter(|l| {
                    !l.starts_with("<footer>")
                        && !l.contains("<th>Started (UTC)</th>")
                        && !l.contains("<th>Duration</th>")
                })
                .collect::<Vec<_>>()
                .join("\n")
                .into_bytes(),
            "batch-summary.html" => text(&bytes)
                .lines()
                .map(|l| {
                    // The 11th cell of a slide's row is its seconds.
                    if !l.starts_with("<tr class") {
                        return l.to_string();
                    }
                    let mut cells: Vec<String> = l.split("<td>").map(str::to_string).collect();
                    if cells.len() > 11 {
                        cells[11] = "s</td>".to_string();
                    }
                    cells.join("<td>")
                })
                .collect::<Vec<_>>()
                .join("\n")
                .into_bytes(),
            n if n.ends_with(".csv") && n.starts_with("batch-summary") => {
                format!("{:?}", summary_without_seconds(path)).into_bytes()
            }
            _ => bytes,
        };
        out.insert(rel, bytes);
    }
    out
}

fn assert_same_tree(a: &Path, b: &Path) {
    let (ta, tb) = (normalised_tree(a), normalised_tree(b));
    assert_eq!(
        ta.keys().collect::<Vec<_>>(),
        tb.keys().collect::<Vec<_>>(),
        "different files"
    );
    for (k, v) in &ta {
        let (a, b) = (text(v), text(&tb[k]));
        let first = a.lines().zip(b.lines()).find(|(x, y)| x != y);
        assert!(v == &tb[k], "{} differs: {first:?}", k.display());
    }
}

fn done_records(out: &Path) -> usize {
    walkdir::WalkDir::new(out)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name() == "batch-slide.json")
        .count()
}

#[test]
fn a_batch_killed_mid_slide_and_resumed_equals_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let slides = dir.path().join("slides");
    small_slides(&slides, &["s1", "s2", "s3", "s4"]);
    let batch = |out: &Path| {
        let mut c = mitocount();
        c.args(["--threads", "2", "batch", "--slides-at-once", "1"])
            .arg(&slides)
            .arg("--out")
            .arg(out);
        c
    };
    let reference = dir.path().join("reference");
    let full = run(batch(&reference).arg("-q"));
    assert_eq!(full.status.code(), Some(0), "{}", text(&full.stderr));

    // Kill (SIGKILL) while a slide is being analysed: after the first slide is complete,
    // before the last.
    let out = dir.path().join("out");
    let mut child = batch(&out)
        .arg("-q")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while done_records(&out) == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no slide finished"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(200));
    child.kill().unwrap();
    child.wait().unwrap();
    let done_before = done_records(&out);
    assert!(
        (1..4).contains(&done_before),
        "killed after {done_before} of 4 slides: not mid-batch"
    );
    // A slide left with partial outputs (a report but no completion record) is redone.
    let partial = (1..=4)
        .map(|k| out.join(format!("s{k}")))
        .find(|d| !d.join("batch-slide.json").exists())
        .unwrap();
    std::fs::create_dir_all(&partial).unwrap();
    std::fs::write(partial.join("report.json"), "{ \"half\": ").unwrap();

    let resumed = run(batch(&out).arg("--resume"));
    let stderr = text(&resumed.stderr);
    assert_eq!(resumed.status.code(), Some(0), "{stderr}");
    assert_eq!(
        stderr.matches("done earlier").count(),
        done_before,
        "{stderr}"
    );
    assert_same_tree(&reference, &out);

    // Another option (here the classifier's threshold) means "not done".
    let changed = run(batch(&out).args(["--resume", "--score-threshold", "0.9", "--no-images"]));
    let stderr = text(&changed.stderr);
    assert_eq!(changed.status.code(), Some(0), "{stderr}");
    assert_eq!(stderr.matches("done earlier").count(), 0, "{stderr}");
}

#[test]
fn three_shards_merged_equal_one_batch_and_a_missing_shard_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let slides = dir.path().join("study");
    small_slides(&slides, &["a/x1", "a/x2", "b/y1", "b/y2", "z"]);
    let batch = |out: &Path, extra: &[&str]| {
        let mut c = mitocount();
        c.args(["-q", "batch", "--recursive", "--no-images"])
            .args(extra)
            .arg(&slides)
            .arg("--out")
            .arg(out);
        run(&mut c)
    };
    let whole = dir.path().join("whole");
    let r = batch(&whole, &[]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    assert!(
        whole.join("a/x1/report.json").is_file(),
        "tree not mirrored"
    );

    // Three array tasks sharing one output folder, then merge.
    let shared = dir.path().join("shared");
    for k in 1..=3 {
        let r = batch(&shared, &["--shard", &format!("{k}/3")]);
        assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    }
    let m = run(mitocount()
        .args(["-q", "merge"])
        .arg(&shared)
        .arg("--out")
        .arg(&shared));
    assert_eq!(m.status.code(), Some(0), "{}", text(&m.stderr));
    assert_eq!(
        summary_without_seconds(&whole.join("batch-summary.csv")),
        summary_without_seconds(&shared.join("batch-summary.csv"))
    );
    assert!(shared.join("batch-summary.html").is_file());

    // Shards in their own folders, one of them never run: merge names its slides.
    let (s1, s3) = (dir.path().join("s1"), dir.path().join("s3"));
    assert_eq!(batch(&s1, &["--shard", "1/3"]).status.code(), Some(0));
    assert_eq!(batch(&s3, &["--shard", "3/3"]).status.code(), Some(0));
    let merged = dir.path().join("merged");
    let m = run(mitocount()
        .args(["merge"])
        .args([&s1, &s3])
        .arg("--out")
        .arg(&merged));
    let stderr = text(&m.stderr);
    assert_eq!(m.status.code(), Some(3), "{stderr}");
    // Sorted list a/x1, a/x2, b/y1, b/y2, z, dealt round-robin: shard 2 of 3 holds a/x2
    // and z.
    assert!(
        stderr.contains("missing slides (2)")
            && stderr.contains("x2.tiff (shard 2/3)")
            && stderr.contains("z.tiff (shard 2/3)"),
        "{stderr}"
    );
    let rows = summary_without_seconds(&merged.join("batch-summary.csv"));
    assert_eq!(rows.len(), 1 + 3);
    // out_dir is rewritten relative to the merged folder.
    let out_col = rows[0].iter().position(|h| h == "out_dir").unwrap();
    assert_eq!(rows[1][out_col], "../s1/a/x1");
}

#[test]
fn a_manifest_with_bad_rows_analyses_the_others_and_names_each_bad_line() {
    let dir = tempfile::tempdir().unwrap();
    let slides = dir.path().join("slides");
    small_slides(&slides, &["m1", "m2", "m3"]);
    let manifest = dir.path().join("slides.csv");
    std::fs::write(
        &manifest,
        "slide,mpp,case\n\
         slides/m1.tiff,,c1\n\
         slides/m2.tiff,0.3,c2\n\
         slides/missing.tiff,,c1\n\
         slides/m3.tiff,abc,c1\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let r = run(mitocount()
        .args(["batch", "--no-images", "--manifest"])
        .arg(&manifest)
        .arg("--out")
        .arg(&out));
    let stderr = text(&r.stderr);
    // Some slides failed: exit code 3, the failures listed at the end.
    assert_eq!(r.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("failed slides (2 of 4)"), "{stderr}");
    // Progress without a terminal: one line per slide with the count, time and ETA.
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with('[')).collect();
    assert_eq!(lines.len(), 4, "{stderr}");
    assert!(lines.iter().all(|l| l.contains(" s") && l.contains("ETA")));
    assert!(lines.iter().any(|l| l.starts_with("[4/4]")), "{stderr}");

    let mut rd = csv::Reader::from_path(out.join("batch-summary.csv")).unwrap();
    let rows: Vec<BTreeMap<String, String>> = rd.deserialize().map(|r| r.unwrap()).collect();
    let by_slide = |s: &str| rows.iter().find(|r| r["slide"].ends_with(s)).unwrap();
    assert_eq!(by_slide("m1.tiff")["status"], "ok");
    assert_eq!(by_slide("m2.tiff")["status"], "ok");
    let missing = by_slide("missing.tiff");
    assert_eq!(missing["status"], "error");
    assert!(missing["error"].contains("line 4"), "{:?}", missing);
    let bad_mpp = by_slide("m3.tiff");
    assert!(
        bad_mpp["error"].contains("line 5") && bad_mpp["error"].contains("abc"),
        "{:?}",
        bad_mpp
    );
    // The manifest's mpp differs from the file's 0.25: used, recorded, warned about.
    let m2 = by_slide("m2.tiff");
    assert_eq!(m2["mpp_um_per_px"], "0.3000");
    assert!(m2["note"].contains("0.25"), "{:?}", m2);
    assert!(
        stderr.contains("warning:") && stderr.contains("0.25"),
        "{stderr}"
    );
    // Rounded numbers, the verdict's number and basis: these 0.15 mm² slides hold less
    // than 1 HPF of tissue, so no verdict and no number.
    let m1 = by_slide("m1.tiff");
    assert_eq!(m1["verdict_basis"], "all tissue");
    assert_eq!(m1["verdict"], "INSUFFICIENT TISSUE");
    assert_eq!(m1["verdict_value"], "");
    assert!(m1["tissue_area_mm2"].split('.').nth(1).unwrap().len() == 3);
    // `case` is the output sub-folder.
    assert!(out.join("c1/m1/report.json").is_file());
    assert!(out.join("c2/m2/report.json").is_file());
}

/// The Snakemake workflow on three slides: its merged summary equals `mitocount batch`'s
/// (seconds apart). Snakemake comes from PyPI into a virtual environment under
/// `target/`, made by `workflow/install-snakemake.sh`; without Python or network the test
/// says so and passes.
#[test]
fn the_snakemake_workflow_gives_the_batch_summary() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv = root.join("target/snakemake-venv");
    let install = Command::new("bash")
        .arg(root.join("workflow/install-snakemake.sh"))
        .arg(&venv)
        .output();
    let snakemake = venv.join("bin/snakemake");
    match install {
        Ok(o) if o.status.success() && snakemake.is_file() => {}
        Ok(o) => {
            eprintln!(
                "SKIPPED the Snakemake workflow test: cannot install snakemake: {}",
                text(&o.stderr).lines().last().unwrap_or("")
            );
            return;
        }
        Err(e) => {
            eprintln!("SKIPPED the Snakemake workflow test: cannot run bash: {e}");
            return;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    small_slides(&dir.path().join("slides"), &["w1", "w2", "w3"]);
    let bin = Path::new(env!("CARGO_BIN_EXE_mitocount"));
    let sm = run(Command::new(&snakemake)
        .current_dir(dir.path())
        .arg("--snakefile")
        .arg(root.join("workflow/Snakefile"))
        .args(["--cores", "2", "--quiet", "--config"])
        .arg(format!("mitocount={}", bin.display()))
        .args(["slides=slides", "out=wf", "extra=--no-images"]));
    assert!(
        sm.status.success(),
        "{}\n{}",
        text(&sm.stdout),
        text(&sm.stderr)
    );
    let b = run(mitocount().current_dir(dir.path()).args([
        "-q",
        "batch",
        "slides",
        "--out",
        "bt",
        "--no-images",
    ]));
    assert_eq!(b.status.code(), Some(0), "{}", text(&b.stderr));
    assert_eq!(
        summary_without_seconds(&dir.path().join("wf/batch-summary.csv")),
        summary_without_seconds(&dir.path().join("bt/batch-summary.csv"))
    );
}
