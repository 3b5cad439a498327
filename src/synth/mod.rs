//! Synthetic H&E slides with known mitoses and mimics, for tests, benchmarks and demos.
//!
//! [`write_slide`] writes a real tiled, pyramidal TIFF (Aperio-style description with
//! `MPP` and `AppMag`, standard resolution tags, JPEG tiles in YCbCr 4:2:0 with shared
//! JPEG tables, or LZW, Deflate or no compression; classic TIFF or BigTIFF) and its ground
//! truth beside it. [`SynthScene`] renders any rectangle of level 0 on demand and lists the
//! ground truth, for tests that need pixels without a file.
//!
//! # How a slide is drawn
//! Everything is painted as stain concentrations in optical density and converted to RGB
//! with the Beer-Lambert law, `I = I0 · 10^-(c_H·h + c_E·e + background)`, for the stain
//! vectors `h`, `e` of [`SynthScene::stain_vectors`] (Ruifrok & Johnston 2001, Anal Quant
//! Cytol Histol 23:291-299), then blurred (Gaussian, sigma 0.3 µm) and given sensor
//! noise (about 1.6 grey levels). Concentrations below are in OD units along each stain
//! vector. The scene holds:
//! - tissue as a few large irregular pieces with holes, on a white glass background;
//! - pink collagenous stroma (eosin about 0.4) with wavy fibres and clefts, and cellular
//!   tumour regions (epithelioid sheets with cell borders, or spindle-cell fascicles)
//!   with purple-pink cytoplasm (haematoxylin about 0.18, eosin about 0.3);
//! - ordinary nuclei (oval vesicular epithelioid nuclei 9 to 13 µm with fine chromatin,
//!   membrane and a faint nucleolus, haematoxylin about 0.28 to 0.42; cigar-shaped spindle
//!   nuclei 12 to 20 µm long; thin fibroblast nuclei 14 to 22 µm long and 1.2 to 2 µm
//!   wide), never listed in the ground truth;
//! - mitotic figures (haematoxylin 1.05 to 1.5 with clumped texture, no membrane,
//!   knobby outline with fine projections, in a rounded paler cell): compact clumps (late
//!   prophase / prometaphase), metaphase plates 7 to 12 µm long, anaphase plate pairs 6
//!   to 10 µm apart, telophase daughter pairs 8 to 12 µm apart in two daughter cells, and
//!   atypical tripolar figures;
//! - mimics: lymphocytes (round, 5 to 7 µm, haematoxylin 0.4 to 0.52 with fine chromatin,
//!   smooth, a thin rim of basophilic cytoplasm, partly gathered in clusters), pyknotic
//!   nuclei (smooth, homogeneous, 0.9 to 1.2, 2.8 to 4.8 µm, in a wide rim of bright
//!   eosinophilic cytoplasm inside a patchy clear halo) and hyperchromatic non-dividing
//!   nuclei (12 to 17 µm, 0.65 to 0.9 with coarse chromatin, smooth outline, membrane).
//!
//! The ordinary nuclei, lymphocytes and pyknotic cells are drawn so that the embedded
//! classifier, trained on real crops only, reads them as real tissue: their darkness,
//! chromatin grain and size were set against real benign tiles and tumour crops of
//! `../shared/data` (measured in the classifier's own patches: real lymphocytes have a
//! mean haematoxylin OD of about 0.4 to 0.5 within 2.5 µm of their centre, real mitoses
//! about 0.8), not by training the classifier on drawings. Coarse chromatin clumps of
//! 1.5 µm or more are what the classifier takes for condensed chromosomes, so only
//! mitotic figures and hyperchromatic nuclei carry them.
//!
//! Mitoses and the tumour-cell mimics are placed in cellular tissue at least 16 µm (6 µm
//! for mimics) from its edges, with densities corrected so that the mean number per mm²
//! of tissue is the one asked for; objects never overlap (a placement that would overlap
//! is dropped, so realised densities run a few per cent low: over eight 40,000 px slides
//! at the defaults, 3.85 mitoses, 139 lymphocytes, 11.6 pyknotic and 19.8 hyperchromatic
//! nuclei per mm²). The ground-truth files list what was actually placed.
//!
//! Sizes are in µm and converted to pixels with the slide's [`Mpp`], so the same seed at
//! another pixel size draws the same tissue at another resolution.
//!
//! # Determinism
//! The scene is a pure function of the options: the same options give byte-identical
//! files, whatever the thread count, and every pixel is a function of its global position,
//! so tiles are seamless. Different seeds give different slides.
//!
//! # Coordinates
//! Level-0 pixels, x to the right, y down; pixel `(i, j)` covers `[i, i + 1) x [j, j + 1)`,
//! so its centre is `(i + 0.5, j + 0.5)`. Truth points use the same continuous coordinates.

