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
//! Anything else is refused with [`Error::Model`] naming the file and the fault.

mod net;
pub mod patch;

use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

pub use net::Scratch;
use net::{Conv, Network};
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
    /// Multiply-adds of one patch's forward pass.
    pub multiply_adds: u64,
}

/// A loaded, validated classifier.
#[derive(Debug, Clone)]
pub struct Classifier {
    net: Network,
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
        let st = SafeTensors::deserialize(bytes).map_err(|e| {
            model_err(
                path,
                format!("not a readable safetensors file ({e}); give a model written by training/train.py"),
            )
        })?;
        let (_, header) = SafeTensors::read_metadata(bytes)
            .map_err(|e| model_err(path, format!("unreadable header: {e}")))?;
        let meta = header.metadata().clone().unwrap_or_default();
        let get = |k: &str| -> Result<&String> {
            meta.get(k).ok_or_else(|| {
                model_err(
                    path,
                    format!("metadata `{k}` is missing: not a mitocount model"),
                )
            })
        };
        if get("format")? != "mitocount-cnn" {
            return Err(model_err(
                path,
                format!(
                    "unknown format `{}` (expected mitocount-cnn)",
                    get("format")?
                ),
            ));
        }
        if get("format_version")? != "1" {
            return Err(model_err(
                path,
                format!(
                    "format version {} is not supported (this mitocount reads 1)",
                    get("format_version")?
                ),
            ));
        }
        let num = |k: &str| -> Result<f64> {
            let v = get(k)?;
            v.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| model_err(path, format!("metadata `{k}` = `{v}` is not a number")))
        };
        let input_px = num("input_px")?;
        if !(8.0..=512.0).contains(&input_px) || input_px.fract() != 0.0 {
            return Err(model_err(
                path,
                format!("input_px {input_px} must be a whole number in 8..=512"),
            ));
        }
        let input_px = input_px as usize;
        let input_mpp_um = num("input_mpp_um")?;
        if !(0.05..=5.0).contains(&input_mpp_um) {
            return Err(model_err(
                path,
                format!("input_mpp_um {input_mpp_um} outside 0.05..=5"),
            ));
        }
        let threshold = num("threshold")?;
        if !(0.0..=1.0).contains(&threshold) {
            return Err(model_err(
                path,
                format!("threshold {threshold} outside 0..=1"),
            ));
        }
        let layers: Vec<LayerSpec> = serde_json::from_str(get("layers")?)
            .map_err(|e| model_err(path, format!("metadata `layers` is not a layer list: {e}")))?;
        if layers.is_empty() || layers.len() > 16 {
            return Err(model_err(
                path,
                format!("{} convolutions (1 to 16 allowed)", layers.len()),
            ));
        }
        let tensor = |name: &str, shape: &[usize]| -> Result<Vec<f32>> {
            let t = st
                .tensor(name)
                .map_err(|_| model_err(path, format!("tensor `{name}` is missing")))?;
            if t.dtype() != Dtype::F32 {
                return Err(model_err(
                    path,
                    format!("tensor `{name}` is {:?}, expected F32", t.dtype()),
                ));
            }
            if t.shape() != shape {
                return Err(model_err(
                    path,
                    format!(
                        "tensor `{name}` has shape {:?}, expected {shape:?}",
                        t.shape()
                    ),
                ));
            }
            let v: Vec<f32> = t
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            if v.iter().any(|x| !x.is_finite()) {
                return Err(model_err(
                    path,
                    format!("tensor `{name}` holds a NaN or infinity"),
                ));
            }
            Ok(v)
        };
        let mut convs = Vec::with_capacity(layers.len());
        let mut channels = 3usize;
        let mut side = input_px;
        for (i, l) in layers.iter().enumerate() {
            let name = format!("conv{i}.weight");
            let out = st
                .tensor(&name)
                .map_err(|_| model_err(path, format!("tensor `{name}` is missing")))?
                .shape()
                .first()
                .copied()
                .unwrap_or(0);
            if out == 0 || out > 4096 {
                return Err(model_err(
                    path,
                    format!("tensor `{name}` has {out} output channels"),
                ));
            }
            if !matches!(l.stride, 1 | 2) {
                return Err(model_err(
                    path,
                    format!("conv{i}: stride {} (1 or 2 allowed)", l.stride),
                ));
            }
            let weight = tensor(&name, &[out, channels, 3, 3])?;
            let bias = tensor(&format!("conv{i}.bias"), &[out])?;
            side = (side - 1) / l.stride + 1;
            if l.pool_after {
                side /= 2;
            }
            if side == 0 {
                return Err(model_err(
                    path,
                    format!("conv{i}: the {input_px} px input shrinks to nothing"),
                ));
            }
            convs.push(Conv {
                weight,
                bias,
                in_channels: channels,
                out_channels: out,
                stride: l.stride,
                pool_after: l.pool_after,
            });
            channels = out;
        }
        let fc_weight = tensor("fc.weight", &[1, channels])?;
        let fc_bias = tensor("fc.bias", &[1])?[0];
        let net = Network {
            convs,
            fc_weight,
            fc_bias,
            input_px,
        };
        let sha256 = Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let info = ModelInfo {
            name: get("name")?.clone(),
            version: get("version")?.clone(),
            sha256,
            source: source.to_string(),
            input_px,
            input_mpp_um,
            threshold,
            multiply_adds: net.multiply_adds(),
        };
        Ok(Classifier {
            net,
            info,
            offset: num("input_offset")? as f32,
            scale: num("input_scale")? as f32,
        })
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
    /// its centre. A patch of the wrong length scores 0.
    pub fn probability(
        &self,
        patch_rgb: &[u8],
        scratch: &mut Scratch,
        input: &mut Vec<f32>,
    ) -> f64 {
        let side = self.info.input_px;
        if patch_rgb.len() != side * side * 3 {
            return 0.0;
        }
        input.clear();
        input.resize(3 * side * side, 0.0);
        for (p, px) in patch_rgb.chunks_exact(3).enumerate() {
            for c in 0..3 {
                input[c * side * side + p] = (f32::from(px[c]) / 255.0 - self.offset) * self.scale;
            }
        }
        let logit = self.net.logit(input, scratch);
        1.0 / (1.0 + (-f64::from(logit)).exp())
    }
}

