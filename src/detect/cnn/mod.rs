//! The learned mitosis classifier: a small convolutional network that looks at the RGB
//! pixels around each candidate and gives the probability that it is a mitotic figure.
//!
//! One room, one door: [`Classifier`] loads a model (the embedded one or `--model FILE`),
//! says which model it is ([`ModelInfo`]), and scores patches; `patch` cuts the patches at
//! the model's fixed pixel size. It uses nothing of the rest of `detect`; the pipeline
//! reads the pixels and hands them over.
//!
//! # Model file
//! A [safetensors](https://github.com/huggingface/safetensors) file written by
//! `training/train.py`: tensors `conv{i}.weight` `[out, in, 3, 3]` and `conv{i}.bias`
//! `[out]` (batch norm folded in), `fc.weight` `[1, C]`, `fc.bias` `[1]`, all F32; string
//! metadata `format = mitocount-cnn`, `format_version = 1`, `name`, `version`,
//! `input_px`, `input_mpp_um`, `input_offset`, `input_scale` (input = `(rgb / 255 -
//! offset) * scale`), `threshold` (the decision threshold chosen on the tune split) and
//! `layers` (JSON: per convolution its stride and whether 2x2 max pooling follows).
//!
//! Format version 2 adds `tta_views` (1, or 8: the probability is the mean over the
//! patch's 4 rotations by 90° and their mirror images, test-time augmentation, for
//! patches whose own probability reaches `tta_from`) and, when
//! `screen_layers` is present, a **screen**: a second, much cheaper network (tensors
//! `screen.conv{i}.*`, `screen.fc.*`; metadata `screen_input_px`, `screen_input_mpp_um`,
//! `screen_layers`, `screen_threshold`, at most `threshold`) that sees each candidate
//! first, on its own smaller and coarser patch. A candidate whose screen probability is
//! below `screen_threshold` is not a mitotic figure and keeps the screen probability as
//! its score; the others get the main network's. A cascade of a cheap and an expensive
//! classifier (Viola & Jones 2001, CVPR; for mitoses Chen et al. 2016, AAAI, "Mitosis
//! detection in breast cancer histology images via deep cascaded networks"): most
//! candidates on a slide are ordinary nuclei, and the screen turns most of them away at
//! about a twentieth of the cost (`training/screen.py` trains and calibrates it).
//!
//! A format-2 model may also hold a **second network** (tensors `second.conv{i}.*`,
//! `second.fc.*`; metadata `second_layers`) that reads the main network's patch: for the
//! patches whose main one-view probability reaches `tta_from`, the score is the mean of
//! the two networks' view-averaged probabilities (an ensemble of two architectures,
//! which make different mistakes: Dietterich 2000, "Ensemble methods in machine
//! learning"; `training/README.md` says why these two).
//!
//! Anything else is refused with [`Error::Model`] naming the file and the fault.

mod load;
mod net;
pub mod patch;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

use net::Network;
pub use net::Scratch;
pub use patch::{reach_px, sample_patch, ImagePlacement};

/// The model shipped inside the binary (see `models/README.md`, its model card).
static EMBEDDED: &[u8] = include_bytes!("../../../models/mitosis-cnn.safetensors");

/// Label used for the embedded model where a path is expected.
pub const EMBEDDED_LABEL: &str = "<embedded mitosis-cnn>";

/// Which model made a result: written into report.json and shown by `info --model`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelInfo {
    /// Model name from its metadata.
    pub name: String,
    /// Model version (the training date).
    pub version: String,
    /// SHA-256 of the model file, hex.
    pub sha256: String,
    /// `embedded` or the path given to `--model`.
    pub source: String,
    /// Side of the input patch (px).
    pub input_px: usize,
    /// Pixel size of the input patch (µm/px).
    pub input_mpp_um: f64,
    /// Decision threshold on the probability, chosen on the tune split.
    pub threshold: f64,
    /// Multiply-adds of one patch's forward pass (one view).
    pub multiply_adds: u64,
    /// Views averaged per patch: 1, or 8 (rotations by 90° and their mirror images).
    #[serde(default = "one_view")]
    pub views: usize,
    /// The probability of the patch as it is from which the views are averaged (below
    /// it, that probability is the score).
    #[serde(default)]
    pub views_from: f64,
    /// The cascade's first stage, when the model has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screen: Option<ScreenInfo>,
    /// Multiply-adds of one view of the second network, when the model has one (averaged
    /// with the main network where the views are).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second_multiply_adds: Option<u64>,
}

