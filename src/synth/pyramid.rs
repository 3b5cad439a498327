//! Writing the pyramidal tiled TIFF of a scene with bounded memory.
//!
//! Level 0 is rendered one row of tiles at a time (tiles of a row in parallel on the
//! current rayon pool, written in order). Each finished row is box-averaged 4 x 4 into the
//! next level's row buffer, which emits its own row of tiles when full, and so on down
//! the pyramid; the SVS thumbnail is accumulated alongside. Memory is therefore about
//! one row of level-0 tiles (rendered and encoded) plus one row buffer per level,
//! whatever the slide's height.
//!
//! # File layout
//! [`TiffLayout::Svs`] (default) follows Aperio SVS: directory 0 is level 0 with the
//! Aperio `ImageDescription` (`Aperio Image Library ...|AppMag = 40|MPP = 0.2500|...`),
//! directory 1 a stripped thumbnail (largest side at most 1024 px), directories 2...
//! the reduced levels; every directory has NewSubfileType 0, as in Aperio files, and
//! readers (OpenSlide, tifffile) take the tiled directories as levels.
//! [`TiffLayout::Generic`] is a plain pyramidal TIFF as libvips and tifffile write it:
//! level 0 with NewSubfileType 0, reduced levels with NewSubfileType 1, no thumbnail, and
//! a description without `MPP`, so the pixel size is only in the resolution tags.
//! Both carry XResolution/YResolution in pixels per cm (ResolutionUnit 3) per level.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use rayon::prelude::*;

use super::jpeg::JpegTileEncoder;
use super::scene::SynthScene;
use super::tiff_writer::{tag, Entry, Flavour, TiffWriter, Value, WriteError};
use super::{BigTiff, PyramidLevels, TiffCompression, TiffLayout, TiffOptions};
use crate::error::{Error, Result};

/// Largest side of a level for [`PyramidLevels::Auto`] to stop adding levels, px.
const AUTO_LEVEL_STOP_PX: u64 = 1024;
/// Largest side of the SVS thumbnail, px.
const THUMBNAIL_MAX_PX: u64 = 1024;
/// Uncompressed size above which [`BigTiff::Auto`] writes BigTIFF: 4 GiB - 32 MiB.
const AUTO_BIGTIFF_BYTES: u64 = (1 << 32) - (1 << 25);

/// Progress of [`super::write_slide_with_progress`]: rows of level-0 tiles finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynthProgress {
    /// Rows of level-0 tiles written.
    pub rows_done: u64,
    /// Rows of level-0 tiles in total.
    pub rows_total: u64,
}

/// Width and height of each pyramid level, level 0 first: each level is the previous
/// one divided by 4, rounded up.
pub fn level_dimensions(width_px: u64, height_px: u64, levels: PyramidLevels) -> Vec<(u64, u64)> {
    let mut dims = vec![(width_px, height_px)];
    loop {
        let (w, h) = dims[dims.len() - 1];
        let more = match levels {
            PyramidLevels::Auto => w.max(h) > AUTO_LEVEL_STOP_PX,
            PyramidLevels::Count(n) => dims.len() < n as usize,
        };
        if !more || (w <= 1 && h <= 1) {
            return dims;
        }
        dims.push((w.div_ceil(4), h.div_ceil(4)));
    }
}

/// What was written.
#[derive(Debug, Clone)]
pub(crate) struct Written {
    pub bytes: u64,
    pub bigtiff: bool,
    pub levels_px: Vec<(u64, u64)>,
}

/// An encoded tile, or why encoding failed.
type Encoded = std::result::Result<Vec<u8>, String>;

/// Tile compression with its state.
enum Codec {
    Jpeg(JpegTileEncoder),
    Lzw,
    Deflate,
    None,
}

impl Codec {
    fn new(t: &TiffOptions) -> std::result::Result<Codec, String> {
        Ok(match t.compression {
            TiffCompression::Jpeg => {
                Codec::Jpeg(JpegTileEncoder::new(t.jpeg_quality, t.tile_size_px)?)
            }
            TiffCompression::Lzw => Codec::Lzw,
            TiffCompression::Deflate => Codec::Deflate,
            TiffCompression::None => Codec::None,
        })
    }