impl Classifier {
    /// Probabilities of mitotic figures centred on level-0 points (px, pixel `i` centred at
    /// `i + 0.5`), from the pixels of `img` (placed on the slide by `place`; slide pixel
    /// size `level0_mpp_um`). The image must reach [`Classifier::reach_um`] beyond every
    /// point; beyond the image is white. One patch at a time, so a point's
    /// probability does not depend on the other points or on how the slide was tiled.
    pub fn score_points(
        &self,
        img: &image::RgbImage,
        place: ImagePlacement,
        level0_mpp_um: f64,
        points_px: &[(f64, f64)],
    ) -> Vec<f64> {
        let step_px = self.info.input_mpp_um / level0_mpp_um;
        let mut scratch = Scratch::default();
        let (mut pixels, mut input) = (Vec::new(), Vec::new());
        points_px
            .iter()
            .map(|&p| {
                sample_patch(img, place, p, (self.info.input_px, step_px), &mut pixels);
                self.probability(&pixels, &mut scratch, &mut input)
            })
            .collect()
    }

    /// How far (µm) beyond a point a patch reads, interpolation included ([`reach_px`]),
    /// for a slide of pixel size `level0_mpp_um` read at `downsample`.
    pub fn reach_um(&self, level0_mpp_um: f64, downsample: f64) -> f64 {
        let step_px = self.info.input_mpp_um / level0_mpp_um;
        reach_px((self.info.input_px, step_px), downsample) * level0_mpp_um
    }
}

/// One convolution's settings in the `layers` metadata.
#[derive(Debug, serde::Deserialize)]
struct LayerSpec {
    stride: usize,
    pool_after: bool,
}

fn model_err(path: &Path, reason: String) -> Error {
    Error::Model {
        path: PathBuf::from(path),
        reason,
    }
}
