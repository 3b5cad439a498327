//! The TIFF/BigTIFF/SVS backend: finds levels and associated images among the IFDs and
//! reads chunks through the cache.

use std::collections::HashSet;
use std::sync::Arc;

use super::cache::ChunkCache;
use super::codec::{decode_chunk, Chunk};
use super::dir::{ImageDir, Photometric};
use super::ifd::{tag, TiffFile, MAX_IFDS};
use super::metadata;
use super::{AssociatedKind, Limits, MppSource};
use crate::error::{Error, Result};

/// A readable image: the directory and its checked photometric interpretation.
#[derive(Debug)]
pub(crate) struct Readable {
    pub dir: ImageDir,
    pub photometric: Photometric,
}

/// What the TIFF holds, as found at open time.
#[derive(Debug)]
pub(crate) struct TiffContents {
    /// Levels, full resolution first (already checked decodable).
    pub levels: Vec<Readable>,
    /// Associated images (not checked: read on request).
    pub associated: Vec<(AssociatedKind, ImageDir)>,
    /// Aperio file.
    pub is_svs: bool,
    /// Pixel size in µm as stated, and where from.
    pub mpp_um: Option<(f64, MppSource)>,
    /// Objective magnification.
    pub objective_mag: Option<f64>,
    /// What the directories' parse tolerated (duplicate or unsorted tags).
    pub warnings: Vec<String>,
}

/// Walks the IFD chain (and SubIFDs) and sorts directories into levels and associated
/// images.
pub(crate) fn scan(tf: &TiffFile, first_ifd: u64, limits: &Limits) -> Result<TiffContents> {
    // (directory, position in the main chain or None for a SubIFD)
    let mut dirs: Vec<(ImageDir, Option<usize>)> = Vec::new();
    let mut seen = HashSet::new();
    let mut next = first_ifd;
    let mut main_index = 0usize;
    let mut pending_sub: Vec<u64> = Vec::new();
    while next != 0 {
        if !seen.insert(next) {
            return Err(tf.malformed(format!("the directory chain loops back to offset {next}")));
        }
        if seen.len() > MAX_IFDS {
            return Err(tf.malformed(format!("more than {MAX_IFDS} directories")));
        }
        let (ifd, after) = tf.read_ifd(next)?;
        if let Some(subs) = tf.uints(&ifd, tag::SUB_IFDS)? {
            pending_sub.extend(subs);
        }
        dirs.push((ImageDir::parse(tf, &ifd, limits)?, Some(main_index)));
        main_index += 1;
        next = after;
    }
    // SubIFDs (their chains and their own SubIFDs) hold reduced-resolution levels in
    // e.g. OME-TIFF. A directory reached twice is read once.
    while let Some(off) = pending_sub.pop() {
        if off == 0 || !seen.insert(off) {
            continue;
        }
        if seen.len() > MAX_IFDS {
            return Err(tf.malformed(format!("more than {MAX_IFDS} directories")));
        }
        let (ifd, after) = tf.read_ifd(off)?;
        if let Some(subs) = tf.uints(&ifd, tag::SUB_IFDS)? {
            pending_sub.extend(subs);
        }
        pending_sub.push(after);
        dirs.push((ImageDir::parse(tf, &ifd, limits)?, None));
    }
    let Some((first, _)) = dirs.first() else {
        return Err(tf.malformed("the file holds no image directory"));
    };
    // Aperio and OME metadata live in the first directory's description.
    let first_description = first.description.clone();
    let is_svs = metadata::is_aperio(first_description.as_deref());
    let warnings: Vec<String> = dirs
        .iter()
        .flat_map(|(d, _)| d.warnings.iter().cloned())
        .collect();

    let mut candidates: Vec<ImageDir> = Vec::new();
    let mut associated = Vec::new();
    for (dir, main_pos) in dirs {
        match associated_kind(&dir, main_pos, is_svs) {
            Some(kind) => associated.push((kind, dir)),
            // Transparency masks (NewSubfileType bit 2) are neither.
            None if dir.subfile_type & 4 != 0 => {}
            None => candidates.push(dir),
        }
    }
    // Level 0 is the largest image (normally the first directory); the other levels are
    // the images whose size is a consistent reduction of it. Largest first, one per width.
    candidates.sort_by_key(|d| std::cmp::Reverse(u64::from(d.width) * u64::from(d.height)));
    let Some(base) = candidates.first() else {
        return Err(tf.malformed("the file holds no image other than label or macro"));
    };
    let (w0, h0) = (f64::from(base.width), f64::from(base.height));
    let (base_x_res, base_res_unit) = (base.x_resolution, base.resolution_unit);
    let mut level_dirs: Vec<ImageDir> = candidates
        .into_iter()
        .filter(|dir| {
            let ds = w0 / f64::from(dir.width);
            ds >= 1.0 && (f64::from(dir.height) * ds - h0).abs() <= 2.0 * ds + 1.0
        })
        .collect();
    level_dirs.sort_by_key(|d| std::cmp::Reverse(d.width));
    level_dirs.dedup_by_key(|d| d.width);
    let levels = level_dirs
        .into_iter()
        .map(|dir| {
            let photometric = dir.check_decodable(&tf.path, limits)?;
            Ok(Readable { dir, photometric })
        })
        .collect::<Result<Vec<_>>>()?;

    let (mpp_um, objective_mag) = match first_description.as_deref() {
        Some(d) if is_svs => (
            metadata::aperio_field(d, "MPP").map(|m| (m, MppSource::AperioDescription)),
            metadata::aperio_field(d, "AppMag"),
        ),
        Some(d) if d.contains("<OME") => (
            metadata::ome_mpp_um(d).map(|m| (m, MppSource::OmeXml)),
            metadata::ome_objective_mag(d),
        ),
        _ => (None, None),
    };
    let mpp_um = mpp_um.or_else(|| {
        metadata::resolution_mpp_um(base_x_res, base_res_unit)
            .map(|m| (m, MppSource::TiffResolution))
    });
    Ok(TiffContents {
        levels,
        associated,
        is_svs,
        mpp_um,
        objective_mag,
        warnings,
    })
}

