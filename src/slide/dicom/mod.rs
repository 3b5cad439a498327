//! DICOM whole-slide images (VL Whole Slide Microscopy Image Storage, SOP class
//! 1.2.840.10008.5.1.4.1.1.77.1.6; DICOM PS3.3 A.32.8 and C.8.12.4).
//!
//! One file is one instance; a folder of instances of one series is one slide whose
//! levels are the VOLUME instances (largest first, each a consistent reduction of the
//! largest, as for TIFF) and whose LABEL, OVERVIEW and THUMBNAIL instances are associated
//! images. Instances of one level that share its size (concatenations, PS3.3 C.7.6.16.2.2)
//! are merged frame by frame.
//!
//! The data set is read with dicom-rs up to the Pixel Data (nothing of the pixels is
//! loaded); frame byte ranges come from [`pixels`] and every frame is read
//! and decoded on demand through the shared tile cache, as TIFF tiles are. Frames lie on
//! a grid of Columns x Rows px over the Total Pixel Matrix: TILED_FULL in row-major order
//! (also when DimensionOrganizationType is absent and no frame states its position: the
//! first focal plane and optical path are read), TILED_SPARSE at the positions of
//! PerFrameFunctionalGroupsSequence > PlanePositionSlideSequence (grid cells without a
//! frame read as white). Pixel size: PixelSpacing (mm, row\column) of the shared, else
//! the first per-frame, PixelMeasuresSequence.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod instance;
mod pixels;

use super::cache::ChunkCache;
use super::codec::Chunk;
use super::ifd::read_exact_at;
use super::{AssociatedImage, AssociatedKind, LevelInfo, Limits, MppSource, MppState, Slide};
use crate::error::{Error, Result};
use crate::units::Mpp;
use instance::{malformed, read_instance, unsupported, Instance, Kind, Organisation};
use pixels::{FrameCodec, FrameColour};

/// True when the file at `path` is a DICOM Part 10 file (see [`is_dicom`]).
pub(crate) fn sniff(path: &Path) -> Result<bool> {
    let mut head = Vec::with_capacity(132);
    File::open(path)
        .and_then(|f| f.take(132).read_to_end(&mut head))
        .map_err(|e| Error::io(path, e))?;
    Ok(is_dicom(&head))
}

/// True when `head`, a file's first bytes, marks a DICOM Part 10 file ("DICM" after the
/// 128-byte preamble, or at the start of a file written without one).
pub(crate) fn is_dicom(head: &[u8]) -> bool {
    head.get(128..132) == Some(b"DICM") || head.get(0..4) == Some(b"DICM")
}

/// A frame: which file, its number there (1-based, for messages), its byte ranges.
struct FrameRef {
    file: u32,
    number: u64,
    pieces: pixels::FrameBytes,
}

/// A level or an associated image: frames on a grid.
struct Image {
    size_px: (u32, u32),
    frame_px: (u32, u32),
    codec: FrameCodec,
    colour: FrameColour,
    frames: HashMap<u64, FrameRef>,
}

/// The DICOM backend of a [`Slide`]: open files, levels, associated images, cache.
pub(crate) struct DicomBackend {
    files: Vec<(PathBuf, File)>,
    levels: Vec<Image>,
    associated: Vec<(AssociatedKind, Image)>,
    cache: ChunkCache,
    limits: Limits,
}

/// Opens one DICOM file as a slide.
pub(crate) fn open(path: &Path, limits: Limits) -> Result<Slide> {
    let instance = read_instance(path, &limits)?;
    if let Kind::Associated(kind) = instance.kind {
        return Err(unsupported(
            path,
            format!(
                "this instance is the slide's {kind:?} image, not a pyramid level; open the \
                 VOLUME instance, or the folder that holds the whole series"
            ),
        ));
    }
    assemble(path, vec![instance], Vec::new(), limits)
}

