//! Every baseline TIFF variant libtiff writes, made by libtiff itself at test time.
//!
//! Source: `sample_tiles/cmu1-tile-256.tif`, a real H&E tile (256x256, uncompressed RGB;
//! see sample_tiles/README.md). Debian's `libtiff-tools` (`tiffcp`, `tiffmedian`,
//! `pal2rgb`, `tiff2rgba`, `tiff2bw`; installed by `.ci/run`) rewrite it in every
//! compression x planar configuration x tiles/strips x predictor x byte order that
//! `tiffcp` writes, into a temporary folder (nothing is committed but the source).
//! Lossless variants must decode to exactly the source pixels; JPEG and WebP within
//! MAE 1.0 and max 8 of libtiff's own decode (`tiffcp -c none`). Unsupported ones must
//! fail with the compression or photometric named.
//!
//! Without `tiffcp` the tests print "SKIPPED" and pass, unless `MITOCOUNT_REQUIRE_TIFFCP`
//! is set (as `.ci/run` does): then they fail.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::diff;
use mitocount::slide::Slide;
use mitocount::Error;

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn source_tile() -> PathBuf {
    repo("sample_tiles/cmu1-tile-256.tif")
}

/// True when libtiff's tools can be run; otherwise says so (and fails when CI asks for
/// them).
fn have_libtiff_tools() -> bool {
    let ok = Command::new("tiffcp").arg("-h").output().is_ok();
    if !ok {
        let msg = "tiffcp (Debian package libtiff-tools) is not installed: the libtiff \
                   corpus tests cannot run; install it with `apt-get install libtiff-tools`";
        assert!(
            std::env::var_os("MITOCOUNT_REQUIRE_TIFFCP").is_none(),
            "{msg} (MITOCOUNT_REQUIRE_TIFFCP is set)"
        );
        eprintln!("SKIPPED: {msg}");
    }
    ok
}