mod fields;
mod jpeg;
mod noise;
mod objects;
mod pyramid;
mod scene;
mod tiff_writer;
mod truth;

use std::path::{Path, PathBuf};

pub use pyramid::{level_dimensions, SynthProgress};
pub use scene::{RectPx, SynthScene};
pub use truth::{truth_paths, TruthPaths};

use crate::error::{Error, Result};
use crate::units::Mpp;

/// Largest slide side accepted, px: bounds the memory of one row of tiles (about 300 MB
/// of RGB at this width).
pub const MAX_SIDE_PX: u64 = 400_000;

/// Largest size of one row of level-0 tiles in bytes (RGB8, 512 MiB): the writer holds
/// about three such rows at once, so memory stays well under 2 GiB.
pub const MAX_TILE_ROW_BYTES: u64 = 512 << 20;

/// Largest density of any object kind accepted, per mm² of tissue.
pub const MAX_DENSITY_PER_MM2: f64 = 20_000.0;

/// Largest stain perturbation accepted, degrees: beyond it haematoxylin and eosin could
/// swap roles or leave the positive octant.
pub const MAX_STAIN_PERTURB_DEG: f64 = 30.0;

/// What a ground-truth object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    /// A mitotic figure: counts.
    MitoticFigure,
    /// A lymphocyte: small, round, dark; must not be counted.
    Lymphocyte,
    /// A pyknotic or apoptotic nucleus with an eosinophilic halo; must not be counted.
    Pyknotic,
    /// A large hyperchromatic non-dividing nucleus; must not be counted.
    Hyperchromatic,
}

impl ObjectKind {
    /// All kinds, in output order.
    pub const ALL: [ObjectKind; 4] = [
        ObjectKind::MitoticFigure,
        ObjectKind::Lymphocyte,
        ObjectKind::Pyknotic,
        ObjectKind::Hyperchromatic,
    ];

    /// The snake_case name used in the CSV and JSON files, e.g. `mitotic_figure`.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::MitoticFigure => "mitotic_figure",
            ObjectKind::Lymphocyte => "lymphocyte",
            ObjectKind::Pyknotic => "pyknotic",
            ObjectKind::Hyperchromatic => "hyperchromatic",
        }
    }
}

/// The phase of a mitotic figure as drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MitoticPhase {
    /// Late prophase / prometaphase: a compact, irregular, hairy clump 5 to 8 µm across.
    Prophase,
    /// Metaphase: an elongated plate 7 to 12 µm long and 2 to 3 µm thick, seen edge-on.
    Metaphase,
    /// Anaphase: two parallel plates 6 to 10 µm apart (one figure; the truth point is the
    /// pair's centre).
    Anaphase,
    /// Telophase: two compact masses 8 to 12 µm apart in two daughter cells (one figure;
    /// the truth point is the pair's centre).
    Telophase,
    /// Atypical (multipolar): three ragged clumps around the centre.
    Atypical,
}

impl MitoticPhase {
    /// The snake_case name used in the output files, e.g. `metaphase`.
    pub fn as_str(self) -> &'static str {
        match self {
            MitoticPhase::Prophase => "prophase",
            MitoticPhase::Metaphase => "metaphase",
            MitoticPhase::Anaphase => "anaphase",
            MitoticPhase::Telophase => "telophase",
            MitoticPhase::Atypical => "atypical",
        }
    }
}

/// One ground-truth object: its centre in level-0 pixels and what it is.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct TruthObject {
    /// Centre x, level-0 px (continuous; pixel `i` spans `[i, i + 1)`).
    pub x_px: f64,
    /// Centre y, level-0 px.
    pub y_px: f64,
    /// What it is.
    pub kind: ObjectKind,
    /// The phase, for mitotic figures only.
    pub phase: Option<MitoticPhase>,
}