/// Opens a folder of DICOM files of one series as one slide. Files that are not DICOM,
/// and DICOM files that are not whole-slide images (e.g. DICOMDIR, annotations), are
/// passed over with a warning.
pub(crate) fn open_folder(path: &Path, limits: Limits) -> Result<Slide> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| Error::io(path, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    names.sort();
    let mut instances = Vec::new();
    let mut warnings = Vec::new();
    for name in names {
        if !sniff(&name)? {
            continue;
        }
        match read_instance(&name, &limits) {
            Ok(i) => instances.push(i),
            Err(Error::Unsupported { reason, .. }) if reason.contains("is not a whole-slide") => {
                warnings.push(format!("{}: {reason}; passed over", name.display()));
            }
            Err(e) => return Err(e),
        }
    }
    if instances.is_empty() {
        return Err(unsupported(
            path,
            "the folder holds no DICOM whole-slide image (VL Whole Slide Microscopy Image) file",
        ));
    }
    let series: Vec<&str> = instances
        .iter()
        .filter_map(|i| i.series_uid.as_deref())
        .collect();
    if let Some(other) = series.iter().find(|s| **s != series[0]) {
        return Err(unsupported(
            path,
            format!(
                "the folder holds more than one series ({} and {other}); put each slide's \
                 series in its own folder",
                series[0]
            ),
        ));
    }
    assemble(path, instances, warnings, limits)
}

/// Builds one image from the instances that share its size; `files` collects the open
/// files (frames refer to them by index).
fn build_image(group: Vec<Instance>, files: &mut Vec<(PathBuf, File)>) -> Result<(Image, String)> {
    let first = &group[0];
    let (size_px, frame_px, codec, colour) =
        (first.matrix_px, first.frame_px, first.codec, first.colour);
    let (across, down) = (
        u64::from(size_px.0).div_ceil(u64::from(frame_px.0)),
        u64::from(size_px.1).div_ceil(u64::from(frame_px.1)),
    );
    let organisation = first.organisation;
    let n_instances = group.len();
    let mut frames = HashMap::new();
    let mut read = 0u64;
    for inst in group {
        if (inst.frame_px, inst.codec, inst.colour) != (frame_px, codec, colour) {
            return Err(unsupported(
                &inst.path,
                format!(
                    "its frames ({}x{} px, {}) differ from those of another instance of the \
                     same {}x{} px level",
                    inst.frame_px.0, inst.frame_px.1, inst.codec_name, size_px.0, size_px.1
                ),
            ));
        }
        let file = u32::try_from(files.len()).unwrap_or(u32::MAX);
        for (number, (pieces, cell)) in (1u64..).zip(inst.frames) {
            read += 1;
            if let Some(cell) = cell {
                frames.entry(cell).or_insert(FrameRef {
                    file,
                    number,
                    pieces,
                });
            }
        }
        files.push((inst.path, inst.file));
    }
    let kind = match organisation {
        Organisation::Full { stated: true } => "TILED_FULL",
        Organisation::Full { stated: false } => {
            "TILED_FULL (implied: no DimensionOrganizationType, no per-frame positions)"
        }
        Organisation::Sparse => "TILED_SPARSE",
        Organisation::ColumnMajor => {
            "no DimensionOrganizationType, frames in column-major order (found from the edge \
             frames' padding; TILED_FULL is row-major)"
        }
    };
    let cells = across * down;
    let mut layout = format!(
        "{kind}, {read} frames of {}x{} px, {across} across x {down} down",
        frame_px.0, frame_px.1
    );
    if (frames.len() as u64) < cells {
        layout.push_str(&format!(
            ", {} grid cells without a frame (read as white)",
            cells - frames.len() as u64
        ));
    }
    if n_instances > 1 {
        layout.push_str(&format!(", from {n_instances} instances"));
    }
    let image = Image {
        size_px,
        frame_px,
        codec,
        colour,
        frames,
    };
    Ok((image, layout))
}