    fn encode(&self, rgb: &[u8], width: u32, height: u32) -> std::result::Result<Vec<u8>, String> {
        match self {
            Codec::Jpeg(enc) => enc.encode(rgb, width, height),
            Codec::Lzw => weezl::encode::Encoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8)
                .encode(rgb)
                .map_err(|e| format!("LZW encoding failed: {e}")),
            Codec::Deflate => {
                use std::io::Write;
                let mut z =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
                z.write_all(rgb)
                    .and_then(|()| z.finish())
                    .map_err(|e| format!("Deflate encoding failed: {e}"))
            }
            Codec::None => Ok(rgb.to_vec()),
        }
    }

    /// Tags describing the compression: Compression, Photometric, and for JPEG the
    /// shared tables, YCbCrSubsampling and ReferenceBlackWhite.
    fn entries(&self) -> Vec<Entry> {
        match self {
            Codec::Jpeg(enc) => vec![
                Entry::new(tag::COMPRESSION, Value::Short(vec![7])),
                Entry::new(tag::PHOTOMETRIC, Value::Short(vec![6])),
                Entry::new(tag::JPEG_TABLES, Value::Undefined(enc.tables().to_vec())),
                Entry::new(tag::YCBCR_SUBSAMPLING, Value::Short(vec![2, 2])),
                Entry::new(
                    tag::REFERENCE_BLACK_WHITE,
                    Value::Rational(vec![
                        (0, 1),
                        (255, 1),
                        (128, 1),
                        (255, 1),
                        (128, 1),
                        (255, 1),
                    ]),
                ),
            ],
            Codec::Lzw => vec![
                Entry::new(tag::COMPRESSION, Value::Short(vec![5])),
                Entry::new(tag::PHOTOMETRIC, Value::Short(vec![2])),
            ],
            Codec::Deflate => vec![
                Entry::new(tag::COMPRESSION, Value::Short(vec![8])),
                Entry::new(tag::PHOTOMETRIC, Value::Short(vec![2])),
            ],
            Codec::None => vec![
                Entry::new(tag::COMPRESSION, Value::Short(vec![1])),
                Entry::new(tag::PHOTOMETRIC, Value::Short(vec![2])),
            ],
        }
    }

    /// The compression as Aperio names it in the description, e.g. `JPEG/RGB Q=80`.
    fn aperio_name(&self, quality: u8) -> String {
        match self {
            Codec::Jpeg(_) => format!("JPEG/RGB Q={quality}"),
            Codec::Lzw => "LZW/RGB".into(),
            Codec::Deflate => "Deflate/RGB".into(),
            Codec::None => "Raw/RGB".into(),
        }
    }
}

/// One pyramid level being written.
struct Level {
    width: u64,
    height: u64,
    tiles_x: u64,
    /// Rows of pixels buffered for the next row of tiles, RGB8, `width` wide.
    strip: Vec<u8>,
    strip_rows: u64,
    rows_received: u64,
    offsets: Vec<u64>,
    byte_counts: Vec<u64>,
}

impl Level {
    fn new(width: u64, height: u64, tile: u64, buffered: bool) -> Level {
        let tiles_x = width.div_ceil(tile);
        let tiles_y = height.div_ceil(tile);
        Level {
            width,
            height,
            tiles_x,
            strip: if buffered {
                vec![0; (width * tile * 3) as usize]
            } else {
                Vec::new()
            },
            strip_rows: 0,
            rows_received: 0,
            offsets: Vec::with_capacity((tiles_x * tiles_y) as usize),
            byte_counts: Vec::with_capacity((tiles_x * tiles_y) as usize),
        }
    }
}

/// Sums of a box-downsampled image being accumulated (the thumbnail).
struct Accumulator {
    factor: u64,
    width: u64,
    height: u64,
    src_width: u64,
    src_height: u64,
    sums: Vec<u32>,
}

