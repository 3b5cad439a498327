//! Other scanners' formats: recognised from the file's header, its first TIFF directory or
//! its extension, so that the error names the format and says which build reads it, and,
//! in a build with the `openslide` cargo feature, opened through OpenSlide
//! (`super::openslide`).
//!
//! Native reading stays the default for everything the TIFF path reads correctly. Hamamatsu
//! NDPI (a TIFF whose level 0 is one JPEG with restart markers, and whose offsets may pass
//! 4 GiB), Leica SCN (several images in one TIFF, placed by XML), Ventana BIF (overlapping
//! tiles placed by XMP) and the multi-file formats (MIRAX, Hamamatsu VMS/VMU) are not read
//! natively: a generic TIFF reading would give wrong pixels or a wrong pyramid. The
//! signatures are OpenSlide's own (openslide-vendor-*.c, OpenSlide 3.4/4.0: the NDPI tag
//! 65420, SCN's XML namespace in ImageDescription, BIF's `iScan` XMP element) and the
//! published magic numbers of Zeiss CZI (`ZISRAWFILE`) and SQLite (Sakura SVSlide).

use std::path::Path;

use crate::error::{Error, Result};

use super::ifd::{tag, TiffFile};

/// Hamamatsu NDPI's private "file format" tag (OpenSlide's `NDPI_FORMAT_FLAG`).
const NDPI_FORMAT_FLAG: u16 = 65420;

/// TIFF tag 700: XMP metadata (Ventana BIF puts its `<iScan>` element there).
const XMP: u16 = 700;

/// A slide format of another scanner, which the native reader does not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Vendor {
    /// Hamamatsu NDPI.
    HamamatsuNdpi,
    /// Hamamatsu VMS or VMU (a text index and JPEG files, or one raw file).
    HamamatsuVms,
    /// 3DHISTECH MIRAX (`.mrxs` and a folder of `.dat` files).
    Mirax,
    /// Leica SCN.
    LeicaScn,
    /// Ventana BIF.
    VentanaBif,
    /// Sakura SVSlide (an SQLite database).
    SakuraSvslide,
    /// Zeiss CZI.
    ZeissCzi,
    /// Olympus VSI (with its `.ets` folders).
    OlympusVsi,
    /// Philips iSyntax.
    PhilipsIsyntax,
}

impl Vendor {
    /// The format's name as its maker gives it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Vendor::HamamatsuNdpi => "Hamamatsu NDPI",
            Vendor::HamamatsuVms => "Hamamatsu VMS/VMU",
            Vendor::Mirax => "3DHISTECH MIRAX (MRXS)",
            Vendor::LeicaScn => "Leica SCN",
            Vendor::VentanaBif => "Ventana BIF",
            Vendor::SakuraSvslide => "Sakura SVSlide",
            Vendor::ZeissCzi => "Zeiss CZI",
            Vendor::OlympusVsi => "Olympus VSI",
            Vendor::PhilipsIsyntax => "Philips iSyntax",
        }
    }

    /// True when OpenSlide 3.4 (Debian 12's `libopenslide0`) reads the format.
    pub(crate) fn openslide_reads(self) -> bool {
        !matches!(
            self,
            Vendor::ZeissCzi | Vendor::OlympusVsi | Vendor::PhilipsIsyntax
        )
    }

    /// Recognises another scanner's format from the file's extension, its first bytes
    /// and, for a TIFF, its first directory; `None` for anything else (the native reader
    /// then opens it or says what is wrong).
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read.
    pub(crate) fn detect(path: &Path) -> Result<Option<Vendor>> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        let by_ext = match ext.as_str() {
            "ndpi" => Some(Vendor::HamamatsuNdpi),
            "vms" | "vmu" => Some(Vendor::HamamatsuVms),
            "mrxs" => Some(Vendor::Mirax),
            "scn" => Some(Vendor::LeicaScn),
            "bif" => Some(Vendor::VentanaBif),
            "svslide" => Some(Vendor::SakuraSvslide),
            "czi" => Some(Vendor::ZeissCzi),
            "vsi" => Some(Vendor::OlympusVsi),
            "isyntax" => Some(Vendor::PhilipsIsyntax),
            _ => None,
        };
        if by_ext.is_some() || path.is_dir() {
            return Ok(by_ext);
        }
        let mut head = Vec::with_capacity(16);
        {
            use std::io::Read;
            let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
            f.take(16)
                .read_to_end(&mut head)
                .map_err(|e| Error::io(path, e))?;
        }
        if head.starts_with(b"ZISRAWFILE") {
            return Ok(Some(Vendor::ZeissCzi));
        }
        if head.starts_with(b"<DataObject") {
            return Ok(Some(Vendor::PhilipsIsyntax));
        }
        // A broken TIFF is left to the native reader, which says what is wrong with it.
        match TiffFile::open(path) {
            Ok(Some((tf, first))) => Ok(tiff_vendor(&tf, first)),
            _ => Ok(None),
        }
    }
}

/// The vendor of a TIFF from its first directory, as OpenSlide recognises it.
fn tiff_vendor(tf: &TiffFile, first_ifd: u64) -> Option<Vendor> {
    let (ifd, _) = tf.read_ifd(first_ifd).ok()?;
    if tf.raw(&ifd, NDPI_FORMAT_FLAG).ok().flatten().is_some() {
        return Some(Vendor::HamamatsuNdpi);
    }
    let description = tf
        .ascii(&ifd, tag::IMAGE_DESCRIPTION)
        .ok()
        .flatten()
        .unwrap_or_default();
    if description.starts_with("<?xml") && description.contains("leica-microsystems.com/scn") {
        return Some(Vendor::LeicaScn);
    }
    let xmp = tf.raw(&ifd, XMP).ok().flatten().unwrap_or_default();
    if String::from_utf8_lossy(&xmp).contains("<iScan") {
        return Some(Vendor::VentanaBif);
    }
    None
}

/// The error for a format this build does not read: it names the format found and says
/// which build reads it, or how to convert it.
pub(crate) fn unsupported(path: &Path, vendor: Vendor) -> Error {
    let what = if vendor.openslide_reads() {
        "a mitocount built with the `openslide` cargo feature reads it through OpenSlide \
         (`cargo install --path . --features openslide`, with the OpenSlide library installed, \
         Debian package libopenslide-dev)"
    } else {
        "neither this build nor the `openslide` feature's OpenSlide 3.4 reads it"
    };
    Error::Unsupported {
        path: path.to_path_buf(),
        reason: format!(
            "{} slide: this build of mitocount does not read it; {what}; or convert it to \
             a tiled pyramidal TIFF, e.g. with `vips tiffsave in out.tif --tile --pyramid \
             --compression jpeg` or Bio-Formats' `bfconvert -pyramid-resolutions 4 in \
             out.ome.tif`",
            vendor.name()
        ),
    }
}

/// Opens another scanner's slide: through OpenSlide in a build with the `openslide`
/// feature, else the error of [`unsupported`].
///
/// # Errors
/// [`Error::Unsupported`] naming the format; OpenSlide's errors.
pub(crate) fn open(path: &Path, vendor: Vendor, limits: super::Limits) -> Result<super::Slide> {
    #[cfg(feature = "openslide")]
    if vendor.openslide_reads() {
        return super::Slide::open_with_openslide(path, limits).map_err(|e| match e {
            Error::Unsupported { path, reason } => Error::Unsupported {
                path,
                reason: format!("{} slide: {reason}", vendor.name()),
            },
            other => other,
        });
    }
    let _ = limits;
    Err(unsupported(path, vendor))
}