/// A region of higher mitotic density at a known place.
///
/// Inside the rectangle, mitoses are placed at `mitoses_per_mm2` instead of the slide's
/// density, and the tissue is kept solid (no holes or background within it and 60 µm
/// around it), so a hot-spot search that requires >= 95 % tissue can find it.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PlantedHotspot {
    /// Centre x, µm from the slide's left edge.
    pub centre_x_um: f64,
    /// Centre y, µm from the slide's top edge.
    pub centre_y_um: f64,
    /// Width, µm.
    pub width_um: f64,
    /// Height, µm.
    pub height_um: f64,
    /// Mitotic density inside, per mm².
    pub mitoses_per_mm2: f64,
}

impl PlantedHotspot {
    /// Width of a 10-HPF rectangle (4:3, 2.37 mm²), µm: 1777.6.
    pub const TEN_HPF_WIDTH_UM: f64 = 1777.6;
    /// Height of a 10-HPF rectangle (4:3, 2.37 mm²), µm: 1333.2.
    pub const TEN_HPF_HEIGHT_UM: f64 = 1333.2;
}

/// Haematoxylin OD vector (RGB) of [`SynthStains::Default`]: the reference H&E matrix of
/// the widely used Macenko normaliser implementations (torchstain, StainTools), typical
/// of real scans.
pub const REFERENCE_HAEMATOXYLIN: [f64; 3] = [0.5626, 0.7201, 0.4062];
/// Eosin OD vector (RGB) of [`SynthStains::Default`]; see [`REFERENCE_HAEMATOXYLIN`].
pub const REFERENCE_EOSIN: [f64; 3] = [0.2159, 0.8012, 0.5581];

/// Which stain vectors paint the slide.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum SynthStains {
    /// Realistic vectors: [`REFERENCE_HAEMATOXYLIN`] and [`REFERENCE_EOSIN`] (normalised,
    /// residual their cross product), giving the colours of typical scans (tissue median
    /// about RGB (170, 100, 145)). Deconvolving with the Ruifrok-Johnston defaults leaves
    /// some cross-talk, as on real slides.
    Default,
    /// Exactly the Ruifrok-Johnston vectors of [`crate::stain::StainVectors::default_hed`]
    /// (as scikit-image `rgb2hed`): the default deconvolution is then exact. Colours are
    /// more magenta than typical scans.
    RuifrokJohnston,
    /// Each of the [`SynthStains::Default`] haematoxylin and eosin vectors rotated by an
    /// angle between `max_angle_deg / 2` and `max_angle_deg` about a random axis, drawn
    /// from the seed: the colours of another lab or scanner. Range 0 to 30 degrees.
    Perturbed {
        /// Largest rotation, degrees.
        max_angle_deg: f64,
    },
}

/// Compression of the TIFF tiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TiffCompression {
    /// JPEG (TIFF compression 7), YCbCr 4:2:0, quantisation and Huffman tables shared in
    /// the JPEGTables tag as Aperio scanners write them.
    Jpeg,
    /// LZW (compression 5), RGB, lossless.
    Lzw,
    /// Deflate / zlib (compression 8), RGB, lossless.
    Deflate,
    /// Uncompressed (compression 1), RGB.
    None,
}

/// Whether to write classic TIFF (32-bit offsets, files up to 4 GiB) or BigTIFF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BigTiff {
    /// BigTIFF when the uncompressed pixels of all levels exceed 4 GiB minus 32 MiB
    /// (as tifffile decides), classic TIFF otherwise.
    Auto,
    /// Always BigTIFF.
    Always,
    /// Always classic TIFF; writing fails if the file would exceed 4 GiB.
    Never,
}

/// How many pyramid levels to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PyramidLevels {
    /// Downsample by 4 per level until the largest side is at most 1024 px.
    Auto,
    /// Exactly this many levels (1 = level 0 only), each 4 times smaller; at most 12.
    Count(u32),
}