/// Whether a directory is a label, macro or thumbnail rather than a level.
///
/// Aperio (as OpenSlide reads it): the second directory, when not tiled, is the
/// thumbnail; NewSubfileType 1 with "label" or 9 with "macro" in the description. Other
/// TIFFs: a description whose first word (or Aperio-style second line) is "label",
/// "macro" or "thumbnail".
fn associated_kind(
    dir: &ImageDir,
    main_pos: Option<usize>,
    is_svs: bool,
) -> Option<AssociatedKind> {
    let desc = dir
        .description
        .as_deref()
        .unwrap_or("")
        .to_ascii_lowercase();
    let names = |word: &str| {
        desc.lines()
            .take(2)
            .any(|l| l.split_whitespace().next() == Some(word))
    };
    if names("label") {
        return Some(AssociatedKind::Label);
    }
    if names("macro") {
        return Some(AssociatedKind::Macro);
    }
    if names("thumbnail") {
        return Some(AssociatedKind::Thumbnail);
    }
    if is_svs {
        match (main_pos, dir.subfile_type, dir.is_tiled()) {
            (Some(1), _, false) => return Some(AssociatedKind::Thumbnail),
            (_, 1, false) => return Some(AssociatedKind::Label),
            (_, 9, _) => return Some(AssociatedKind::Macro),
            _ => {}
        }
    }
    None
}

