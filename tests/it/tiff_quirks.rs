//! TIFF files as real writers make them: duplicate and unsorted tags (read as libtiff
//! reads them: the first of two equal tags wins, order does not matter) and the real
//! Kather et al. PackBits tiles from `../shared` (skipped, saying so, when absent).

use std::path::{Path, PathBuf};
use std::process::Command;

use mitocount::slide::{MppSource, Slide, SlideFormat};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read_all(slide: &Slide, level: usize) -> image::RgbImage {
    let l = &slide.levels()[level];
    slide
        .read_region(level, 0, 0, l.width_px as u32, l.height_px as u32)
        .unwrap()
}

#[test]
fn two_image_descriptions_keep_the_first_and_its_mpp() {
    // tifffile wrote the Aperio description, then its own JSON one: tag 270 twice, side
    // by side (libtiff warns "not sorted", as an equal tag is not ascending, and keeps
    // the first description).
    let path = repo("tests/data/slides/tifffile-two-descriptions.svs");
    let slide = Slide::open(&path).unwrap();
    assert_eq!(slide.format(), SlideFormat::AperioSvs);
    assert!((slide.mpp().unwrap().um_per_px() - 0.499).abs() < 1e-9);
    assert_eq!(slide.mpp_source(), Some(MppSource::AperioDescription));
    assert_eq!(slide.objective_mag(), Some(20.0));
    assert_eq!(slide.levels().len(), 2);
    let info = slide.info();
    assert!(
        info.warnings
            .iter()
            .any(|w| w.contains("tag 270 appears more than once")),
        "{:?}",
        info.warnings
    );
    // Pixels: the Deflate tiles hold the source tile exactly.
    let src = Slide::open(&repo("sample_tiles/cmu1-tile-256.tif")).unwrap();
    assert_eq!(read_all(&slide, 0), read_all(&src, 0));

    let out = Command::new(env!("CARGO_BIN_EXE_mitocount"))
        .args(["info", path.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        text.contains("mpp: 0.499 µm/px (from Aperio ImageDescription)"),
        "{text}"
    );
    assert!(text.contains("warning: "), "{text}");
}

/// The first IFD's offset and entry count of a little-endian classic TIFF.
fn first_ifd(bytes: &[u8]) -> (usize, usize) {
    assert_eq!(&bytes[..4], b"II*\0", "little-endian classic TIFF expected");
    let at = u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
    let n = u16::from_le_bytes(bytes[at..at + 2].try_into().unwrap()) as usize;
    (at, n)
}

#[test]
fn unsorted_and_duplicated_structural_tags_read_as_libtiff_does() {
    let src_path = repo("sample_tiles/cmu1-tile-256.tif");
    let src = Slide::open(&src_path).unwrap();
    let want = read_all(&src, 0);
    assert!(
        src.info().warnings.is_empty(),
        "a clean file has no warnings"
    );
    let bytes = std::fs::read(&src_path).unwrap();
    let (at, n) = first_ifd(&bytes);
    let entry = |i: usize| at + 2 + 12 * i;
    let dir = tempfile::tempdir().unwrap();

    // Entries in reverse order: read the same, with a warning.
    let mut reversed = bytes.clone();
    for i in 0..n {
        let j = n - 1 - i;
        reversed[entry(i)..entry(i) + 12].copy_from_slice(&bytes[entry(j)..entry(j) + 12]);
    }
    let path = dir.path().join("reversed.tif");
    std::fs::write(&path, &reversed).unwrap();
    let slide = Slide::open(&path).unwrap();
    assert_eq!(read_all(&slide, 0), want);
    assert!(slide
        .info()
        .warnings
        .iter()
        .any(|w| w.contains("not sorted")));

    // The last entry (ResolutionUnit, SHORT 3) renamed ImageLength: a second
    // ImageLength of 3 rows after the real one. The first wins: still 256 rows.
    let mut dup = bytes.clone();
    let last = entry(n - 1);
    assert_eq!(u16::from_le_bytes([dup[last], dup[last + 1]]), 296);
    dup[last..last + 2].copy_from_slice(&257u16.to_le_bytes());
    let path = dir.path().join("dup-length.tif");
    std::fs::write(&path, &dup).unwrap();
    let slide = Slide::open(&path).unwrap();
    assert_eq!(slide.levels()[0].height_px, 256);
    assert_eq!(read_all(&slide, 0), want);
    let warnings = slide.info().warnings;
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("tag 257 appears more than once")),
        "{warnings:?}"
    );
}

/// The Kather et al. tiles in ../shared, or `None` (with a message) when absent.
fn kather_tiles() -> Option<Vec<PathBuf>> {
    let dir = repo("../shared/data/he/benign");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!(
            "SKIPPED: {} is absent; the Kather PackBits tiles are not checked",
            dir.display()
        );
        return None;
    };
    let mut tiles: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("kather") && n.ends_with(".tif"))
        })
        .collect();
    tiles.sort();
    Some(tiles)
}

#[test]
fn kather_packbits_tiles_decode_like_libtiff() {
    let Some(tiles) = kather_tiles() else {
        return;
    };
    assert!(tiles.len() >= 20, "{} Kather tiles", tiles.len());
    let have_tiffcp = Command::new("tiffcp").arg("-h").output().is_ok();
    if !have_tiffcp {
        eprintln!("tiffcp absent (libtiff-tools): Kather tiles checked for opening only");
    }
    let dir = tempfile::tempdir().unwrap();
    for tile in &tiles {
        let slide = Slide::open(tile).unwrap_or_else(|e| panic!("{}: {e}", tile.display()));
        let level = &slide.levels()[0];
        assert_eq!(level.compression, "PackBits", "{}", tile.display());
        assert_eq!(level.tile_size_px, None, "stripped");
        // 72 dpi is a placeholder, not a pixel size: --mpp is needed.
        assert!(slide.mpp().is_err(), "{}", tile.display());
        let got = read_all(&slide, 0);
        if have_tiffcp {
            let plain = dir.path().join("plain.tif");
            let ok = Command::new("tiffcp")
                .args(["-c", "none"])
                .arg(tile)
                .arg(&plain)
                .status()
                .unwrap()
                .success();
            assert!(ok);
            let want = read_all(&Slide::open(&plain).unwrap(), 0);
            assert_eq!(got, want, "{} vs libtiff", tile.display());
        }
    }
}

#[test]
fn kather_tiles_run_to_a_report() {
    let Some(tiles) = kather_tiles() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "kather2016-02_STROMA-10A01-HE-01.tif",
        "kather2018nonorm-MUS-AACVWIEK.tif",
    ] {
        let tile = tiles.iter().find(|t| t.ends_with(name)).expect(name);
        let mpp = if name.starts_with("kather2016") {
            "0.495"
        } else {
            "0.5"
        };
        let out_dir = dir.path().join(name);
        let out = Command::new(env!("CARGO_BIN_EXE_mitocount"))
            .args(["count", tile.to_str().unwrap(), "--mpp", mpp, "--out"])
            .arg(&out_dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out_dir.join("report.json").exists(),
            "{name}: no report.json"
        );
    }
}