/// How the directories of the TIFF are laid out (see the `pyramid` module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TiffLayout {
    /// Aperio SVS: level 0 with the Aperio description (`AppMag`, `MPP`), a stripped
    /// thumbnail as directory 1, then the reduced levels; NewSubfileType 0 everywhere.
    Svs,
    /// Generic pyramidal TIFF (as libvips writes): level 0, then reduced levels with
    /// NewSubfileType 1; no thumbnail; the pixel size only in XResolution/YResolution.
    Generic,
}

/// File options of the written TIFF.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TiffOptions {
    /// Tile width and height, px: a multiple of 16 from 16 to 4096. Default 256.
    pub tile_size_px: u32,
    /// Tile compression. Default JPEG.
    pub compression: TiffCompression,
    /// JPEG quality 1 to 100 (libjpeg scale). Default 80.
    pub jpeg_quality: u8,
    /// Classic TIFF or BigTIFF. Default [`BigTiff::Auto`].
    pub bigtiff: BigTiff,
    /// Pyramid levels. Default [`PyramidLevels::Auto`].
    pub levels: PyramidLevels,
    /// Directory layout. Default [`TiffLayout::Svs`].
    pub layout: TiffLayout,
}

impl Default for TiffOptions {
    /// 256 px JPEG tiles at quality 80, automatic BigTIFF and levels, SVS layout.
    fn default() -> Self {
        TiffOptions {
            tile_size_px: 256,
            compression: TiffCompression::Jpeg,
            jpeg_quality: 80,
            bigtiff: BigTiff::Auto,
            levels: PyramidLevels::Auto,
            layout: TiffLayout::Svs,
        }
    }
}

/// Everything that defines a synthetic slide.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SynthOptions {
    /// Level-0 width, px (1 to [`MAX_SIDE_PX`]). Default 8192.
    pub width_px: u64,
    /// Level-0 height, px (1 to [`MAX_SIDE_PX`]). Default 8192.
    pub height_px: u64,
    /// Level-0 pixel size, µm per pixel (0.05 to 5). Default 0.25 (a 40x scan).
    pub mpp: Mpp,
    /// Seed of every random choice. Default 1.
    pub seed: u64,
    /// Mean density of mitotic figures in tissue outside the hot spot, per mm². Default
    /// 4 (about 9.5 per 10 HPF of 0.237 mm²).
    pub mitoses_per_mm2: f64,
    /// Mean density of lymphocytes in tissue, per mm². Default 150.
    pub lymphocytes_per_mm2: f64,
    /// Mean density of pyknotic nuclei in tissue, per mm². Default 12.
    pub pyknotic_per_mm2: f64,
    /// Mean density of hyperchromatic non-dividing nuclei in tissue, per mm². Default 20.
    pub hyperchromatic_per_mm2: f64,
    /// An optional region of higher mitotic density. Default none.
    pub hotspot: Option<PlantedHotspot>,
    /// Stain vectors. Default [`SynthStains::Default`].
    pub stains: SynthStains,
    /// File options. Default [`TiffOptions::default`].
    pub tiff: TiffOptions,
}

impl Default for SynthOptions {
    /// An 8192 x 8192 px slide at 0.25 µm/px (2.05 x 2.05 mm), seed 1, 4 mitoses per mm²,
    /// 150 lymphocytes, 12 pyknotic and 20 hyperchromatic nuclei per mm², no hot spot,
    /// default stains, 256 px JPEG tiles at quality 80, automatic levels and BigTIFF.
    fn default() -> Self {
        SynthOptions {
            width_px: 8192,
            height_px: 8192,
            // 0.25 lies in the plausible range, so this cannot fail.
            mpp: Mpp::new(0.25).unwrap_or_else(|_| unreachable!("0.25 µm/px is plausible")),
            seed: 1,
            mitoses_per_mm2: 4.0,
            lymphocytes_per_mm2: 150.0,
            pyknotic_per_mm2: 12.0,
            hyperchromatic_per_mm2: 20.0,
            hotspot: None,
            stains: SynthStains::Default,
            tiff: TiffOptions::default(),
        }
    }
}