/// Reads chunk `index` of `image`, through the cache.
pub(crate) fn chunk(
    tf: &TiffFile,
    cache: &ChunkCache,
    key: (u32, u64),
    image: &Readable,
    limits: &Limits,
) -> Result<Arc<Chunk>> {
    if let Some(c) = cache.get(key) {
        return Ok(c);
    }
    let decoded = Arc::new(read_chunk_uncached(tf, image, key.1, limits)?);
    cache.insert(key, Arc::clone(&decoded));
    Ok(decoded)
}

/// Reads and decodes chunk `index` without the cache.
pub(crate) fn read_chunk_uncached(
    tf: &TiffFile,
    image: &Readable,
    index: u64,
    limits: &Limits,
) -> Result<Chunk> {
    let dir = &image.dir;
    let (across, down) = dir.chunks_across_down();
    let rows = dir.valid_rows(index / across.max(1));
    let (cw, ch) = dir.chunk_size();
    // Separate planes: the chunk of plane p at this place is `index + p * per_plane`
    // (TIFF 6.0, PlanarConfiguration 2: all of plane 0's chunks, then plane 1's, ...).
    let per_plane = across * down;
    let mut data = Vec::new();
    for plane in 0..dir.planes() {
        let at = plane * per_plane + index;
        let i = usize::try_from(at).map_err(|_| tf.malformed("chunk index overflows"))?;
        let (Some(&offset), Some(&count)) = (dir.offsets.get(i), dir.byte_counts.get(i)) else {
            return Err(tf.malformed(format!(
                "chunk {at} of directory {} does not exist",
                dir.ifd_offset
            )));
        };
        if offset == 0 && count == 0 {
            // Sparse (GDAL convention): no data, read as white.
            return Ok(Chunk::white(cw, if dir.is_tiled() { ch } else { rows }));
        }
        if count > limits.max_compressed_chunk_bytes {
            return Err(tf.malformed(format!(
                "tile or strip {at} of directory {} claims {count} compressed bytes, more \
                 than the limit of {}",
                dir.ifd_offset, limits.max_compressed_chunk_bytes
            )));
        }
        data.push((
            offset,
            count,
            tf.read_bytes(offset, count, "tile or strip data")?,
        ));
    }
    let slices: Vec<&[u8]> = data.iter().map(|(_, _, d)| d.as_slice()).collect();
    decode_chunk(
        dir,
        image.photometric,
        &slices,
        rows,
        tf.layout.little_endian,
    )
    .map_err(|reason| {
        let (offset, count) = data.first().map_or((0, 0), |(o, c, _)| (*o, *c));
        tf.malformed(format!(
            "tile or strip {index} of directory {} (offset {offset}, {count} bytes): \
                 {reason}",
            dir.ifd_offset
        ))
    })
}

/// Checks an associated image and decodes it whole.
pub(crate) fn read_whole(
    tf: &TiffFile,
    dir: &ImageDir,
    limits: &Limits,
) -> Result<image::RgbImage> {
    let photometric = dir.check_decodable(&tf.path, limits)?;
    let pixels = u64::from(dir.width) * u64::from(dir.height) * 3;
    if pixels > limits.max_chunk_bytes {
        return Err(Error::Unsupported {
            path: tf.path.clone(),
            reason: format!(
                "associated image of {}x{} px is larger than the limit of {} bytes",
                dir.width, dir.height, limits.max_chunk_bytes
            ),
        });
    }
    let image = Readable {
        dir: dir.clone(),
        photometric,
    };
    let mut out = image::RgbImage::from_pixel(dir.width, dir.height, image::Rgb([255, 255, 255]));
    let (across, down) = dir.chunks_across_down();
    let (cw, ch) = dir.chunk_size();
    for cy in 0..down {
        for cx in 0..across {
            let c = read_chunk_uncached(tf, &image, cy * across + cx, limits)?;
            let origin = ((cx * u64::from(cw)) as i64, (cy * u64::from(ch)) as i64);
            super::blit(&c, origin, (dir.width, dir.height), &mut out, (0, 0));
        }
    }
    Ok(out)
}
