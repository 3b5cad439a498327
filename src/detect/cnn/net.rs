//! The network's forward pass: 3x3 convolutions (batch norm folded in at export) with
//! ReLU and optional 2x2 max pooling, global average pooling, one linear output.
//!
//! Each convolution is an im2col copy followed by one matrix product through ndarray's
//! `general_mat_mul` (the `matrixmultiply` crate's SIMD sgemm kernels), the usual way to
//! run a small CNN fast on a CPU (Chellapilla et al. 2006, "High performance convolutional
//! neural networks for document processing", IWFHR). The im2col copy and the pooling are
//! written here because they are a few lines each and no small, well-kept crate offers
//! them without a whole deep-learning runtime (tract, candle and burn were weighed:
//! `docs/classifier.md`).
//!
//! One patch at a time: the result for a patch never depends on which other patches are
//! scored with it, so detections do not depend on tiling or threads.

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2};

/// One 3x3 convolution with padding 1, bias and ReLU.
#[derive(Debug, Clone)]
pub struct Conv {
    /// Weights `[out_channels, in_channels * 9]`, row-major, in PyTorch's
    /// `[out, in, ky, kx]` order.
    pub weight: Vec<f32>,
    /// Bias per output channel.
    pub bias: Vec<f32>,
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Stride (1 or 2).
    pub stride: usize,
    /// Whether a 2x2 max pooling (stride 2, floor) follows the ReLU.
    pub pool_after: bool,
}

/// The whole network.
#[derive(Debug, Clone)]
pub struct Network {
    /// Convolutions in order.
    pub convs: Vec<Conv>,
    /// Weights of the linear output over the pooled channels of the last convolution.
    pub fc_weight: Vec<f32>,
    /// Bias of the linear output.
    pub fc_bias: f32,
    /// Side of the square input (px).
    pub input_px: usize,
}

/// Reusable buffers of one thread's forward passes.
#[derive(Debug, Default)]
pub struct Scratch {
    cols: Vec<f32>,
    a: Vec<f32>,
    b: Vec<f32>,
}

impl Network {
    /// The output logit for one input `[3, input_px, input_px]` (channel-major). The
    /// length of `input` is checked by the caller ([`super::Classifier`]).
    pub fn logit(&self, input: &[f32], scratch: &mut Scratch) -> f32 {
        let Scratch { cols, a, b } = scratch;
        a.clear();
        a.extend_from_slice(input);
        let (mut h, mut w) = (self.input_px, self.input_px);
        for conv in &self.convs {
            let (oh, ow) = ((h - 1) / conv.stride + 1, (w - 1) / conv.stride + 1);
            im2col(a, conv, (h, w), (oh, ow), cols);
            b.clear();
            b.resize(conv.out_channels * oh * ow, 0.0);
            let k = conv.in_channels * 9;
            // Shapes are consistent by construction (checked when the model is loaded).
            if let (Ok(wv), Ok(cv), Ok(mut ov)) = (
                ArrayView2::from_shape((conv.out_channels, k), &conv.weight),
                ArrayView2::from_shape((k, oh * ow), cols.as_slice()),
                ArrayViewMut2::from_shape((conv.out_channels, oh * ow), b.as_mut_slice()),
            ) {
                general_mat_mul(1.0, &wv, &cv, 0.0, &mut ov);
            }
            for (ch, plane) in b.chunks_exact_mut(oh * ow).enumerate() {
                let bias = conv.bias[ch];
                for v in plane {
                    *v = (*v + bias).max(0.0);
                }
            }
            if conv.pool_after {
                let (ph, pw) = (oh / 2, ow / 2);
                a.clear();
                a.resize(conv.out_channels * ph * pw, 0.0);
                for ch in 0..conv.out_channels {
                    let src = &b[ch * oh * ow..(ch + 1) * oh * ow];
                    let dst = &mut a[ch * ph * pw..(ch + 1) * ph * pw];
                    for y in 0..ph {
                        let r0 = &src[2 * y * ow..2 * y * ow + ow];
                        let r1 = &src[(2 * y + 1) * ow..(2 * y + 1) * ow + ow];
                        for x in 0..pw {
                            dst[y * pw + x] = r0[2 * x]
                                .max(r0[2 * x + 1])
                                .max(r1[2 * x])
                                .max(r1[2 * x + 1]);
                        }
                    }
                }
                (h, w) = (ph, pw);
            } else {
                std::mem::swap(a, b);
                (h, w) = (oh, ow);
            }
        }
        let plane = (h * w).max(1);
        let mut logit = self.fc_bias;
        for (ch, wt) in self.fc_weight.iter().enumerate() {
            let sum: f32 = a[ch * plane..(ch + 1) * plane].iter().sum();
            logit += wt * (sum / plane as f32);
        }
        logit
    }

    /// Multiply-adds of one forward pass (for the benchmarks' throughput figures).
    pub fn multiply_adds(&self) -> u64 {
        let (mut h, mut w) = (self.input_px, self.input_px);
        let mut total = 0u64;
        for c in &self.convs {
            let (oh, ow) = ((h - 1) / c.stride + 1, (w - 1) / c.stride + 1);
            total += (oh * ow * c.out_channels * c.in_channels * 9) as u64;
            (h, w) = if c.pool_after {
                (oh / 2, ow / 2)
            } else {
                (oh, ow)
            };
        }
        total + self.fc_weight.len() as u64
    }
}