fn one_view() -> usize {
    1
}

/// The screen of a cascade model (see the module docs).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScreenInfo {
    /// Side of its input patch (px).
    pub input_px: usize,
    /// Pixel size of its input patch (µm/px).
    pub input_mpp_um: f64,
    /// Candidates below this screen probability are not mitotic figures.
    pub threshold: f64,
    /// Multiply-adds of one patch's forward pass.
    pub multiply_adds: u64,
}

/// One network and the patches it reads.
#[derive(Debug, Clone)]
struct Stage {
    net: Network,
    input_px: usize,
    input_mpp_um: f64,
}

/// A loaded, validated classifier.
#[derive(Debug, Clone)]
pub struct Classifier {
    main: Stage,
    screen: Option<Stage>,
    second: Option<Stage>,
    info: ModelInfo,
    offset: f32,
    scale: f32,
}

impl Classifier {
    /// The model embedded in the binary.
    ///
    /// # Errors
    /// [`Error::Model`] if the embedded bytes are not a valid model (a build defect).
    pub fn embedded() -> Result<Classifier> {
        Classifier::from_bytes(EMBEDDED, Path::new(EMBEDDED_LABEL), "embedded")
    }

    /// Loads a model file.
    ///
    /// # Errors
    /// [`Error::Model`] naming the file: missing or unreadable, not safetensors,
    /// truncated, another format, missing or misshapen tensors, bad metadata.
    pub fn from_file(path: &Path) -> Result<Classifier> {
        let bytes =
            std::fs::read(path).map_err(|e| model_err(path, format!("cannot read it: {e}")))?;
        Classifier::from_bytes(&bytes, path, &path.display().to_string())
    }

    /// The embedded model, or the file when `path` is given.
    ///
    /// # Errors
    /// As [`Classifier::from_file`].
    pub fn load(path: Option<&Path>) -> Result<Classifier> {
        match path {
            Some(p) => Classifier::from_file(p),
            None => Classifier::embedded(),
        }
    }

    /// Parses and validates a model from its bytes; `path` names it in errors.
    ///
    /// # Errors
    /// [`Error::Model`].
    pub fn from_bytes(bytes: &[u8], path: &Path, source: &str) -> Result<Classifier> {
        load::parse(bytes, path, source)
    }

    /// Which model this is.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Side of the input patch (px).
    pub fn input_px(&self) -> usize {
        self.info.input_px
    }

    /// Probability (0..=1) that the patch `[side, side, 3]` (8-bit RGB, row-major, as
    /// [`sample_patch`] cuts it at [`ModelInfo::input_mpp_um`]) shows a mitotic figure at
    /// its centre, by the main network: its probability for the patch as it is, or, when
    /// that reaches [`ModelInfo::views_from`], the mean over [`ModelInfo::views`] views,
    /// averaged with the second network's mean over as many views when the model has one.
    /// A patch of the wrong length scores 0.
    pub fn probability(
        &self,
        patch_rgb: &[u8],
        scratch: &mut Scratch,
        input: &mut Vec<f32>,
    ) -> f64 {
        let first = self.stage_probability(&self.main, patch_rgb, 0, scratch, input);
        let views = self.info.views;
        if first < self.info.views_from || (views == 1 && self.second.is_none()) {
            return first;
        }
        let rest: f64 = (1..views)
            .map(|v| self.stage_probability(&self.main, patch_rgb, v, scratch, input))
            .sum();
        let main = (first + rest) / views as f64;
        match &self.second {
            None => main,
            Some(second) => {
                let sum: f64 = (0..views)
                    .map(|v| self.stage_probability(second, patch_rgb, v, scratch, input))
                    .sum();
                (main + sum / views as f64) / 2.0
            }
        }
    }

    /// The screen's probability for its own patch (`[s, s, 3]` at
    /// [`ScreenInfo::input_mpp_um`]); `None` for a model without a screen.
    pub fn screen_probability(
        &self,
        patch_rgb: &[u8],
        scratch: &mut Scratch,
        input: &mut Vec<f32>,
    ) -> Option<f64> {
        let screen = self.screen.as_ref()?;
        Some(self.stage_probability(screen, patch_rgb, 0, scratch, input))
    }