impl Accumulator {
    fn new(src_width: u64, src_height: u64, max_side: u64) -> Accumulator {
        let factor = src_width.max(src_height).div_ceil(max_side).max(1);
        let (width, height) = (src_width.div_ceil(factor), src_height.div_ceil(factor));
        Accumulator {
            factor,
            width,
            height,
            src_width,
            src_height,
            sums: vec![0; (width * height * 3) as usize],
        }
    }

    /// Adds `rows` rows of the source, starting at source row `y0`.
    fn add(&mut self, rgb: &[u8], y0: u64, rows: u64) {
        for r in 0..rows {
            let ty = (y0 + r) / self.factor;
            let src =
                &rgb[(r * self.src_width * 3) as usize..((r + 1) * self.src_width * 3) as usize];
            let dst_row = (ty * self.width * 3) as usize;
            for x in 0..self.src_width {
                let d = dst_row + ((x / self.factor) * 3) as usize;
                let s = (x * 3) as usize;
                for c in 0..3 {
                    self.sums[d + c] += u32::from(src[s + c]);
                }
            }
        }
    }

    /// The averaged image.
    fn finish(&self) -> Vec<u8> {
        let mut out = vec![0u8; self.sums.len()];
        for ty in 0..self.height {
            let rows = (self.src_height - ty * self.factor).min(self.factor);
            for tx in 0..self.width {
                let cols = (self.src_width - tx * self.factor).min(self.factor);
                let n = (rows * cols) as u32;
                let k = ((ty * self.width + tx) * 3) as usize;
                for c in 0..3 {
                    out[k + c] = ((self.sums[k + c] + n / 2) / n) as u8;
                }
            }
        }
        out
    }
}

/// Everything shared while writing.
struct Ctx<'a> {
    path: &'a Path,
    tile: u64,
    codec: Codec,
    writer: TiffWriter<BufWriter<File>>,
}

impl Ctx<'_> {
    fn write_error(&self, e: WriteError) -> Error {
        match e {
            WriteError::Io(source) => Error::io(self.path, source),
            WriteError::Format(reason) => Error::Output {
                path: self.path.to_path_buf(),
                reason,
            },
        }
    }

    fn encode_error(&self, reason: String) -> Error {
        Error::Output {
            path: self.path.to_path_buf(),
            reason,
        }
    }

    /// Writes encoded tiles in order, recording their offsets in `level`.
    fn write_tiles(
        &mut self,
        level: &mut Level,
        tiles: Vec<std::result::Result<Vec<u8>, String>>,
    ) -> Result<()> {
        for t in tiles {
            let data = t.map_err(|e| self.encode_error(e))?;
            let offset = self
                .writer
                .write_data(&data)
                .map_err(|e| self.write_error(e))?;
            level.offsets.push(offset);
            level.byte_counts.push(data.len() as u64);
        }
        Ok(())
    }
}

/// Copies a `cols` x `rows` region at `x0` of a `width`-wide RGB8 strip into a
/// `tile` x `tile` buffer, padding by repeating the last column and row.
fn cut_tile(strip: &[u8], width: u64, x0: u64, cols: u64, rows: u64, tile: u64) -> Vec<u8> {
    let mut out = vec![0u8; (tile * tile * 3) as usize];
    for ty in 0..tile {
        let sy = ty.min(rows - 1);
        for tx in 0..tile {
            let sx = x0 + tx.min(cols - 1);
            let s = ((sy * width + sx) * 3) as usize;
            let d = ((ty * tile + tx) * 3) as usize;
            out[d..d + 3].copy_from_slice(&strip[s..s + 3]);
        }
    }
    out
}

/// Box-averages a `width` x `rows` RGB8 strip by 4 in both directions (edge blocks
/// average only the pixels that exist).
fn downsample4(strip: &[u8], width: u64, rows: u64) -> Vec<u8> {
    let (ow, oh) = (width.div_ceil(4), rows.div_ceil(4));
    let mut out = vec![0u8; (ow * oh * 3) as usize];
    for oy in 0..oh {
        let y0 = oy * 4;
        let y1 = (y0 + 4).min(rows);
        for ox in 0..ow {
            let x0 = ox * 4;
            let x1 = (x0 + 4).min(width);
            let mut sum = [0u32; 3];
            for y in y0..y1 {
                for x in x0..x1 {
                    let s = ((y * width + x) * 3) as usize;
                    for c in 0..3 {
                        sum[c] += u32::from(strip[s + c]);
                    }
                }
            }
            let n = ((y1 - y0) * (x1 - x0)) as u32;
            let d = ((oy * ow + ox) * 3) as usize;
            for c in 0..3 {
                out[d + c] = ((sum[c] + n / 2) / n) as u8;
            }
        }
    }
    out
}

