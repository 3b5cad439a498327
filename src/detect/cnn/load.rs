//! Reading and validating a model file (format in the module docs of [`super`]).

use std::collections::HashMap;
use std::path::Path;

use safetensors::{Dtype, SafeTensors};
use sha2::{Digest, Sha256};

use super::net::{Conv, Network};
use super::{model_err, Classifier, ModelInfo, ScreenInfo, Stage};
use crate::error::Result;

/// One convolution's settings in the `layers` / `screen_layers` metadata.
#[derive(Debug, serde::Deserialize)]
struct LayerSpec {
    stride: usize,
    pool_after: bool,
}

/// The metadata of a model file, with typed readers that name the file in errors.
struct Meta<'a> {
    map: HashMap<String, String>,
    path: &'a Path,
}

impl Meta<'_> {
    fn has(&self, k: &str) -> bool {
        self.map.contains_key(k)
    }

    fn get(&self, k: &str) -> Result<&String> {
        self.map.get(k).ok_or_else(|| {
            model_err(
                self.path,
                format!("metadata `{k}` is missing: not a mitocount model"),
            )
        })
    }

    fn num(&self, k: &str) -> Result<f64> {
        let v = self.get(k)?;
        v.parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .ok_or_else(|| model_err(self.path, format!("metadata `{k}` = `{v}` is not a number")))
    }

    /// A number in `range`.
    fn num_in(&self, k: &str, range: std::ops::RangeInclusive<f64>) -> Result<f64> {
        let v = self.num(k)?;
        if range.contains(&v) {
            Ok(v)
        } else {
            Err(model_err(
                self.path,
                format!(
                    "metadata `{k}` = {v} outside {}..={}",
                    range.start(),
                    range.end()
                ),
            ))
        }
    }

    /// A whole number of pixels for an input side.
    fn side(&self, k: &str) -> Result<usize> {
        let v = self.num(k)?;
        if !(8.0..=512.0).contains(&v) || v.fract() != 0.0 {
            return Err(model_err(
                self.path,
                format!("{k} {v} must be a whole number in 8..=512"),
            ));
        }
        Ok(v as usize)
    }
}

/// Parses and validates a model: format version 1 (one network) or 2 (an optional
/// screen, `screen.*` tensors with `screen_*` metadata, `tta_views`, and an optional
/// second network, `second.*` tensors with `second_layers`).
pub(super) fn parse(bytes: &[u8], path: &Path, source: &str) -> Result<Classifier> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| {
        model_err(
            path,
            format!(
                "not a readable safetensors file ({e}); give a model written by training/train.py"
            ),
        )
    })?;
    let (_, header) = SafeTensors::read_metadata(bytes)
        .map_err(|e| model_err(path, format!("unreadable header: {e}")))?;
    let meta = Meta {
        map: header.metadata().clone().unwrap_or_default(),
        path,
    };
    if meta.get("format")? != "mitocount-cnn" {
        return Err(model_err(
            path,
            format!(
                "unknown format `{}` (expected mitocount-cnn)",
                meta.get("format")?
            ),
        ));
    }
    let version = meta.get("format_version")?;
    if version != "1" && version != "2" {
        return Err(model_err(
            path,
            format!("format version {version} is not supported (this mitocount reads 1 and 2)"),
        ));
    }
    let v2 = version == "2";
    let input_px = meta.side("input_px")?;
    let input_mpp_um = meta.num_in("input_mpp_um", 0.05..=5.0)?;
    let threshold = meta.num_in("threshold", 0.0..=1.0)?;
    let net = network(&st, &meta, "", "layers", input_px)?;
    let views = if v2 {
        let v = meta.num("tta_views")?;
        if v != 1.0 && v != 8.0 {
            return Err(model_err(
                path,
                format!("metadata `tta_views` = {v}: 1 or 8 (the rotations and flips) allowed"),
            ));
        }
        v as usize
    } else {
        1
    };
    let views_from = if views > 1 {
        meta.num_in("tta_from", 0.0..=1.0)?
    } else {
        0.0
    };
    let screen = if v2 && meta.has("screen_layers") {
        let side = meta.side("screen_input_px")?;
        let stage = Stage {
            net: network(&st, &meta, "screen.", "screen_layers", side)?,
            input_px: side,
            input_mpp_um: meta.num_in("screen_input_mpp_um", 0.05..=5.0)?,
        };
        let screen_threshold = meta.num_in("screen_threshold", 0.0..=1.0)?;
        if screen_threshold > threshold {
            return Err(model_err(
                path,
                format!(
                    "screen threshold {screen_threshold} is above the decision threshold {threshold}: \
                     the screen would reject calls"
                ),
            ));
        }
        Some((stage, screen_threshold))
    } else {
        None
    };
    // A second network reads the main network's patch (same size, pixel size and input
    // scaling), so only its layers may differ.
    let second = if v2 && meta.has("second_layers") {
        Some(Stage {
            net: network(&st, &meta, "second.", "second_layers", input_px)?,
            input_px,
            input_mpp_um,
        })
    } else {
        None
    };
    let sha256 = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let info = ModelInfo {
        name: meta.get("name")?.clone(),
        version: meta.get("version")?.clone(),
        sha256,
        source: source.to_string(),
        input_px,
        input_mpp_um,
        threshold,
        multiply_adds: net.multiply_adds(),
        views,
        views_from,
        screen: screen.as_ref().map(|(s, t)| ScreenInfo {
            input_px: s.input_px,
            input_mpp_um: s.input_mpp_um,
            threshold: *t,
            multiply_adds: s.net.multiply_adds(),
        }),
        second_multiply_adds: second.as_ref().map(|s| s.net.multiply_adds()),
    };
    Ok(Classifier {
        main: Stage {
            net,
            input_px,
            input_mpp_um,
        },
        screen: screen.map(|(s, _)| s),
        second,
        info,
        offset: meta.num("input_offset")? as f32,
        scale: meta.num("input_scale")? as f32,
    })
}

/// The network whose tensors are named `{prefix}conv{i}.*` and `{prefix}fc.*`, with its
/// layer list in the metadata `layers_key`, for inputs of `input_px`.
fn network(
    st: &SafeTensors,
    meta: &Meta,
    prefix: &str,
    layers_key: &str,
    input_px: usize,
) -> Result<Network> {
    let path = meta.path;
    let layers: Vec<LayerSpec> = serde_json::from_str(meta.get(layers_key)?).map_err(|e| {
        model_err(
            path,
            format!("metadata `{layers_key}` is not a layer list: {e}"),
        )
    })?;
    if layers.is_empty() || layers.len() > 16 {
        return Err(model_err(
            path,
            format!(
                "`{layers_key}`: {} convolutions (1 to 16 allowed)",
                layers.len()
            ),
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
        let name = format!("{prefix}conv{i}.weight");
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
                format!("{prefix}conv{i}: stride {} (1 or 2 allowed)", l.stride),
            ));
        }
        let weight = tensor(&name, &[out, channels, 3, 3])?;
        let bias = tensor(&format!("{prefix}conv{i}.bias"), &[out])?;
        side = (side - 1) / l.stride + 1;
        if l.pool_after {
            side /= 2;
        }
        if side == 0 {
            return Err(model_err(
                path,
                format!("{prefix}conv{i}: the {input_px} px input shrinks to nothing"),
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
    let fc_weight = tensor(&format!("{prefix}fc.weight"), &[1, channels])?;
    let fc_bias = tensor(&format!("{prefix}fc.bias"), &[1])?[0];
    Ok(Network {
        convs,
        fc_weight,
        fc_bias,
        input_px,
    })
}