    /// One network's probability for view `view` (0..8) of a patch.
    fn stage_probability(
        &self,
        stage: &Stage,
        patch_rgb: &[u8],
        view: usize,
        scratch: &mut Scratch,
        input: &mut Vec<f32>,
    ) -> f64 {
        let side = stage.input_px;
        if patch_rgb.len() != side * side * 3 {
            return 0.0;
        }
        input.clear();
        input.resize(3 * side * side, 0.0);
        let plane = side * side;
        for y in 0..side {
            for x in 0..side {
                let (sy, sx) = view_source((y, x), side, view);
                let px = &patch_rgb[(sy * side + sx) * 3..(sy * side + sx) * 3 + 3];
                for c in 0..3 {
                    input[c * plane + y * side + x] =
                        (f32::from(px[c]) / 255.0 - self.offset) * self.scale;
                }
            }
        }
        let logit = stage.net.logit(input, scratch);
        1.0 / (1.0 + (-f64::from(logit)).exp())
    }
}

/// Where view `view` (0..8) of a `side` x `side` patch takes its pixel (row `y`, column
/// `x`) from: bit 0 mirrors left-right, bit 1 mirrors top-bottom, bit 2 transposes; the
/// 8 combinations are the rotations by 90° and their mirror images (the dihedral group),
/// view 0 the patch itself.
fn view_source((y, x): (usize, usize), side: usize, view: usize) -> (usize, usize) {
    let x = if view & 1 != 0 { side - 1 - x } else { x };
    let y = if view & 2 != 0 { side - 1 - y } else { y };
    if view & 4 != 0 {
        (x, y)
    } else {
        (y, x)
    }
}

impl Classifier {
    /// Probabilities of mitotic figures centred on level-0 points (px, pixel `i` centred at
    /// `i + 0.5`), from the pixels of `img` (placed on the slide by `place`; slide pixel
    /// size `level0_mpp_um`): the screen's where it turns the candidate away, else the
    /// main network's. The image must reach [`Classifier::reach_um`] beyond every point;
    /// beyond the image is white. One patch at a time, so a point's probability does not
    /// depend on the other points or on how the slide was tiled.
    pub fn score_points(
        &self,
        img: &image::RgbImage,
        place: ImagePlacement,
        level0_mpp_um: f64,
        points_px: &[(f64, f64)],
    ) -> Vec<f64> {
        let mut scratch = Scratch::default();
        let (mut pixels, mut input) = (Vec::new(), Vec::new());
        let step = |s: &Stage| (s.input_px, s.input_mpp_um / level0_mpp_um);
        points_px
            .iter()
            .map(|&p| {
                if let (Some(screen), Some(info)) = (&self.screen, &self.info.screen) {
                    sample_patch(img, place, p, step(screen), &mut pixels);
                    let ps = self.stage_probability(screen, &pixels, 0, &mut scratch, &mut input);
                    if ps < info.threshold {
                        return ps;
                    }
                }
                sample_patch(img, place, p, step(&self.main), &mut pixels);
                self.probability(&pixels, &mut scratch, &mut input)
            })
            .collect()
    }

    /// How far (µm) beyond a point a patch reads, interpolation included ([`reach_px`]),
    /// for a slide of pixel size `level0_mpp_um` read at `downsample`: the farther of the
    /// main network's and the screen's patches.
    pub fn reach_um(&self, level0_mpp_um: f64, downsample: f64) -> f64 {
        std::iter::once(&self.main)
            .chain(&self.screen)
            .map(|s| {
                let step_px = s.input_mpp_um / level0_mpp_um;
                reach_px((s.input_px, step_px), downsample) * level0_mpp_um
            })
            .fold(0.0, f64::max)
    }

    /// The finest pixel size (µm/px) any of its networks reads.
    pub fn finest_input_mpp_um(&self) -> f64 {
        std::iter::once(&self.main)
            .chain(&self.screen)
            .map(|s| s.input_mpp_um)
            .fold(f64::INFINITY, f64::min)
    }
}

fn model_err(path: &Path, reason: String) -> Error {
    Error::Model {
        path: PathBuf::from(path),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::view_source;

    #[test]
    fn the_eight_views_are_the_eight_distinct_symmetries_of_a_square() {
        let side = 5;
        let mut seen = std::collections::HashSet::new();
        for v in 0..8 {
            let map: Vec<(usize, usize)> = (0..side * side)
                .map(|i| view_source((i / side, i % side), side, v))
                .collect();
            // A permutation of the pixels that keeps the centre in place.
            let mut sorted = map.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), side * side);
            assert_eq!(map[2 * side + 2], (2, 2));
            seen.insert(map);
        }
        assert_eq!(seen.len(), 8);
        assert_eq!(view_source((1, 3), side, 0), (1, 3));
    }
}