/// Appends `rows` rows to level `k`; when its buffer holds a full row of tiles (or the
/// level's last rows), encodes and writes them and passes the row on to level `k + 1`.
fn feed(ctx: &mut Ctx<'_>, levels: &mut [Level], k: usize, rgb: &[u8], rows: u64) -> Result<()> {
    let tile = ctx.tile;
    let (head, tail) = levels.split_at_mut(k + 1);
    let level = &mut head[k];
    let row_bytes = (level.width * 3) as usize;
    let start = level.strip_rows as usize * row_bytes;
    level.strip[start..start + rows as usize * row_bytes]
        .copy_from_slice(&rgb[..rows as usize * row_bytes]);
    level.strip_rows += rows;
    level.rows_received += rows;
    if level.strip_rows < tile && level.rows_received < level.height {
        return Ok(());
    }
    let valid_rows = level.strip_rows;
    let (width, strip) = (level.width, &level.strip);
    let codec = &ctx.codec;
    let tiles: Vec<_> = (0..level.tiles_x)
        .into_par_iter()
        .map(|tx| {
            let x0 = tx * tile;
            let cols = (width - x0).min(tile);
            let buf = cut_tile(strip, width, x0, cols, valid_rows, tile);
            codec.encode(&buf, tile as u32, tile as u32)
        })
        .collect();
    ctx.write_tiles(level, tiles)?;
    level.strip_rows = 0;
    if !tail.is_empty() {
        let down = downsample4(
            &level.strip[..valid_rows as usize * row_bytes],
            width,
            valid_rows,
        );
        feed(ctx, &mut levels[..], k + 1, &down, valid_rows.div_ceil(4))?;
    }
    Ok(())
}

