//! One DICOM whole-slide instance: its data set read up to the pixel data with dicom-rs,
//! checked, and its frames placed on the grid of the total pixel matrix (see
//! [`super`]).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use dicom_core::dictionary::UidDictionary;
use dicom_core::header::HasLength;
use dicom_dictionary_std::{tags, StandardSopClassDictionary};
use dicom_object::{FileMetaTable, InMemDicomObject, OpenFileOptions};
use dicom_transfer_syntax_registry::{TransferSyntaxIndex, TransferSyntaxRegistry};

use super::pixels::{self, chain, FrameBytes, FrameCodec, FrameColour, PixelData};
use crate::error::{Error, Result};
use crate::slide::{AssociatedKind, Limits};

/// VL Whole Slide Microscopy Image Storage.
const WSI_SOP_CLASS: &str = "1.2.840.10008.5.1.4.1.1.77.1.6";

pub(crate) fn malformed(path: &Path, reason: impl Into<String>) -> Error {
    Error::MalformedDicom {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

pub(crate) fn unsupported(path: &Path, reason: impl Into<String>) -> Error {
    Error::Unsupported {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// What an instance is (ImageType value 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Volume,
    Associated(AssociatedKind),
}

/// How the frames of an instance are placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Organisation {
    /// Row-major; `stated`: DimensionOrganizationType says TILED_FULL.
    Full { stated: bool },
    /// Per-frame positions.
    Sparse,
    /// No type stated, and the edge frames' padding shows the frames were written column
    /// by column (see `super::frames_are_column_major`).
    ColumnMajor,
}

/// One instance, read and checked.
pub(crate) struct Instance {
    pub(crate) path: PathBuf,
    pub(crate) file: File,
    pub(crate) series_uid: Option<String>,
    pub(crate) kind: Kind,
    pub(crate) matrix_px: (u32, u32),
    pub(crate) frame_px: (u32, u32),
    pub(crate) codec: FrameCodec,
    pub(crate) codec_name: String,
    pub(crate) colour: FrameColour,
    pub(crate) samples: String,
    pub(crate) organisation: Organisation,
    /// Byte ranges of each frame and its grid cell (row-major index), if it is placed.
    pub(crate) frames: Vec<(FrameBytes, Option<u64>)>,
    pub(crate) mpp_um: Option<f64>,
    pub(crate) objective_mag: Option<f64>,
    pub(crate) warnings: Vec<String>,
}

/// Counts the bytes read through it (where the file meta group ends).
struct Counting<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

/// The transfer syntax's name, from dicom-rs's registry.
fn ts_name(uid: &str) -> String {
    match TransferSyntaxRegistry.get(uid) {
        Some(ts) => format!("{} ({uid})", ts.name()),
        None => format!("{uid} (not a transfer syntax of the DICOM standard)"),
    }
}

/// How frames of this transfer syntax are decoded, or why they are not.
fn frame_codec(path: &Path, uid: &str) -> Result<FrameCodec> {
    match uid {
        "1.2.840.10008.1.2" | "1.2.840.10008.1.2.1" => Ok(FrameCodec::Native { planar: false }),
        "1.2.840.10008.1.2.4.50" => Ok(FrameCodec::Jpeg),
        "1.2.840.10008.1.2.4.90" | "1.2.840.10008.1.2.4.91" => Ok(FrameCodec::Jpeg2000),
        _ => Err(unsupported(
            path,
            format!(
                "transfer syntax {} is not supported; mitocount reads DICOM frames in JPEG \
                 baseline (1.2.840.10008.1.2.4.50), JPEG 2000 (1.2.840.10008.1.2.4.90, .91) \
                 or uncompressed little endian (1.2.840.10008.1.2, 1.2.840.10008.1.2.1)",
                ts_name(uid)
            ),
        )),
    }
}

/// An unsigned integer attribute of `obj`, `None` when absent or empty.
fn uint(
    path: &Path,
    obj: &InMemDicomObject,
    tag: dicom_core::Tag,
    name: &str,
) -> Result<Option<u64>> {
    match obj.get(tag) {
        None => Ok(None),
        Some(e) if e.is_empty() => Ok(None),
        Some(e) => e.to_int::<u64>().map(Some).map_err(|err| {
            malformed(
                path,
                format!("{name} {tag} is not a non-negative integer: {err}"),
            )
        }),
    }
}

/// A required size attribute (1 to the limit's side).
fn side(
    path: &Path,
    obj: &InMemDicomObject,
    tag: dicom_core::Tag,
    name: &str,
    limits: &Limits,
) -> Result<u32> {
    let v = uint(path, obj, tag, name)?
        .ok_or_else(|| malformed(path, format!("{name} {tag} is missing")))?;
    if v == 0 || v > u64::from(limits.max_side_px) {
        return Err(malformed(
            path,
            format!("{name} is {v}: must be 1 to {} px", limits.max_side_px),
        ));
    }
    Ok(v as u32)
}

/// A text attribute, trimmed, `None` when absent.
fn text(obj: &InMemDicomObject, tag: dicom_core::Tag) -> Option<String> {
    let v = obj.get(tag)?.to_str().ok()?;
    let v = v.trim_matches(|c: char| c.is_whitespace() || c == '\0');
    (!v.is_empty()).then(|| v.to_string())
}

/// The first item of a sequence attribute.
fn first_item(obj: &InMemDicomObject, tag: dicom_core::Tag) -> Option<&InMemDicomObject> {
    obj.get(tag)?.items()?.first()
}

/// PixelSpacing (mm, row\column) of a functional group item, as µm per column (x).
fn pixel_spacing_um(group: &InMemDicomObject) -> Option<f64> {
    let measures = first_item(group, tags::PIXEL_MEASURES_SEQUENCE)?;
    let spacing = measures.get(tags::PIXEL_SPACING)?.to_multi_float64().ok()?;
    let col_mm = *spacing.get(1).or(spacing.first())?;
    (col_mm.is_finite() && col_mm > 0.0).then_some(col_mm * 1000.0)
}

/// Reads an instance's data set (up to the pixel data) and locates its frames.
/// Checks that every element of the file meta group (0002,xxxx; explicit VR little endian,
/// PS3.10 7.1) fits in the file, before dicom-rs reads it: dicom-rs allocates a value's
/// declared length before reading it, so a damaged length in a small file would cost
/// gigabytes. Written by hand: the group's element headers are a fixed 8 or 12 bytes.
fn check_meta_lengths(path: &Path, file: &mut File, magic_at: u64, file_len: u64) -> Result<()> {
    const MAX_META_BYTES: u64 = 1 << 20;
    let mut at = if magic_at == 128 { 132 } else { 0 };
    let mut buf = Vec::new();
    file.seek(SeekFrom::Start(0))
        .map_err(|e| Error::io(path, e))?;
    (&mut *file)
        .take(MAX_META_BYTES.min(file_len))
        .read_to_end(&mut buf)
        .map_err(|e| Error::io(path, e))?;
    // dicom-rs reads elements as meta elements up to the end that (0002,0000) group length
    // states, whatever their group; without one, while the group is 0002.
    let mut group_end: Option<u64> = None;
    loop {
        let Some(h) = buf.get(at as usize..at as usize + 8) else {
            return Ok(()); // the end of what was read: dicom-rs reports a short file
        };
        let in_group = u16::from_le_bytes([h[0], h[1]]) == 0x0002;
        if !in_group && group_end.is_none_or(|end| at >= end) {
            return Ok(());
        }
        if in_group && h[2..4] == [0, 0] && &h[4..6] == b"UL" {
            if let Some(v) = buf.get(at as usize + 8..at as usize + 12) {
                let len = u64::from(u32::from_le_bytes([v[0], v[1], v[2], v[3]]));
                group_end = Some(at + 12 + len);
            }
        }
        let vr = [h[4], h[5]];
        // VRs with a 2-byte length (PS3.5 7.1.2); any other, unknown ones included (as
        // dicom-rs reads them), has 2 reserved bytes and a 4-byte length.
        let short = [
            b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT",
            b"PN", b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US",
        ];
        let (len, header) = if !short.contains(&&vr) {
            let Some(l) = buf.get(at as usize + 8..at as usize + 12) else {
                return Ok(());
            };
            (u64::from(u32::from_le_bytes([l[0], l[1], l[2], l[3]])), 12)
        } else {
            (u64::from(u16::from_le_bytes([h[6], h[7]])), 8)
        };
        let end = at + header + len;
        if end > file_len || end > MAX_META_BYTES {
            return Err(malformed(
                path,
                format!(
                    "file meta element (0002,{:04X}) at byte {at} declares {len} value bytes, \
                     but the file ends at byte {file_len}",
                    u16::from_le_bytes([h[2], h[3]])
                ),
            ));
        }
        at = end;
    }
}

pub(crate) fn read_instance(path: &Path, limits: &Limits) -> Result<Instance> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut head = Vec::with_capacity(132);
    (&mut file)
        .take(132)
        .read_to_end(&mut head)
        .map_err(|e| Error::io(path, e))?;
    let magic_at = if head.get(128..132) == Some(b"DICM") {
        128
    } else {
        0
    };
    check_meta_lengths(path, &mut file, magic_at, file_len)?;
    file.seek(SeekFrom::Start(magic_at))
        .map_err(|e| Error::io(path, e))?;
    let mut counting = Counting {
        inner: &mut file,
        count: 0,
    };
    let meta = FileMetaTable::from_reader(&mut counting).map_err(|e| {
        malformed(
            path,
            format!("cannot read the file meta information: {}", chain(&e)),
        )
    })?;
    let data_set_at = magic_at + counting.count;
    let ts_uid = meta.transfer_syntax().to_string();
    let mut codec = frame_codec(path, &ts_uid)?;
    let sop_class = meta
        .media_storage_sop_class_uid()
        .trim_end_matches(['\0', ' '])
        .to_string();
    if sop_class != WSI_SOP_CLASS {
        let name = StandardSopClassDictionary
            .by_uid(&sop_class)
            .map_or("not a standard SOP class", |e| e.name);
        return Err(unsupported(
            path,
            format!(
                "DICOM SOP class {name} ({sop_class}) is not a whole-slide image; mitocount \
                 reads VL Whole Slide Microscopy Image Storage ({WSI_SOP_CLASS})"
            ),
        ));
    }
    let Some(ts) = TransferSyntaxRegistry.get(&ts_uid) else {
        return Err(unsupported(
            path,
            format!("transfer syntax {}", ts_name(&ts_uid)),
        ));
    };
    // First the allocation-free walk, which also refuses values longer than the file.
    let located = pixels::locate(path, data_set_at, ts)?;
    let obj = OpenFileOptions::new()
        .read_until(tags::PIXEL_DATA)
        .open_file(path)
        .map_err(|e| malformed(path, format!("cannot read the data set: {}", chain(&e))))?;
    let obj: &InMemDicomObject = &obj;

    let kind = match obj
        .get(tags::IMAGE_TYPE)
        .and_then(|e| e.to_multi_str().ok())
        .and_then(|v| v.get(2).map(|s| s.trim().to_ascii_uppercase()))
        .as_deref()
    {
        Some("LABEL") => Kind::Associated(AssociatedKind::Label),
        Some("OVERVIEW") => Kind::Associated(AssociatedKind::Macro),
        Some("THUMBNAIL") => Kind::Associated(AssociatedKind::Thumbnail),
        _ => Kind::Volume,
    };
    let spp = uint(path, obj, tags::SAMPLES_PER_PIXEL, "SamplesPerPixel")?.unwrap_or(1);
    let photometric = text(obj, tags::PHOTOMETRIC_INTERPRETATION).unwrap_or_default();
    if spp == 1 || photometric.starts_with("MONOCHROME") {
        return Err(unsupported(
            path,
            format!(
                "greyscale image (photometric {photometric}): one channel cannot be \
                 separated into haematoxylin and eosin stains; mitocount needs an RGB \
                 brightfield H&E image"
            ),
        ));
    }
    if spp != 3 {
        return Err(unsupported(
            path,
            format!("{spp} samples per pixel; 3 (RGB) expected"),
        ));
    }
    let bits = uint(path, obj, tags::BITS_ALLOCATED, "BitsAllocated")?.unwrap_or(8);
    if bits != 8 {
        return Err(unsupported(
            path,
            format!("{bits}-bit samples; mitocount reads 8-bit RGB"),
        ));
    }
    let colour = match photometric.as_str() {
        "RGB" => FrameColour::Rgb,
        "YBR_FULL" | "YBR_FULL_422" => FrameColour::YbrFull,
        "YBR_ICT" | "YBR_RCT" if codec == FrameCodec::Jpeg2000 => FrameColour::Ybr2000,
        other => {
            return Err(unsupported(
                path,
                format!(
                    "photometric interpretation {other:?} with {}",
                    ts_name(&ts_uid)
                ),
            ))
        }
    };
    let planar =
        uint(path, obj, tags::PLANAR_CONFIGURATION, "PlanarConfiguration")?.unwrap_or(0) == 1;
    if let FrameCodec::Native { .. } = codec {
        if photometric == "YBR_FULL_422" {
            return Err(unsupported(
                path,
                "uncompressed YBR_FULL_422 (chroma subsampled in the file) is not supported",
            ));
        }
        codec = FrameCodec::Native { planar };
    }
    let frame_px = (
        side(path, obj, tags::COLUMNS, "Columns", limits)?,
        side(path, obj, tags::ROWS, "Rows", limits)?,
    );
    let frame_bytes = u64::from(frame_px.0) * u64::from(frame_px.1) * 3;
    if frame_bytes > limits.max_chunk_bytes {
        return Err(unsupported(
            path,
            format!(
                "frames of {}x{} px take {frame_bytes} bytes decoded, more than the limit of {}",
                frame_px.0, frame_px.1, limits.max_chunk_bytes
            ),
        ));
    }
    let n_frames = uint(path, obj, tags::NUMBER_OF_FRAMES, "NumberOfFrames")?.unwrap_or(1);
    if n_frames == 0 {
        return Err(malformed(path, "NumberOfFrames is 0"));
    }
    let has_matrix = obj.get(tags::TOTAL_PIXEL_MATRIX_COLUMNS).is_some();
    let matrix_px = if !has_matrix && kind != Kind::Volume && n_frames == 1 {
        frame_px
    } else {
        (
            side(
                path,
                obj,
                tags::TOTAL_PIXEL_MATRIX_COLUMNS,
                "TotalPixelMatrixColumns",
                limits,
            )?,
            side(
                path,
                obj,
                tags::TOTAL_PIXEL_MATRIX_ROWS,
                "TotalPixelMatrixRows",
                limits,
            )?,
        )
    };

    let ranges = match (located, codec) {
        (PixelData::Native { offset, len }, FrameCodec::Native { .. }) => {
            pixels::native_frames((path, file_len), (offset, len), n_frames, frame_bytes)?
        }
        (PixelData::Encapsulated { items_at }, FrameCodec::Jpeg | FrameCodec::Jpeg2000) => {
            pixels::encapsulated_frames((&file, path, file_len), items_at, n_frames, limits)?
        }
        (PixelData::Native { .. }, _) => {
            return Err(malformed(
                path,
                format!(
                    "native pixel data under compressed transfer syntax {}",
                    ts_name(&ts_uid)
                ),
            ))
        }
        (PixelData::Encapsulated { .. }, _) => {
            return Err(malformed(
                path,
                format!(
                    "encapsulated pixel data under transfer syntax {}",
                    ts_name(&ts_uid)
                ),
            ))
        }
    };
    let mut warnings = Vec::new();
    let (organisation, cells) =
        place_frames(path, obj, (matrix_px, frame_px), n_frames, &mut warnings)?;
    let frames = ranges.into_iter().zip(cells).collect();

    let shared = first_item(obj, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE);
    let per_frame = first_item(obj, tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE);
    let mpp_um = shared
        .and_then(pixel_spacing_um)
        .or_else(|| per_frame.and_then(pixel_spacing_um));
    let objective_mag = first_item(obj, tags::OPTICAL_PATH_SEQUENCE)
        .and_then(|o| o.get(tags::OBJECTIVE_LENS_POWER))
        .and_then(|e| e.to_float64().ok())
        .filter(|m| m.is_finite() && *m > 0.0);
    let codec_name = match codec {
        FrameCodec::Jpeg => "JPEG baseline".to_string(),
        FrameCodec::Jpeg2000 => "JPEG 2000".to_string(),
        FrameCodec::Native { .. } => "none".to_string(),
    };
    Ok(Instance {
        path: path.to_path_buf(),
        file,
        series_uid: text(obj, tags::SERIES_INSTANCE_UID),
        kind,
        matrix_px,
        frame_px,
        codec,
        codec_name: format!("{codec_name} ({ts_uid})"),
        colour,
        samples: if photometric == "RGB" {
            "8-bit RGB".to_string()
        } else {
            format!("8-bit {photometric} read as RGB")
        },
        organisation,
        frames,
        mpp_um,
        objective_mag,
        warnings,
    })
}

/// The grid cell (row-major index) of each frame, and how they are organised.
fn place_frames(
    path: &Path,
    obj: &InMemDicomObject,
    ((mw, mh), (fw, fh)): ((u32, u32), (u32, u32)),
    n_frames: u64,
    warnings: &mut Vec<String>,
) -> Result<(Organisation, Vec<Option<u64>>)> {
    let across = u64::from(mw).div_ceil(u64::from(fw));
    let down = u64::from(mh).div_ceil(u64::from(fh));
    let stated = text(obj, tags::DIMENSION_ORGANIZATION_TYPE);
    let per_frame = obj
        .get(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE)
        .and_then(|e| e.items());
    let has_positions = per_frame
        .and_then(|items| items.first())
        .and_then(|i| first_item(i, tags::PLANE_POSITION_SLIDE_SEQUENCE))
        .is_some();
    let sparse = match stated.as_deref() {
        Some("TILED_FULL") => false,
        Some("TILED_SPARSE") => true,
        _ => has_positions,
    };
    if !sparse {
        let planes = uint(
            path,
            obj,
            tags::TOTAL_PIXEL_MATRIX_FOCAL_PLANES,
            "TotalPixelMatrixFocalPlanes",
        )?
        .unwrap_or(1)
        .max(1);
        let paths = uint(
            path,
            obj,
            tags::NUMBER_OF_OPTICAL_PATHS,
            "NumberOfOpticalPaths",
        )?
        .unwrap_or(1)
        .max(1);
        let expected = (across * down).saturating_mul(planes).saturating_mul(paths);
        let offset = uint(
            path,
            obj,
            tags::CONCATENATION_FRAME_OFFSET_NUMBER,
            "ConcatenationFrameOffsetNumber",
        )?;
        let fits = match offset {
            None => n_frames == expected,
            Some(o) => o.saturating_add(n_frames) <= expected,
        };
        if !fits {
            return Err(malformed(
                path,
                format!(
                    "NumberOfFrames is {n_frames}{} but the total pixel matrix of {mw}x{mh} px in \
                     frames of {fw}x{fh} px is {across} x {down} = {} frames (x {planes} focal \
                     planes x {paths} optical paths = {expected})",
                    offset.map_or(String::new(), |o| format!(
                        " after {o} frames of earlier parts"
                    )),
                    across * down
                ),
            ));
        }
        if planes * paths > 1 {
            warnings.push(format!(
                "{}: {planes} focal planes x {paths} optical paths; only the first is read",
                path.display()
            ));
        }
        let grid = across * down;
        let first = offset.unwrap_or(0);
        let cells = (first..first + n_frames)
            .map(|g| (g < grid).then_some(g))
            .collect();
        return Ok((
            Organisation::Full {
                stated: stated.is_some(),
            },
            cells,
        ));
    }
    let items = per_frame.unwrap_or(&[]);
    if items.len() as u64 != n_frames {
        return Err(malformed(
            path,
            format!(
                "TILED_SPARSE: PerFrameFunctionalGroupsSequence has {} items, NumberOfFrames is \
                 {n_frames}",
                items.len()
            ),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    let mut duplicates = 0u64;
    let mut cells = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let position = first_item(item, tags::PLANE_POSITION_SLIDE_SEQUENCE);
        let coord = |tag| {
            position
                .and_then(|p| p.get(tag))
                .and_then(|e| e.to_int::<i64>().ok())
        };
        let (Some(col), Some(row)) = (
            coord(tags::COLUMN_POSITION_IN_TOTAL_IMAGE_PIXEL_MATRIX),
            coord(tags::ROW_POSITION_IN_TOTAL_IMAGE_PIXEL_MATRIX),
        ) else {
            return Err(malformed(
                path,
                format!(
                    "TILED_SPARSE frame {} has no Column/RowPositionInTotalImagePixelMatrix in \
                     its PlanePositionSlideSequence",
                    i + 1
                ),
            ));
        };
        if col < 1 || row < 1 || col > i64::from(mw) || row > i64::from(mh) {
            return Err(malformed(
                path,
                format!(
                    "frame {} is placed at column {col}, row {row}, outside the {mw}x{mh} px \
                     total pixel matrix (positions start at 1)",
                    i + 1
                ),
            ));
        }
        let (c0, r0) = ((col - 1) as u64, (row - 1) as u64);
        if c0 % u64::from(fw) != 0 || r0 % u64::from(fh) != 0 {
            return Err(unsupported(
                path,
                format!(
                    "frame {} is placed at column {col}, row {row}, off the grid of {fw}x{fh} px \
                     frames; mitocount reads TILED_SPARSE frames placed on that grid",
                    i + 1
                ),
            ));
        }
        let cell = (r0 / u64::from(fh)) * across + c0 / u64::from(fw);
        if seen.insert(cell) {
            cells.push(Some(cell));
        } else {
            duplicates += 1;
            cells.push(None);
        }
    }
    if duplicates > 0 {
        warnings.push(format!(
            "{}: {duplicates} frames share a position with an earlier one (other focal planes \
             or optical paths); the first is read",
            path.display()
        ));
    }
    Ok((Organisation::Sparse, cells))
}
