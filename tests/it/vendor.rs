//! Other scanners' formats: recognised by extension, header or first TIFF directory, and
//! refused by the default build with an error that names the format and the build that
//! reads it (`--features openslide`); the same files in an OpenSlide build are handed to
//! OpenSlide, whose error still names the format. No public sample of these formats
//! reaches this machine, so the files are made here with their signatures only.

use std::path::Path;

use mitocount::slide::Slide;

/// A classic little-endian TIFF with one 8 x 8 uncompressed RGB strip and `extra` entries
/// `(tag, type, count, value bytes)` (values longer than 4 bytes are stored after the IFD).
fn tiff_with(extra: &[(u16, u16, u32, Vec<u8>)]) -> Vec<u8> {
    let pixels = vec![200u8; 8 * 8 * 3];
    let mut entries: Vec<(u16, u16, u32, Vec<u8>)> = vec![
        (256, 3, 1, 8u16.to_le_bytes().to_vec()),
        (257, 3, 1, 8u16.to_le_bytes().to_vec()),
        (
            258,
            3,
            3,
            [8u16, 8, 8].iter().flat_map(|v| v.to_le_bytes()).collect(),
        ),
        (259, 3, 1, 1u16.to_le_bytes().to_vec()),
        (262, 3, 1, 2u16.to_le_bytes().to_vec()),
        (273, 4, 1, 8u32.to_le_bytes().to_vec()),
        (277, 3, 1, 3u16.to_le_bytes().to_vec()),
        (278, 3, 1, 8u16.to_le_bytes().to_vec()),
        (279, 4, 1, (pixels.len() as u32).to_le_bytes().to_vec()),
    ];
    entries.extend(extra.iter().cloned());
    entries.sort_by_key(|e| e.0);
    let ifd_at = 8 + pixels.len();
    let mut after = ifd_at + 2 + entries.len() * 12 + 4;
    let mut out = b"II*\0".to_vec();
    out.extend((ifd_at as u32).to_le_bytes());
    out.extend(&pixels);
    out.extend((entries.len() as u16).to_le_bytes());
    let mut tail: Vec<u8> = Vec::new();
    for (tag, ty, count, value) in &entries {
        out.extend(tag.to_le_bytes());
        out.extend(ty.to_le_bytes());
        out.extend(count.to_le_bytes());
        if value.len() <= 4 {
            let mut v = value.clone();
            v.resize(4, 0);
            out.extend(v);
        } else {
            out.extend((after as u32).to_le_bytes());
            after += value.len();
            tail.extend(value);
        }
    }
    out.extend(0u32.to_le_bytes());
    out.extend(tail);
    out
}

fn ascii(text: &str) -> Vec<u8> {
    let mut v = text.as_bytes().to_vec();
    v.push(0);
    v
}

/// The error opening `name` (written with `bytes`) gives, as text.
fn open_error(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    match Slide::open(&path) {
        Ok(s) => panic!("{name} opened as {:?}", s.format()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn other_scanners_formats_are_named_with_the_build_that_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let scn_xml =
        "<?xml version=\"1.0\"?><scn xmlns=\"http://www.leica-microsystems.com/scn/2010/10/01\"/>";
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        // Recognised from the first TIFF directory, whatever the extension.
        (
            "ndpi-by-tag.tif",
            tiff_with(&[(65420, 4, 1, 1u32.to_le_bytes().to_vec())]),
            "Hamamatsu NDPI",
        ),
        (
            "scn-by-description.tif",
            tiff_with(&[(270, 2, scn_xml.len() as u32 + 1, ascii(scn_xml))]),
            "Leica SCN",
        ),
        (
            "bif-by-xmp.tif",
            tiff_with(&[(700, 1, 24, b"<iScan Magnification=40>".to_vec())]),
            "Ventana BIF",
        ),
        // Recognised from the extension (MIRAX's .mrxs is a JPEG the native reader would
        // otherwise take for a one-image slide).
        (
            "slide.mrxs",
            vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 0, 0, 0, 0, 0],
            "MIRAX",
        ),
        (
            "slide.vms",
            b"[Virtual Microscope Specimen]\n".to_vec(),
            "Hamamatsu VMS",
        ),
        ("slide.ndpi", tiff_with(&[]), "Hamamatsu NDPI"),
        (
            "slide.svslide",
            b"SQLite format 3\0".to_vec(),
            "Sakura SVSlide",
        ),
    ];
    for (name, bytes, format) in cases {
        let e = open_error(dir.path(), name, &bytes);
        assert!(e.contains(format), "{name}: {e}");
        if cfg!(not(feature = "openslide")) {
            assert!(e.contains("--features openslide"), "{name}: {e}");
        }
    }
    // Formats OpenSlide 3.4 does not read either: named, with a conversion.
    let e = open_error(dir.path(), "slide.bin", b"ZISRAWFILE\0\0\0\0\0\0\0\0");
    assert!(e.contains("Zeiss CZI") && e.contains("bfconvert"), "{e}");
    assert!(!e.contains("--features openslide"), "{e}");
}

#[test]
fn a_plain_tiff_is_still_read_natively() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain.tif");
    std::fs::write(&path, tiff_with(&[])).unwrap();
    let slide = Slide::open(&path).unwrap();
    assert_eq!(slide.format(), mitocount::slide::SlideFormat::Tiff);
    assert_eq!(slide.levels()[0].width_px, 8);
    let px = slide.read_region(0, 0, 0, 1, 1).unwrap();
    assert_eq!(px.get_pixel(0, 0).0, [200, 200, 200]);
}