/// Writes the scene as a pyramidal tiled TIFF at `path`.
pub(crate) fn write_pyramid(
    scene: &SynthScene,
    path: &Path,
    progress: &(dyn Fn(SynthProgress) + Sync),
) -> Result<Written> {
    let opts = scene.options();
    let t = opts.tiff;
    let tile = u64::from(t.tile_size_px);
    let dims = level_dimensions(opts.width_px, opts.height_px, t.levels);
    let raw_bytes: u64 = dims
        .iter()
        .map(|&(w, h)| w.div_ceil(tile) * h.div_ceil(tile) * tile * tile * 3)
        .sum();
    let flavour = match t.bigtiff {
        BigTiff::Always => Flavour::Big,
        BigTiff::Never => Flavour::Classic,
        BigTiff::Auto if raw_bytes > AUTO_BIGTIFF_BYTES => Flavour::Big,
        BigTiff::Auto => Flavour::Classic,
    };
    let file = File::create(path).map_err(|e| Error::io(path, e))?;
    let writer =
        TiffWriter::new(BufWriter::with_capacity(1 << 20, file), flavour).map_err(|e| match e {
            WriteError::Io(s) => Error::io(path, s),
            WriteError::Format(reason) => Error::Output {
                path: path.to_path_buf(),
                reason,
            },
        })?;
    let codec = Codec::new(&t).map_err(|reason| Error::Output {
        path: path.to_path_buf(),
        reason,
    })?;
    let mut ctx = Ctx {
        path,
        tile,
        codec,
        writer,
    };

    let mut levels: Vec<Level> = dims
        .iter()
        .enumerate()
        .map(|(k, &(w, h))| Level::new(w, h, tile, k > 0))
        .collect();
    let mut thumbnail = (t.layout == TiffLayout::Svs)
        .then(|| Accumulator::new(opts.width_px, opts.height_px, THUMBNAIL_MAX_PX));
    let (w0, h0) = dims[0];
    let rows_total = h0.div_ceil(tile);
    let mut strip0 = if levels.len() > 1 || thumbnail.is_some() {
        vec![0u8; (w0 * tile * 3) as usize]
    } else {
        Vec::new()
    };
    for ty in 0..rows_total {
        let y0 = ty * tile;
        let rows = (h0 - y0).min(tile);
        let codec = &ctx.codec;
        let rendered: Vec<(Vec<u8>, Encoded)> = (0..levels[0].tiles_x)
            .into_par_iter()
            .map(|tx| {
                let x0 = tx * tile;
                let cols = (w0 - x0).min(tile);
                let img = scene
                    .render_region(x0, y0, cols as u32, rows as u32)
                    .into_raw();
                let padded = cut_tile(&img, cols, 0, cols, rows, tile);
                let encoded = codec.encode(&padded, tile as u32, tile as u32);
                (img, encoded)
            })
            .collect();
        let mut encoded = Vec::with_capacity(rendered.len());
        for (tx, (img, enc)) in rendered.into_iter().enumerate() {
            encoded.push(enc);
            if !strip0.is_empty() {
                let x0 = tx as u64 * tile;
                let cols = (w0 - x0).min(tile);
                for r in 0..rows {
                    let d = ((r * w0 + x0) * 3) as usize;
                    let s = (r * cols * 3) as usize;
                    strip0[d..d + (cols * 3) as usize]
                        .copy_from_slice(&img[s..s + (cols * 3) as usize]);
                }
            }
        }
        let (first, _) = levels.split_at_mut(1);
        ctx.write_tiles(&mut first[0], encoded)?;
        if let Some(acc) = thumbnail.as_mut() {
            acc.add(&strip0, y0, rows);
        }
        if levels.len() > 1 {
            let down = downsample4(&strip0[..(rows * w0 * 3) as usize], w0, rows);
            feed(&mut ctx, &mut levels, 1, &down, rows.div_ceil(4))?;
        }
        progress(SynthProgress {
            rows_done: ty + 1,
            rows_total,
        });
    }

    // Directories: level 0, the thumbnail (SVS), the reduced levels.
    let mpp_um = opts.mpp.um_per_px();
    let app_mag = (10.0 / mpp_um).round();
    let aperio_tail = format!("|AppMag = {app_mag}|MPP = {}", format_mpp(mpp_um));
    let version = env!("CARGO_PKG_VERSION");
    for (k, level) in levels.iter().enumerate() {
        let description = match (t.layout, k) {
            (TiffLayout::Svs, 0) => format!(
                "Aperio Image Library mitocount-synth {version}\r\n{w0}x{h0} [0,0 {w0}x{h0}] ({tile}x{tile}) {}{aperio_tail}|Seed = {}|Synthetic = mitocount synth",
                ctx.codec.aperio_name(t.jpeg_quality),
                opts.seed
            ),
            (TiffLayout::Svs, _) => format!(
                "Aperio Image Library mitocount-synth {version}\r\n{w0}x{h0} -> {}x{} - {aperio_tail}",
                level.width, level.height
            ),
            (TiffLayout::Generic, 0) => format!(
                "mitocount synthetic H&E slide {w0}x{h0}, seed {}; pixel size in XResolution/YResolution",
                opts.seed
            ),
            (TiffLayout::Generic, _) => format!("mitocount synthetic H&E slide, reduced level {k}"),
        };
        let subfile = match (t.layout, k) {
            (TiffLayout::Generic, k) if k > 0 => 1,
            _ => 0,
        };
        let mut entries = image_entries(
            &ctx.codec,
            (level.width, level.height),
            mpp_um * w0 as f64 / level.width as f64,
            &description,
            subfile,
        );
        entries.push(Entry::new(tag::TILE_WIDTH, Value::Long(vec![tile as u32])));
        entries.push(Entry::new(tag::TILE_LENGTH, Value::Long(vec![tile as u32])));
        let offsets = Value::offsets(ctx.writer.flavour(), &level.offsets)
            .map_err(|r| ctx.encode_error(r))?;
        let counts = Value::offsets(ctx.writer.flavour(), &level.byte_counts)
            .map_err(|r| ctx.encode_error(r))?;
        entries.push(Entry::new(tag::TILE_OFFSETS, offsets));
        entries.push(Entry::new(tag::TILE_BYTE_COUNTS, counts));
        ctx.writer
            .write_ifd(&entries)
            .map_err(|e| ctx.write_error(e))?;
        if k == 0 {
            if let Some(acc) = thumbnail.take() {
                write_thumbnail(
                    &mut ctx,
                    &acc,
                    mpp_um * w0 as f64 / acc.width as f64,
                    &aperio_tail,
                )?;
            }
        }
    }
    let bytes = ctx.writer.position();
    let bigtiff = ctx.writer.flavour() == Flavour::Big;
    ctx.writer.finish().map_err(|e| {
        Error::io(
            path,
            match e {
                WriteError::Io(s) => s,
                WriteError::Format(r) => std::io::Error::other(r),
            },
        )
    })?;
    Ok(Written {
        bytes,
        bigtiff,
        levels_px: dims,
    })
}