/// Runs a libtiff tool; `false` (with the message printed) when it refuses the variant.
fn tool(name: &str, args: &[&str]) -> bool {
    let out = Command::new(name).args(args).output().unwrap();
    if !out.status.success() {
        eprintln!(
            "{name} {args:?} refused: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    out.status.success()
}

fn read_all(path: &Path) -> Result<image::RgbImage, Error> {
    let slide = Slide::open(path)?;
    let l = &slide.levels()[0];
    slide.read_region(0, 0, 0, l.width_px as u32, l.height_px as u32)
}

/// The source pixels, read independently of our reader by the `tiff` crate's own
/// whole-image decoder.
fn source_pixels() -> image::RgbImage {
    let file = std::fs::File::open(source_tile()).unwrap();
    let mut dec = tiff::decoder::Decoder::new(std::io::BufReader::new(file)).unwrap();
    let (w, h) = dec.dimensions().unwrap();
    let tiff::decoder::DecodingResult::U8(v) = dec.read_image().unwrap() else {
        panic!("source tile is not 8-bit")
    };
    image::RgbImage::from_raw(w, h, v).unwrap()
}

const LAYOUTS: [(&str, &[&str]); 3] = [
    // 256 = 15 x 17 + 1: the last strip holds one row.
    ("strips17", &["-s", "-r", "17"]),
    // JPEG strips must be a multiple of 16 rows: 256 = 5 x 48 + 16.
    ("strips48", &["-s", "-r", "48"]),
    // 256 / 96 and 256 / 80: the last tiles are cut by the image edge.
    ("tiles96x80", &["-t", "-w", "96", "-l", "80"]),
];

const PLANAR: [&str; 2] = ["contig", "separate"];

/// What a variant must decode to.
#[derive(Clone, Copy)]
enum Expect {
    /// Exactly the source pixels.
    Exact,
    /// Within MAE 1.0 / max 8 of libtiff's decode of the same file.
    NearLibtiff,
    /// Refused with an error containing this text.
    Refused(&'static str),
}

#[test]
fn every_tiffcp_variant_of_a_real_tile_decodes_like_libtiff() {
    if !have_libtiff_tools() {
        return;
    }
    let src = source_pixels();
    assert_eq!(
        read_all(&source_tile()).unwrap(),
        src,
        "uncompressed source"
    );
    let dir = tempfile::tempdir().unwrap();
    let compressions: [(&str, Expect); 14] = [
        ("none", Expect::Exact),
        ("packbits", Expect::Exact),
        ("lzw", Expect::Exact),
        ("lzw:2", Expect::Exact),
        ("zip", Expect::Exact),
        ("zip:2", Expect::Exact),
        ("zstd", Expect::Exact),
        ("zstd:2", Expect::Exact),
        ("jpeg", Expect::NearLibtiff),
        ("jpeg:r", Expect::NearLibtiff),
        ("webp", Expect::NearLibtiff),
        ("lzma", Expect::Refused("LZMA (34925)")),
        ("lzma:2", Expect::Refused("LZMA (34925)")),
        ("lerc", Expect::Refused("LERC (34887)")),
    ];
    let mut checked = 0;
    for byte_order in ["-L", "-B"] {
        for (comp, expect) in compressions {
            for planar in PLANAR {
                for (layout, layout_args) in LAYOUTS {
                    let name = format!(
                        "{}-{planar}-{layout}{byte_order}.tif",
                        comp.replace(':', "p")
                    );
                    let out = dir.path().join(&name);
                    let mut args = vec![byte_order, "-c", comp, "-p", planar];
                    args.extend_from_slice(layout_args);
                    let (src_s, out_s) = (source_tile(), out.clone());
                    args.push(src_s.to_str().unwrap());
                    args.push(out_s.to_str().unwrap());
                    if !tool("tiffcp", &args) {
                        continue;
                    }
                    // JPEG RGB in separate planes is read (one JPEG per plane); WebP
                    // codes all samples together and has no separate-plane form.
                    let separate_codec =
                        planar == "separate" && (comp == "jpeg" || comp.starts_with("webp"));
                    let expect = if separate_codec {
                        Expect::Refused("separate colour planes")
                    } else {
                        expect
                    };
                    check_variant(&name, &out, &src, expect, dir.path());
                    checked += 1;
                }
            }
        }
    }
    eprintln!("{checked} tiffcp variants checked");
    assert!(checked >= 120, "only {checked} variants were written");
}

fn check_variant(name: &str, path: &Path, src: &image::RgbImage, expect: Expect, tmp: &Path) {
    let got = read_all(path);
    match expect {
        Expect::Exact => {
            let got = got.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(diff(&got, src).1, 0, "{name} must decode exactly");
        }
        Expect::NearLibtiff => {
            let got = got.unwrap_or_else(|e| panic!("{name}: {e}"));
            let reference = tmp.join(format!("{name}.libtiff.tif"));
            let (p, r) = (path.to_str().unwrap(), reference.to_str().unwrap());
            assert!(
                tool("tiffcp", &["-c", "none", p, r]),
                "{name}: libtiff decode"
            );
            let reference = read_all(&reference).unwrap();
            let (mae, max) = diff(&got, &reference);
            eprintln!("{name}: MAE {mae:.3} max {max} vs libtiff");
            assert!(mae < 1.0 && max <= 8, "{name}: MAE {mae} max {max}");
        }
        Expect::Refused(what) => {
            let err = got.map(|_| ()).expect_err(name).to_string();
            assert!(err.contains(what), "{name}: {err}");
            assert!(err.contains(name), "{name}: message names the file: {err}");
        }
    }
}

/// Writes the source tile as 16-bit chunky RGB (each sample v as v * 257) with the
/// `tiff` crate.
fn write_16bit_chunky(path: &Path, src: &image::RgbImage) {
    let file = std::fs::File::create(path).unwrap();
    let mut enc = tiff::encoder::TiffEncoder::new(file).unwrap();
    let data: Vec<u16> = src.as_raw().iter().map(|&v| u16::from(v) * 257).collect();
    enc.write_image::<tiff::encoder::colortype::RGB16>(src.width(), src.height(), &data)
        .unwrap();
}

/// The same in
/// separate planes (one strip per plane), so that `tiffcp` (which cannot change the
/// planar configuration of 16-bit data) can write both configurations from it.
/// A minimal little-endian classic TIFF, written here by hand.
fn write_16bit_planar(path: &Path, src: &image::RgbImage) {
    let (w, h) = src.dimensions();
    let plane_bytes = w * h * 2;
    let n_tags = 10u32;
    let ifd_at = 8u32;
    let extra_at = ifd_at + 2 + 12 * n_tags + 4; // bits (3 SHORT), offsets, counts (3 LONG)
    let data_at = extra_at + 6 + 12 + 12;
    let mut out: Vec<u8> = b"II*\0".to_vec();
    out.extend_from_slice(&ifd_at.to_le_bytes());
    out.extend_from_slice(&(n_tags as u16).to_le_bytes());
    let mut tag = |t: u16, typ: u16, count: u32, value: u32| {
        out.extend_from_slice(&t.to_le_bytes());
        out.extend_from_slice(&typ.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(&value.to_le_bytes());
    };
    tag(256, 4, 1, w);
    tag(257, 4, 1, h);
    tag(258, 3, 3, extra_at);
    tag(259, 3, 1, 1);
    tag(262, 3, 1, 2);
    tag(273, 4, 3, extra_at + 6);
    tag(277, 3, 1, 3);
    tag(278, 4, 1, h);
    tag(279, 4, 3, extra_at + 18);
    tag(284, 3, 1, 2);
    out.extend_from_slice(&0u32.to_le_bytes());
    for _ in 0..3 {
        out.extend_from_slice(&16u16.to_le_bytes());
    }
    for p in 0..3 {
        out.extend_from_slice(&(data_at + p * plane_bytes).to_le_bytes());
    }
    for _ in 0..3 {
        out.extend_from_slice(&plane_bytes.to_le_bytes());
    }
    assert_eq!(out.len() as u32, data_at);
    for c in 0..3 {
        for px in src.pixels() {
            out.extend_from_slice(&(u16::from(px.0[c]) * 257).to_le_bytes());
        }
    }
    std::fs::write(path, out).unwrap();
}

#[test]
fn sixteen_bit_rgb_is_scaled_to_8_bits_with_every_codec_and_byte_order() {
    if !have_libtiff_tools() {
        return;
    }
    let src = source_pixels();
    let dir = tempfile::tempdir().unwrap();
    // tiffcp cannot change the planar configuration of 16-bit data: one source each.
    let chunky = dir.path().join("rgb16-contig.tif");
    write_16bit_chunky(&chunky, &src);
    let planar_src = dir.path().join("rgb16-separate.tif");
    write_16bit_planar(&planar_src, &src);
    check_variant(
        "rgb16-separate.tif",
        &planar_src,
        &src,
        Expect::Exact,
        dir.path(),
    );
    let mut checked = 0;
    for byte_order in ["-L", "-B"] {
        for comp in ["none", "packbits", "lzw:2", "zip:2", "zstd:2"] {
            for planar in PLANAR {
                for (layout, layout_args) in LAYOUTS {
                    let name = format!("rgb16-{}-{planar}-{layout}{byte_order}.tif", &comp[..3]);
                    let out = dir.path().join(&name);
                    let mut args = vec![byte_order, "-c", comp, "-p", planar];
                    args.extend_from_slice(layout_args);
                    let base = if planar == "contig" {
                        &chunky
                    } else {
                        &planar_src
                    };
                    let base_s = base.to_str().unwrap().to_string();
                    args.push(&base_s);
                    let out_s = out.to_str().unwrap().to_string();
                    args.push(&out_s);
                    if planar == "separate" && layout.starts_with("tiles") {
                        // tiffcp 4.5 scrambles 16-bit separate-plane tiles as it writes
                        // them: libtiff's own tiff2rgba reads other pixels than the
                        // source back (and the same as this reader). Not a test of ours.
                        continue;
                    }
                    if !tool("tiffcp", &args) {
                        continue;
                    }
                    let slide = Slide::open(&out).unwrap_or_else(|e| panic!("{name}: {e}"));
                    assert_eq!(slide.levels()[0].samples, "16-bit RGB read as 8-bit");
                    check_variant(&name, &out, &src, Expect::Exact, dir.path());
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 40, "only {checked} 16-bit variants");
    // The report says that the samples were read as 8-bit.
    let out_dir = dir.path().join("count");
    let out = Command::new(env!("CARGO_BIN_EXE_mitocount"))
        .args([
            "count",
            chunky.to_str().unwrap(),
            "--mpp",
            "0.499",
            "--no-images",
        ])
        .arg("--out")
        .arg(&out_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = std::fs::read_to_string(out_dir.join("report.json")).unwrap();
    assert!(
        report.contains("TIFF, 16-bit RGB read as 8-bit"),
        "{report}"
    );
}

#[test]
fn palette_images_expand_like_pal2rgb() {
    if !have_libtiff_tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let src = source_tile();
    // tiffmedian: median-cut palette of 256 colours (libtiff's own RGB -> palette).
    assert!(tool("tiffmedian", &[src.to_str().unwrap(), &p("pal.tif")]));
    assert!(tool(
        "pal2rgb",
        &["-c", "none", &p("pal.tif"), &p("pal-rgb.tif")]
    ));
    let reference = read_all(Path::new(&p("pal-rgb.tif"))).unwrap();
    for comp in ["none", "packbits", "lzw:2", "zip"] {
        for (layout, layout_args) in LAYOUTS {
            let name = format!("pal-{}-{layout}.tif", &comp[..3]);
            let mut args = vec!["-c", comp];
            args.extend_from_slice(layout_args);
            let (a, b) = (p("pal.tif"), p(&name));
            args.push(&a);
            args.push(&b);
            if !tool("tiffcp", &args) {
                continue;
            }
            let got = read_all(Path::new(&b)).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(diff(&got, &reference).1, 0, "{name} vs pal2rgb");
        }
    }
    let slide = Slide::open(Path::new(&p("pal.tif"))).unwrap();
    assert_eq!(
        slide.levels()[0].samples,
        "8-bit palette expanded to 8-bit RGB"
    );
}

#[test]
fn rgba_alpha_is_ignored_but_transparent_pixels_are_white() {
    if !have_libtiff_tools() {
        return;
    }
    let src = source_pixels();
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    // tiff2rgba: RGBA with associated alpha 255 everywhere, uncompressed, one strip per
    // row block. Make the top-left 32x32 px transparent by editing the alpha bytes.
    assert!(tool(
        "tiff2rgba",
        &[
            "-c",
            "none",
            source_tile().to_str().unwrap(),
            &p("rgba.tif")
        ]
    ));
    let mut bytes = std::fs::read(p("rgba.tif")).unwrap();
    let offsets = {
        let mut dec = tiff::decoder::Decoder::new(std::io::Cursor::new(&bytes)).unwrap();
        let rows = dec
            .get_tag_u32(tiff::tags::Tag::RowsPerStrip)
            .unwrap_or(256);
        let offs = dec.get_tag_u64_vec(tiff::tags::Tag::StripOffsets).unwrap();
        (rows, offs)
    };
    let mut expected = src.clone();
    for y in 0..32u32 {
        let strip = (y / offsets.0) as usize;
        let row_in_strip = u64::from(y % offsets.0);
        for x in 0..32u32 {
            let at = offsets.1[strip] + (row_in_strip * 256 + u64::from(x)) * 4 + 3;
            bytes[at as usize] = 0;
            expected.put_pixel(x, y, image::Rgb([255, 255, 255]));
        }
    }
    std::fs::write(p("rgba-hole.tif"), &bytes).unwrap();
    let slide = Slide::open(Path::new(&p("rgba-hole.tif"))).unwrap();
    assert_eq!(slide.levels()[0].samples, "8-bit RGBA");
    for (comp, planar) in [("none", "contig"), ("lzw:2", "contig"), ("zip", "separate")] {
        let name = format!("rgba-{}-{planar}.tif", &comp[..3]);
        let (a, b) = (p("rgba-hole.tif"), p(&name));
        assert!(tool("tiffcp", &["-c", comp, "-p", planar, &a, &b]));
        let got = read_all(Path::new(&b)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(diff(&got, &expected).1, 0, "{name}");
    }
}

#[test]
fn greyscale_and_unsupported_colour_say_why_and_exit_1() {
    if !have_libtiff_tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let grey = dir.path().join("grey.tif");
    assert!(tool(
        "tiff2bw",
        &[source_tile().to_str().unwrap(), grey.to_str().unwrap()]
    ));
    let err = read_all(&grey).unwrap_err().to_string();
    assert!(err.contains("greyscale") && err.contains("stains"), "{err}");
    let cmyk = dir.path().join("cmyk.tif");
    let mut enc = tiff::encoder::TiffEncoder::new(std::fs::File::create(&cmyk).unwrap()).unwrap();
    enc.write_image::<tiff::encoder::colortype::CMYK8>(8, 8, &[0u8; 256])
        .unwrap();
    let err = read_all(&cmyk).unwrap_err().to_string();
    assert!(err.contains("CMYK (separated) (5)"), "{err}");
    let lzma = dir.path().join("lzma.tif");
    assert!(tool(
        "tiffcp",
        &[
            "-c",
            "lzma",
            source_tile().to_str().unwrap(),
            lzma.to_str().unwrap()
        ]
    ));
    for (file, what) in [(&grey, "photometric 1"), (&lzma, "LZMA (34925)")] {
        let out = Command::new(env!("CARGO_BIN_EXE_mitocount"))
            .args(["count", file.to_str().unwrap(), "--mpp", "0.5", "--out"])
            .arg(dir.path().join("out"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(what), "{stderr}");
    }
}

#[test]
fn webp_canvas_other_than_the_chunk_is_refused_before_decoding() {
    if !have_libtiff_tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("webp-one-strip.tif");
    assert!(tool(
        "tiffcp",
        &[
            "-L",
            "-c",
            "webp",
            "-s",
            "-r",
            "256",
            source_tile().to_str().unwrap(),
            one.to_str().unwrap()
        ]
    ));
    // ImageWidth 256 -> 128: the strip's WebP canvas (256 px wide) no longer fits it.
    let mut bytes = std::fs::read(&one).unwrap();
    let at = u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
    let n = u16::from_le_bytes([bytes[at], bytes[at + 1]]) as usize;
    let width_entry = (0..n)
        .map(|i| at + 2 + 12 * i)
        .find(|&e| u16::from_le_bytes([bytes[e], bytes[e + 1]]) == 256)
        .unwrap();
    let value = width_entry + 8;
    assert_eq!(u16::from_le_bytes([bytes[value], bytes[value + 1]]), 256);
    bytes[value..value + 2].copy_from_slice(&128u16.to_le_bytes());
    let narrow = dir.path().join("webp-narrow.tif");
    std::fs::write(&narrow, &bytes).unwrap();
    let err = read_all(&narrow).unwrap_err().to_string();
    assert!(
        err.contains("WebP data is 256x256 px, expected 128x256"),
        "{err}"
    );
}