/// Copies the 3x3 neighbourhoods of `input` `[in, h, w]` into `cols`
/// `[in * 9, oh * ow]` (zero padding of 1), row `c * 9 + ky * 3 + kx`.
fn im2col(
    input: &[f32],
    conv: &Conv,
    (h, w): (usize, usize),
    (oh, ow): (usize, usize),
    cols: &mut Vec<f32>,
) {
    cols.clear();
    cols.resize(conv.in_channels * 9 * oh * ow, 0.0);
    let s = conv.stride;
    for c in 0..conv.in_channels {
        let plane = &input[c * h * w..(c + 1) * h * w];
        for ky in 0..3 {
            for kx in 0..3 {
                let row = &mut cols
                    [((c * 9) + ky * 3 + kx) * oh * ow..((c * 9) + ky * 3 + kx + 1) * oh * ow];
                for oy in 0..oh {
                    let iy = (oy * s + ky) as isize - 1;
                    if iy < 0 || iy >= h as isize {
                        continue;
                    }
                    let src = &plane[iy as usize * w..(iy as usize + 1) * w];
                    let dst = &mut row[oy * ow..(oy + 1) * ow];
                    if s == 1 {
                        // Input column ox + kx - 1: one shifted copy of the row, the
                        // padding columns left at zero.
                        let lo = usize::from(kx == 0);
                        let hi = ow.min(w + 1 - kx);
                        if lo < hi {
                            dst[lo..hi].copy_from_slice(&src[lo + kx - 1..hi + kx - 1]);
                        }
                        continue;
                    }
                    for (ox, d) in dst.iter_mut().enumerate() {
                        let ix = (ox * s + kx) as isize - 1;
                        if ix >= 0 && (ix as usize) < w {
                            *d = src[ix as usize];
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A direct (no im2col) convolution, for comparison.
    fn direct(input: &[f32], c: &Conv, h: usize, w: usize) -> Vec<f32> {
        let (oh, ow) = ((h - 1) / c.stride + 1, (w - 1) / c.stride + 1);
        let mut out = vec![0.0f32; c.out_channels * oh * ow];
        for o in 0..c.out_channels {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = c.bias[o];
                    for i in 0..c.in_channels {
                        for ky in 0..3 {
                            for kx in 0..3 {
                                let iy = (oy * c.stride + ky) as isize - 1;
                                let ix = (ox * c.stride + kx) as isize - 1;
                                if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                                    acc += c.weight[o * c.in_channels * 9 + i * 9 + ky * 3 + kx]
                                        * input[i * h * w + iy as usize * w + ix as usize];
                                }
                            }
                        }
                    }
                    out[o * oh * ow + oy * ow + ox] = acc.max(0.0);
                }
            }
        }
        out
    }

    fn pseudo(n: usize, seed: u32) -> Vec<f32> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (x >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            })
            .collect()
    }

    #[test]
    fn im2col_product_equals_a_direct_convolution() {
        for stride in [1, 2] {
            let conv = Conv {
                weight: pseudo(4 * 3 * 9, 1),
                bias: pseudo(4, 2),
                in_channels: 3,
                out_channels: 4,
                stride,
                pool_after: false,
            };
            let input = pseudo(3 * 9 * 7, 3);
            let net = Network {
                convs: vec![conv.clone()],
                fc_weight: vec![1.0; 4],
                fc_bias: 0.0,
                input_px: 9,
            };
            // Square input for the network; compare the conv output through the logit
            // (mean of all channels) and directly on a non-square input.
            let sq = pseudo(3 * 9 * 9, 4);
            let d = direct(&sq, &conv, 9, 9);
            let plane = d.len() / 4;
            let want: f32 = (0..4)
                .map(|ch| d[ch * plane..(ch + 1) * plane].iter().sum::<f32>() / plane as f32)
                .sum();
            let got = net.logit(&sq, &mut Scratch::default());
            assert!(
                (got - want).abs() < 1e-4,
                "stride {stride}: {got} vs {want}"
            );
            let (oh, ow) = ((9 - 1) / stride + 1, (7 - 1) / stride + 1);
            let mut cols = Vec::new();
            im2col(&input, &conv, (9, 7), (oh, ow), &mut cols);
            let d = direct(&input, &conv, 9, 7);
            for o in 0..4 {
                for p in 0..oh * ow {
                    let mut acc = conv.bias[o];
                    for k in 0..27 {
                        acc += conv.weight[o * 27 + k] * cols[k * oh * ow + p];
                    }
                    assert!((acc.max(0.0) - d[o * oh * ow + p]).abs() < 1e-5);
                }
            }
        }
    }

    #[test]
    fn pooling_takes_the_maximum_of_each_2x2_block() {
        // Identity-like 1-channel conv: weight 1 at the centre tap.
        let mut weight = vec![0.0; 9];
        weight[4] = 1.0;
        let net = Network {
            convs: vec![Conv {
                weight,
                bias: vec![0.0],
                in_channels: 1,
                out_channels: 1,
                stride: 1,
                pool_after: true,
            }],
            fc_weight: vec![1.0],
            fc_bias: 0.0,
            input_px: 4,
        };
        let input: Vec<f32> = (0..16).map(|v| v as f32).collect();
        // Blocks' maxima: 5, 7, 13, 15; mean 10.
        assert_eq!(net.logit(&input, &mut Scratch::default()), 10.0);
    }
}