/// The thumbnail directory: one strip, same compression as the tiles.
fn write_thumbnail(
    ctx: &mut Ctx<'_>,
    acc: &Accumulator,
    mpp_um: f64,
    aperio_tail: &str,
) -> Result<()> {
    let rgb = acc.finish();
    let (w, h) = (acc.width, acc.height);
    let data = ctx
        .codec
        .encode(&rgb, w as u32, h as u32)
        .map_err(|e| ctx.encode_error(e))?;
    let offset = ctx
        .writer
        .write_data(&data)
        .map_err(|e| ctx.write_error(e))?;
    let description = format!(
        "Aperio Image Library mitocount-synth {}\r\n{}x{} -> {w}x{h} - {aperio_tail}",
        env!("CARGO_PKG_VERSION"),
        acc.src_width,
        acc.src_height
    );
    let mut entries = image_entries(&ctx.codec, (w, h), mpp_um, &description, 0);
    let flavour = ctx.writer.flavour();
    entries.push(Entry::new(
        273,
        Value::offsets(flavour, &[offset]).map_err(|r| ctx.encode_error(r))?,
    ));
    entries.push(Entry::new(278, Value::Long(vec![h as u32])));
    entries.push(Entry::new(
        279,
        Value::offsets(flavour, &[data.len() as u64]).map_err(|r| ctx.encode_error(r))?,
    ));
    ctx.writer
        .write_ifd(&entries)
        .map_err(|e| ctx.write_error(e))?;
    Ok(())
}

/// Tags every image directory has: size, samples, compression, description, resolution.
fn image_entries(
    codec: &Codec,
    (w, h): (u64, u64),
    mpp_um: f64,
    description: &str,
    subfile: u32,
) -> Vec<Entry> {
    let px_per_cm = resolution_rational(mpp_um);
    let mut entries = vec![
        Entry::new(tag::NEW_SUBFILE_TYPE, Value::Long(vec![subfile])),
        Entry::new(tag::IMAGE_WIDTH, Value::Long(vec![w as u32])),
        Entry::new(tag::IMAGE_LENGTH, Value::Long(vec![h as u32])),
        Entry::new(tag::BITS_PER_SAMPLE, Value::Short(vec![8, 8, 8])),
        Entry::new(
            tag::IMAGE_DESCRIPTION,
            Value::Ascii(description.to_string()),
        ),
        Entry::new(tag::SAMPLES_PER_PIXEL, Value::Short(vec![3])),
        Entry::new(tag::X_RESOLUTION, Value::Rational(vec![px_per_cm])),
        Entry::new(tag::Y_RESOLUTION, Value::Rational(vec![px_per_cm])),
        Entry::new(tag::PLANAR_CONFIG, Value::Short(vec![1])),
        Entry::new(tag::RESOLUTION_UNIT, Value::Short(vec![3])),
        Entry::new(
            tag::SOFTWARE,
            Value::Ascii(format!("mitocount {} synth", env!("CARGO_PKG_VERSION"))),
        ),
    ];
    entries.extend(codec.entries());
    entries
}