/// The range (max - min over the three samples) of the part of frame `g` of `inst` that
/// lies past the right (`right`) or bottom edge of the total pixel matrix, 8 px in from
/// that edge, when the frame is in the last column or row; `None` when it cannot be read.
fn padding_range(inst: &Instance, g: usize, right: bool, (across, down): (u32, u32)) -> Option<u8> {
    let ((mw, mh), (fw, fh)) = (inst.matrix_px, inst.frame_px);
    let (pieces, _) = inst.frames.get(g)?;
    let mut data = Vec::new();
    for &(offset, len) in pieces.iter() {
        let mut b = vec![0u8; usize::try_from(len).ok()?];
        read_exact_at(&inst.file, &mut b, offset).ok()?;
        data.extend_from_slice(&b);
    }
    let chunk = pixels::decode_frame(&data, inst.codec, inst.colour, (fw, fh)).ok()?;
    let (x0, y0) = if right {
        (mw - (across - 1) * fw + 8, 0)
    } else {
        (0, mh - (down - 1) * fh + 8)
    };
    let (mut lo, mut hi) = (255u8, 0u8);
    for y in y0..fh {
        for x in x0..fw {
            let at = (y as usize * fw as usize + x as usize) * 3;
            for &v in &chunk.rgb[at..at + 3] {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
    }
    (x0 < fw && y0 < fh).then_some(hi.saturating_sub(lo))
}

/// True when an instance without DimensionOrganizationType and without per-frame
/// positions holds its frames column by column rather than in TILED_FULL's row-major
/// order, as the pathml sample `small_dicom.dcm` does: the frames that row-major order
/// puts at the top-right and bottom-left corners hold image content where the matrix
/// ends, while those that column-major order puts there hold uniform padding.
///
/// A heuristic written here (no reader we know of makes this check): it decodes four
/// frames at open time and is used only when the matrix is not a whole number of frames
/// in either direction and no organisation is stated.
pub(crate) fn frames_are_column_major(inst: &Instance) -> bool {
    let ((mw, mh), (fw, fh)) = (inst.matrix_px, inst.frame_px);
    let (across, down) = (mw.div_ceil(fw), mh.div_ceil(fh));
    if across < 2 || down < 2 || mw % fw <= 8 || mh % fh <= 8 {
        return false;
    }
    if inst.frames.len() as u64 != u64::from(across) * u64::from(down) {
        return false;
    }
    let grid = (across, down);
    let (a, d) = (across as usize, down as usize);
    // Range of the samples in uniform padding (JPEG noise) and in image content.
    const PADDING: u8 = 16;
    const CONTENT: u8 = 60;
    let row_major_content = [(a - 1, true), ((d - 1) * a, false)]
        .iter()
        .any(|&(g, right)| padding_range(inst, g, right, grid).is_some_and(|r| r > CONTENT));
    row_major_content
        && [((a - 1) * d, true), (d - 1, false)]
            .iter()
            .all(|&(g, right)| padding_range(inst, g, right, grid).is_some_and(|r| r <= PADDING))
}

/// Sorts instances into levels and associated images and makes the slide.
fn assemble(
    path: &Path,
    instances: Vec<Instance>,
    mut warnings: Vec<String>,
    limits: Limits,
) -> Result<Slide> {
    let mut volumes: Vec<Instance> = Vec::new();
    let mut associated_instances = Vec::new();
    for mut i in instances {
        warnings.extend(i.warnings.iter().cloned());
        if i.organisation == (Organisation::Full { stated: false }) && frames_are_column_major(&i) {
            let down = u64::from(i.matrix_px.1.div_ceil(i.frame_px.1));
            let across = u64::from(i.matrix_px.0.div_ceil(i.frame_px.0));
            for (g, (_, cell)) in (0u64..).zip(i.frames.iter_mut()) {
                *cell = Some((g % down) * across + g / down);
            }
            i.organisation = Organisation::ColumnMajor;
            warnings.push(format!(
                "{}: no DimensionOrganizationType; the frames are in column-major order (the \
                 edge frames' padding says so), not TILED_FULL's row-major order, and are \
                 read so",
                i.path.display()
            ));
        }
        match i.kind {
            Kind::Volume => volumes.push(i),
            Kind::Associated(k) => associated_instances.push((k, i)),
        }
    }
    if volumes.is_empty() {
        return Err(unsupported(
            path,
            "no VOLUME instance (pyramid level) among the DICOM files, only label, overview \
             or thumbnail images",
        ));
    }
    // Largest first; one level per size, as the TIFF reader does.
    volumes.sort_by_key(|i| std::cmp::Reverse((i.matrix_px.0, i.matrix_px.1)));
    let (w0, h0) = (
        f64::from(volumes[0].matrix_px.0),
        f64::from(volumes[0].matrix_px.1),
    );
    let mut groups: Vec<Vec<Instance>> = Vec::new();
    for inst in volumes {
        let ds = w0 / f64::from(inst.matrix_px.0);
        if (f64::from(inst.matrix_px.1) * ds - h0).abs() > 2.0 * ds + 1.0 {
            warnings.push(format!(
                "{}: {}x{} px is not a reduction of the {w0}x{h0} px base level; passed over",
                inst.path.display(),
                inst.matrix_px.0,
                inst.matrix_px.1
            ));
            continue;
        }
        match groups.last_mut() {
            Some(g) if g[0].matrix_px == inst.matrix_px => g.push(inst),
            _ => groups.push(vec![inst]),
        }
    }
    // Pixel size: the base level's, else another level's scaled by its downsample.
    let mpp_um = groups.iter().find_map(|g| {
        let ds = w0 / f64::from(g[0].matrix_px.0);
        g.iter().find_map(|i| i.mpp_um).map(|m| m / ds)
    });
    let objective_mag = groups.iter().flatten().find_map(|i| i.objective_mag);
    let mut files = Vec::new();
    let mut levels = Vec::new();
    let mut level_info = Vec::new();
    for group in groups {
        let compression = group[0].codec_name.clone();
        let samples = group[0].samples.clone();
        let planar = matches!(group[0].codec, FrameCodec::Native { planar: true });
        let (image, layout) = build_image(group, &mut files)?;
        level_info.push(LevelInfo {
            width_px: u64::from(image.size_px.0),
            height_px: u64::from(image.size_px.1),
            downsample: w0 / f64::from(image.size_px.0),
            tile_size_px: Some(image.frame_px),
            compression,
            samples,
            planar_configuration: if planar { "separate planes" } else { "chunky" }.to_string(),
            frames: Some(layout),
        });
        levels.push(image);
    }
    let mut associated = Vec::new();
    let mut associated_info = Vec::new();
    for (kind, inst) in associated_instances {
        let compression = inst.codec_name.clone();
        let (image, _) = build_image(vec![inst], &mut files)?;
        associated_info.push(AssociatedImage {
            kind,
            width_px: u64::from(image.size_px.0),
            height_px: u64::from(image.size_px.1),
            compression,
        });
        associated.push((kind, image));
    }
    let mpp = match mpp_um {
        None => MppState::Missing,
        Some(um) => match Mpp::new(um) {
            Ok(m) => MppState::Known(m, MppSource::DicomPixelSpacing),
            Err(_) => MppState::Implausible(um, MppSource::DicomPixelSpacing),
        },
    };
    Ok(Slide {
        path: path.to_path_buf(),
        format: super::SlideFormat::Dicom,
        levels: level_info,
        associated: associated_info,
        mpp,
        objective_mag,
        warnings,
        limits,
        backend: super::Backend::Dicom(Box::new(DicomBackend {
            files,
            levels,
            associated,
            cache: ChunkCache::new(limits.tile_cache_bytes),
            limits,
        })),
    })
}

impl DicomBackend {
    /// Reads a rectangle of level `level` (checked by the caller).
    pub(crate) fn read_region(
        &self,
        level: usize,
        origin: (i64, i64),
        size: (u32, u32),
    ) -> Result<image::RgbImage> {
        let key = u32::try_from(level).unwrap_or(u32::MAX);
        self.read_image(&self.levels[level], Some(key), origin, size)
    }

    /// Decodes an associated image whole.
    pub(crate) fn read_associated(
        &self,
        kind: AssociatedKind,
        slide: &Path,
    ) -> Result<image::RgbImage> {
        let Some((_, image)) = self.associated.iter().find(|(k, _)| *k == kind) else {
            return Err(Error::invalid_option(
                "associated image",
                format!("{} has no {kind:?} image", slide.display()),
            ));
        };
        let (w, h) = image.size_px;
        let bytes = u64::from(w) * u64::from(h) * 3;
        if bytes > self.limits.max_chunk_bytes {
            let path = self
                .files
                .first()
                .map_or(Path::new(""), |(p, _)| p.as_path());
            return Err(unsupported(
                path,
                format!(
                    "associated image of {w}x{h} px is larger than the limit of {} bytes",
                    self.limits.max_chunk_bytes
                ),
            ));
        }
        self.read_image(image, None, (0, 0), (w, h))
    }

    fn read_image(
        &self,
        image: &Image,
        key: Option<u32>,
        (x, y): (i64, i64),
        (width, height): (u32, u32),
    ) -> Result<image::RgbImage> {
        let mut out = image::RgbImage::from_pixel(width, height, image::Rgb([255, 255, 255]));
        let (lw, lh) = (i64::from(image.size_px.0), i64::from(image.size_px.1));
        let (x0, y0) = (x.max(0), y.max(0));
        let x1 = x.saturating_add(i64::from(width)).min(lw);
        let y1 = y.saturating_add(i64::from(height)).min(lh);
        if x0 >= x1 || y0 >= y1 {
            return Ok(out);
        }
        let (fw, fh) = (i64::from(image.frame_px.0), i64::from(image.frame_px.1));
        let across = (lw as u64).div_ceil(fw as u64);
        for cy in (y0 / fh)..=((y1 - 1) / fh) {
            for cx in (x0 / fw)..=((x1 - 1) / fw) {
                let cell = cy as u64 * across + cx as u64;
                let Some(frame) = image.frames.get(&cell) else {
                    continue; // no frame here (TILED_SPARSE): white
                };
                let chunk = match key.and_then(|k| self.cache.get((k, cell))) {
                    Some(c) => c,
                    None => {
                        let c = Arc::new(self.decode(image, frame)?);
                        if let Some(k) = key {
                            self.cache.insert((k, cell), Arc::clone(&c));
                        }
                        c
                    }
                };
                super::blit(&chunk, (cx * fw, cy * fh), image.size_px, &mut out, (x, y));
            }
        }
        Ok(out)
    }

    /// Reads a frame's bytes and decodes it.
    fn decode(&self, image: &Image, frame: &FrameRef) -> Result<Chunk> {
        let (path, file) = &self.files[frame.file as usize];
        let total: u64 = frame.pieces.iter().map(|p| p.1).sum();
        if total > self.limits.max_compressed_chunk_bytes {
            return Err(malformed(
                path,
                format!(
                    "frame {} claims {total} bytes, more than the limit of {}",
                    frame.number, self.limits.max_compressed_chunk_bytes
                ),
            ));
        }
        let mut data = vec![0u8; total as usize];
        let mut at = 0usize;
        for &(offset, len) in frame.pieces.iter() {
            read_exact_at(file, &mut data[at..at + len as usize], offset)
                .map_err(|e| Error::io(path, e))?;
            at += len as usize;
        }
        pixels::decode_frame(&data, image.codec, image.colour, image.frame_px).map_err(|reason| {
            let offset = frame.pieces.first().map_or(0, |p| p.0);
            malformed(
                path,
                format!(
                    "frame {} (offset {offset}, {total} bytes): {reason}",
                    frame.number
                ),
            )
        })
    }
}
