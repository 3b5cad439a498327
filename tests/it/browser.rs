//! report.html as a pathologist opens it: rendered by headless Chromium (Debian's
//! `chromium` package), checked through the DOM Chromium builds and on its screenshot.
//! Without Chromium the tests say so on stderr and check nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The Chromium binary, or `None` (with a note) when it is not installed.
fn chromium() -> Option<PathBuf> {
    for name in [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ] {
        if Path::new(name).exists() {
            return Some(PathBuf::from(name));
        }
    }
    eprintln!(
        "SKIPPED: Chromium is absent (apt-get install chromium); report.html was not \
         checked in a browser"
    );
    None
}

/// Runs headless Chromium on a page with extra arguments; at most 90 s.
fn headless(browser: &Path, page: &Path, args: &[&str]) -> std::process::Output {
    Command::new("timeout")
        .arg("90")
        .arg(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--allow-file-access-from-files",
        ])
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap()
}

/// CMU-1's report.html in Chromium: exactly one verdict number (0, its basis beside
/// it), the provenance block, the heat map with its colour bar; the screenshot shows
/// the NEGATIVE banner's green and the heat map's colour bar.
#[test]
fn cmu1_report_in_headless_chromium() {
    let Some(browser) = chromium() else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_mitocount"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "-q",
            "count",
            "sample_tiles/CMU-1-Small-Region.svs",
            "--out",
        ])
        .arg(out.path())
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let page = out.path().join("report.html");

    let dom = headless(&browser, &page, &["--dump-dom"]);
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("</html>"), "Chromium gave no DOM: {dom}");
    let numbers: Vec<&str> = dom.split("class=\"verdict-number\">").skip(1).collect();
    assert_eq!(numbers.len(), 1, "verdict numbers in the page");
    assert!(numbers[0].starts_with("0</span> mitoses counted over all the tissue"));
    assert!(dom.contains("fewer than the 10 HPF the criterion asks"));
    let provenance = dom
        .split("id=\"provenance\"")
        .nth(1)
        .expect("provenance block");
    for row in [
        "Program",
        "Model SHA-256",
        "CMU-1-Small-Region.svs",
        "Started (UTC)",
    ] {
        assert!(
            provenance.contains(row),
            "{row} missing from the provenance"
        );
    }
    assert!(dom.contains("id=\"heatmap\"") && dom.contains("colour bar"));

    let shot = out.path().join("report.png");
    let o = headless(
        &browser,
        &page,
        &[
            "--window-size=1280,3200",
            &format!("--screenshot={}", shot.display()),
        ],
    );
    assert!(shot.exists(), "{}", String::from_utf8_lossy(&o.stderr));
    let img = image::open(&shot).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (1280, 3200));
    if let Ok(dir) = std::env::var("MITOCOUNT_SCREENSHOT_DIR") {
        std::fs::copy(&shot, Path::new(&dir).join("cmu1-report.png")).unwrap();
    }
    let near = |p: &image::Rgb<u8>, c: [u8; 3]| {
        p.0.iter()
            .zip(c)
            .all(|(a, b)| (i32::from(*a) - i32::from(b)).abs() <= 6)
    };
    // The NEGATIVE banner (#1e6b34) near the top.
    let banner = (0..400)
        .flat_map(|y| (0..1280).map(move |x| (x, y)))
        .filter(|&(x, y)| near(img.get_pixel(x, y), [0x1e, 0x6b, 0x34]))
        .count();
    assert!(banner > 20_000, "{banner} banner pixels");
    // The colour bar: viridis' yellow end (253, 231, 37) and its dark end.
    let yellow = img.pixels().filter(|p| near(p, [253, 231, 37])).count();
    let purple = img.pixels().filter(|p| near(p, [68, 1, 84])).count();
    assert!(
        yellow > 50 && purple > 50,
        "colour bar: {yellow} yellow, {purple} purple"
    );
}