impl SynthOptions {
    /// Checks every option; errors name the `mitocount synth` flag concerned.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] for: a side of 0 or above [`MAX_SIDE_PX`]; a pixel size
    /// outside 0.05 to 5 µm/px; a negative, non-finite or excessive density; a hot spot
    /// that is empty or not inside the slide; a stain perturbation outside 0 to 30
    /// degrees; a tile size that is not a multiple of 16 in 16 to 4096, or whose row of
    /// tiles exceeds [`MAX_TILE_ROW_BYTES`]; a JPEG quality
    /// outside 1 to 100; a level count outside 1 to 12.
    pub fn validate(&self) -> Result<()> {
        for (flag, side) in [("--width", self.width_px), ("--height", self.height_px)] {
            if side == 0 || side > MAX_SIDE_PX {
                return Err(Error::invalid_option(
                    flag,
                    format!("{side} px is outside 1 to {MAX_SIDE_PX} px"),
                ));
            }
        }
        Mpp::new(self.mpp.um_per_px())?;
        for (flag, d) in [
            ("--mitoses-per-mm2", self.mitoses_per_mm2),
            ("--lymphocytes-per-mm2", self.lymphocytes_per_mm2),
            ("--pyknotic-per-mm2", self.pyknotic_per_mm2),
            ("--hyperchromatic-per-mm2", self.hyperchromatic_per_mm2),
        ] {
            check_density(flag, d)?;
        }
        if let Some(h) = &self.hotspot {
            self.check_hotspot(h)?;
        }
        if let SynthStains::Perturbed { max_angle_deg } = self.stains {
            if !(0.0..=MAX_STAIN_PERTURB_DEG).contains(&max_angle_deg) {
                return Err(Error::invalid_option(
                    "--stain-perturb-deg",
                    format!("{max_angle_deg} is outside 0 to {MAX_STAIN_PERTURB_DEG} degrees"),
                ));
            }
        }
        let t = &self.tiff;
        if !t.tile_size_px.is_multiple_of(16) || !(16..=4096).contains(&t.tile_size_px) {
            return Err(Error::invalid_option(
                "--tile-size",
                format!(
                    "{} px: TIFF tiles must be a multiple of 16 px, from 16 to 4096",
                    t.tile_size_px
                ),
            ));
        }
        let row_bytes = self.width_px * u64::from(t.tile_size_px) * 3;
        if row_bytes > MAX_TILE_ROW_BYTES {
            return Err(Error::invalid_option(
                "--tile-size",
                format!(
                    "one row of {} px tiles across {} px holds {} MB of pixels, above the {} MB \
                     the writer keeps in memory; use smaller tiles",
                    t.tile_size_px,
                    self.width_px,
                    row_bytes / 1_000_000,
                    MAX_TILE_ROW_BYTES / 1_000_000
                ),
            ));
        }
        if !(1..=100).contains(&t.jpeg_quality) {
            return Err(Error::invalid_option(
                "--quality",
                format!("{} is outside 1 to 100", t.jpeg_quality),
            ));
        }
        if let PyramidLevels::Count(n) = t.levels {
            if !(1..=12).contains(&n) {
                return Err(Error::invalid_option(
                    "--levels",
                    format!("{n} levels: give 1 to 12, or auto"),
                ));
            }
        }
        scene::check_object_budget(self)
    }

    fn check_hotspot(&self, h: &PlantedHotspot) -> Result<()> {
        check_density("--hotspot-mitoses-per-mm2", h.mitoses_per_mm2)?;
        let width_um = self.mpp.px_to_um(self.width_px as f64);
        let height_um = self.mpp.px_to_um(self.height_px as f64);
        for (flag, v) in [
            ("--hotspot-width-um", h.width_um),
            ("--hotspot-height-um", h.height_um),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::invalid_option(
                    flag,
                    format!("{v} µm must be positive"),
                ));
            }
        }
        let fits_x =
            h.centre_x_um - h.width_um / 2.0 >= 0.0 && h.centre_x_um + h.width_um / 2.0 <= width_um;
        let fits_y = h.centre_y_um - h.height_um / 2.0 >= 0.0
            && h.centre_y_um + h.height_um / 2.0 <= height_um;
        if !(fits_x && fits_y) {
            return Err(Error::invalid_option(
                "--hotspot-centre-x-um",
                format!(
                    "the hot spot {:.0} x {:.0} µm centred at ({:.0}, {:.0}) µm does not fit \
                     inside the {width_um:.0} x {height_um:.0} µm slide; move it with \
                     --hotspot-centre-x-um/--hotspot-centre-y-um, shrink it with \
                     --hotspot-width-um/--hotspot-height-um, or enlarge the slide",
                    h.width_um, h.height_um, h.centre_x_um, h.centre_y_um
                ),
            ));
        }
        Ok(())
    }
}