/// Pixels per cm for a pixel size in µm, as a rational with the largest power-of-ten
/// denominator (up to 10^6) that keeps the numerator within 32 bits.
fn resolution_rational(mpp_um: f64) -> (u32, u32) {
    let px_per_cm = 10_000.0 / mpp_um;
    let mut den: u32 = 1_000_000;
    while den > 1 && px_per_cm * f64::from(den) > f64::from(u32::MAX) {
        den /= 10;
    }
    (
        (px_per_cm * f64::from(den))
            .round()
            .clamp(1.0, f64::from(u32::MAX)) as u32,
        den,
    )
}

/// MPP as Aperio writes it (4 decimals), with more decimals when 4 would lose precision.
fn format_mpp(mpp_um: f64) -> String {
    let four = format!("{mpp_um:.4}");
    if (four.parse::<f64>().unwrap_or(f64::NAN) - mpp_um).abs() < 1e-9 {
        four
    } else {
        format!("{mpp_um:.8}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_levels_stop_at_1024() {
        assert_eq!(
            level_dimensions(8192, 8192, PyramidLevels::Auto),
            vec![(8192, 8192), (2048, 2048), (512, 512)]
        );
        assert_eq!(
            level_dimensions(4096, 3000, PyramidLevels::Auto),
            vec![(4096, 3000), (1024, 750)]
        );
        assert_eq!(
            level_dimensions(50_000, 50_000, PyramidLevels::Auto).len(),
            4
        );
        assert_eq!(
            level_dimensions(1000, 10, PyramidLevels::Auto),
            vec![(1000, 10)]
        );
        assert_eq!(
            level_dimensions(1001, 7, PyramidLevels::Count(3)),
            vec![(1001, 7), (251, 2), (63, 1)]
        );
        assert_eq!(
            level_dimensions(4, 4, PyramidLevels::Count(5)),
            vec![(4, 4), (1, 1)]
        );
    }

    #[test]
    fn downsample_averages_blocks_and_edges() {
        // 5 x 2 image: columns 0..4 form a full-width block of 4, column 4 an edge block.
        let mut img = Vec::new();
        for y in 0..2u8 {
            for x in 0..5u8 {
                img.extend_from_slice(&[x * 10, y * 100, 7]);
            }
        }
        let d = downsample4(&img, 5, 2);
        assert_eq!(d.len(), 2 * 3);
        assert_eq!(&d[0..3], &[15, 50, 7]);
        assert_eq!(&d[3..6], &[40, 50, 7]);
    }

    #[test]
    fn cut_tile_pads_by_replication() {
        let strip: Vec<u8> = (0..3 * 2 * 3).map(|i| i as u8).collect(); // 3 x 2 px
        let t = cut_tile(&strip, 3, 1, 2, 2, 4);
        // Row 0: pixels x = 1, 2, 2, 2.
        assert_eq!(&t[0..12], &[3, 4, 5, 6, 7, 8, 6, 7, 8, 6, 7, 8]);
        // Rows 2 and 3 repeat row 1.
        assert_eq!(&t[24..36], &t[12..24]);
        assert_eq!(&t[36..48], &t[12..24]);
    }

    #[test]
    fn thumbnail_accumulator_averages() {
        let mut acc = Accumulator::new(6, 3, 2); // factor 3 -> 2 x 1
        let img: Vec<u8> = (0..18).flat_map(|i| [i as u8, 0, 255]).collect();
        acc.add(&img[..6 * 3], 0, 1);
        acc.add(&img[6 * 3..], 1, 2);
        let out = acc.finish();
        // Block 0: x 0..3, rows 0..3 -> values 0,1,2,6,7,8,12,13,14 -> mean 7.
        assert_eq!(&out[0..3], &[7, 0, 255]);
        assert_eq!(&out[3..6], &[10, 0, 255]);
    }

    #[test]
    fn resolution_and_mpp_text() {
        assert_eq!(resolution_rational(0.25), (40_000 * 100_000, 100_000));
        let (n, d) = resolution_rational(0.2468);
        assert!((10_000.0 / (f64::from(n) / f64::from(d)) - 0.2468).abs() < 1e-9);
        assert_eq!(format_mpp(0.25), "0.2500");
        assert_eq!(format_mpp(0.123456), "0.12345600");
    }
}