fn check_density(flag: &str, d: f64) -> Result<()> {
    if !(d.is_finite() && (0.0..=MAX_DENSITY_PER_MM2).contains(&d)) {
        return Err(Error::invalid_option(
            flag,
            format!("{d} per mm² is outside 0 to {MAX_DENSITY_PER_MM2}"),
        ));
    }
    Ok(())
}

/// Counts of ground-truth objects per kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct KindCounts {
    /// Mitotic figures.
    pub mitotic_figure: usize,
    /// Lymphocytes.
    pub lymphocyte: usize,
    /// Pyknotic nuclei.
    pub pyknotic: usize,
    /// Hyperchromatic nuclei.
    pub hyperchromatic: usize,
}

impl KindCounts {
    /// Counts the objects in `truth`.
    pub fn of(truth: &[TruthObject]) -> KindCounts {
        let mut c = KindCounts::default();
        for t in truth {
            match t.kind {
                ObjectKind::MitoticFigure => c.mitotic_figure += 1,
                ObjectKind::Lymphocyte => c.lymphocyte += 1,
                ObjectKind::Pyknotic => c.pyknotic += 1,
                ObjectKind::Hyperchromatic => c.hyperchromatic += 1,
            }
        }
        c
    }
}

/// What [`write_slide`] wrote.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SynthSummary {
    /// The TIFF file.
    pub tiff_path: PathBuf,
    /// Its size in bytes.
    pub tiff_bytes: u64,
    /// BigTIFF or classic, as written.
    pub bigtiff: bool,
    /// Width and height of each level, px, level 0 first.
    pub levels_px: Vec<(u64, u64)>,
    /// The ground-truth files.
    pub truth: TruthPaths,
    /// Ground-truth objects per kind.
    pub counts: KindCounts,
    /// Tissue area, mm².
    pub tissue_area_mm2: f64,
    /// Mitoses inside the planted hot spot, if one was planted.
    pub mitoses_in_hotspot: Option<usize>,
}

/// Writes the synthetic slide `opts` to `out_tiff` and its ground truth beside it:
/// `<stem>.truth.csv`, `<stem>.truth.json` (MIDOG-style points in mm) and
/// `<stem>.synth.json` (options, stain vectors, hot spot, counts); see [`truth_paths`].
///
/// Tiles are rendered and encoded one row of tiles at a time, in parallel across the
/// row on the current rayon pool; lower pyramid levels are built from each finished row,
/// so memory stays near two rows of tiles of level 0 (about 40 MB for a 50,000 px wide
/// slide with 256 px tiles) plus the ground truth. The bytes written do not depend on the
/// number of threads.
///
/// # Errors
/// [`Error::InvalidOption`] for invalid options; [`Error::Io`] naming the file when it
/// cannot be created or written; [`Error::Output`] when a tile cannot be encoded or a
/// classic TIFF would exceed 4 GiB.
pub fn write_slide(opts: &SynthOptions, out_tiff: &Path) -> Result<SynthSummary> {
    write_slide_with_progress(opts, out_tiff, &|_| {})
}

/// [`write_slide`], calling `progress` after each row of level-0 tiles.
///
/// # Errors
/// As [`write_slide`].
pub fn write_slide_with_progress(
    opts: &SynthOptions,
    out_tiff: &Path,
    progress: &(dyn Fn(SynthProgress) + Sync),
) -> Result<SynthSummary> {
    let scene = SynthScene::new(opts)?;
    let written = pyramid::write_pyramid(&scene, out_tiff, progress)?;
    let paths = truth_paths(out_tiff);
    truth::write_truth(&scene, &paths, &written)?;
    Ok(SynthSummary {
        tiff_path: out_tiff.to_path_buf(),
        tiff_bytes: written.bytes,
        bigtiff: written.bigtiff,
        levels_px: written.levels_px.clone(),
        truth: paths,
        counts: KindCounts::of(scene.truth()),
        tissue_area_mm2: scene.tissue_area_mm2(),
        mitoses_in_hotspot: scene.mitoses_in_hotspot(),
    })
}
