//! Rendering any rectangle of level 0: stroma, cytoplasm and tissue coverage pixel by
//! pixel, the figures and ordinary nuclei painted over them, then the scanner's blur,
//! the Beer-Lambert conversion to RGB and the sensor noise.
//!
//! May use: the scene (`super`), `nuclei`, `index` and the `synth` modules `fields`,
//! `noise` and `objects`.

use image::RgbImage;

use super::nuclei::{Sites, CELL_UM, NUCLEUS_REACH_UM};
use super::purpose;
use super::SynthScene;
use crate::synth::fields::{FieldValues, NodeCache, RectUm};
use crate::synth::noise::{hash2, smoothstep, subseed};
use crate::synth::objects::Canvas;

/// Optical blur of the scanner, Gaussian sigma in µm.
pub(super) const BLUR_SIGMA_UM: f64 = 0.3;
/// Optical density of the glass background per channel (R, G, B): a faintly grey-white
/// background of about (241, 239, 242).
const BACKGROUND_OD: [f64; 3] = [0.022, 0.026, 0.020];
/// Half-width of the per-channel intensity noise, in 8-bit levels (triangular
/// distribution, standard deviation about 1.6 levels).
const NOISE_LEVELS: f64 = 4.0;
/// Resolution of the OD -> intensity table: entries per OD unit.
pub(super) const OD_LUT_STEPS: f64 = 2048.0;
/// Largest OD in the table; darker pixels are clamped (intensity below 0.003).
pub(super) const OD_LUT_MAX: f64 = 5.0;

impl SynthScene {
    /// Renders a rectangle of level 0 as 8-bit RGB, `width` x `height` px from
    /// `(x0_px, y0_px)`.
    ///
    /// Deterministic and seamless: every pixel is a pure function of its global position
    /// and the scene, so regions cut anywhere stitch to exactly the same image.
    /// Single-threaded; call it from several threads for different regions.
    pub fn render_region(&self, x0_px: u64, y0_px: u64, width: u32, height: u32) -> RgbImage {
        let radius = self.blur.len() / 2;
        let (w, h) = (width as usize, height as usize);
        let mut canvas = Canvas::new(
            x0_px as i64 - radius as i64,
            y0_px as i64 - radius as i64,
            w + 2 * radius,
            h + 2 * radius,
        );
        let mpp = self.opts.mpp;
        // Nuclei centred up to NUCLEUS_REACH_UM outside the canvas still touch it; their
        // fields are read up to 2 µm further (fibre direction). Anything outside the
        // cache falls back to direct evaluation, with identical values.
        let canvas_um = |margin_um: f64| RectUm {
            x0: mpp.px_to_um(canvas.x0 as f64) - margin_um,
            y0: mpp.px_to_um(canvas.y0 as f64) - margin_um,
            x1: mpp.px_to_um((canvas.x0 + canvas.width as i64) as f64) + margin_um,
            y1: mpp.px_to_um((canvas.y0 + canvas.height as i64) as f64) + margin_um,
        };
        let cache = NodeCache::new(&self.layout, canvas_um(NUCLEUS_REACH_UM + 3.0));
        let sites = Sites::new(self.opts.seed, canvas_um(NUCLEUS_REACH_UM));
        let mut alpha = vec![0f32; canvas.width * canvas.height];
        self.paint_background(&mut canvas, &mut alpha, &cache, &sites);

        let figures = self.index.query(
            &self.figures,
            canvas.x0 as f64 - self.scale.px(NUCLEUS_REACH_UM + CELL_UM),
            canvas.y0 as f64 - self.scale.px(NUCLEUS_REACH_UM + CELL_UM),
            (canvas.x0 + canvas.width as i64) as f64 + self.scale.px(NUCLEUS_REACH_UM + CELL_UM),
            (canvas.y0 + canvas.height as i64) as f64 + self.scale.px(NUCLEUS_REACH_UM + CELL_UM),
        );
        for &i in &figures {
            self.figures[i].paint_body(&mut canvas, &self.iso);
        }
        self.paint_nuclei(&mut canvas, &cache, &sites, &figures);
        for &i in &figures {
            self.figures[i].paint_chromatin(&mut canvas, &self.iso);
        }
        for ((hv, ev), a) in canvas.h.iter_mut().zip(canvas.e.iter_mut()).zip(&alpha) {
            *hv *= a;
            *ev *= a;
        }
        let hp = blur_crop(&canvas.h, canvas.width, canvas.height, &self.blur);
        let ep = blur_crop(&canvas.e, canvas.width, canvas.height, &self.blur);
        self.to_rgb(&hp, &ep, (x0_px, y0_px), (width, height))
    }

    /// Stroma, cytoplasm, cell borders and tissue coverage of every canvas pixel.
    fn paint_background(
        &self,
        canvas: &mut Canvas,
        alpha: &mut [f32],
        cache: &NodeCache,
        sites: &Sites,
    ) {
        let mpp = self.opts.mpp.um_per_px();
        for row in 0..canvas.height {
            let y_um = ((canvas.y0 + row as i64) as f64 + 0.5) * mpp;
            for col in 0..canvas.width {
                let x_um = ((canvas.x0 + col as i64) as f64 + 0.5) * mpp;
                let k = row * canvas.width + col;
                let f = cache.at_um(&self.layout, x_um, y_um);
                // Ragged edge at the µm scale on top of the smooth outline.
                let edge = f.tissue_sd_um + 1.6 * self.iso.sample(x_um / 0.7 + 91.0, y_um / 0.7);
                let a = smoothstep(-0.7, 0.7, edge);
                alpha[k] = a as f32;
                if a <= 0.0 {
                    continue;
                }
                let (h, e) = self.tissue_od(&f, x_um, y_um, sites);
                canvas.h[k] = h as f32;
                canvas.e[k] = e as f32;
            }
        }
    }

    /// Haematoxylin and eosin OD of the extracellular tissue at a point: collagen fibres
    /// in stroma, cytoplasm with cell borders in cellular areas.
    #[inline]
    fn tissue_od(&self, f: &FieldValues, x_um: f64, y_um: f64, sites: &Sites) -> (f64, f64) {
        // Collagen: an anisotropic texture, rotated and warped so the fibres wave, over a
        // coarser isotropic mottle; clefts (thin clear gaps between bundles) only where
        // the fibre texture is at its lowest.
        let qx = x_um + f.warp_x_um;
        let qy = y_um + f.warp_y_um;
        let fu = (self.fibre_cos * qx + self.fibre_sin * qy) / 0.25;
        let fv = (-self.fibre_sin * qx + self.fibre_cos * qy) / 0.25;
        let fibre = self.fibre.sample(fu, fv);
        let blotch = self.iso.sample(x_um / 2.5 + 53.0, y_um / 2.5 - 17.0);
        let cleft = smoothstep(1.6, 2.3, -fibre) * smoothstep(-0.3, 0.5, blotch);
        let stroma_e = 0.42 * (1.0 + 0.11 * fibre + 0.13 * blotch) * (1.0 - 0.6 * cleft);
        let stroma_h = 0.05 * (1.0 + 0.2 * blotch) * (1.0 - 0.6 * cleft);

        // Cytoplasm: granular, purple-pink, with faint cell borders (Voronoi edges between
        // the cell centres), a few retracted into thin clear gaps.
        let mottle = self.iso.sample(x_um / 0.6, y_um / 0.6 + 37.0);
        let mut cyto_e = 0.30 + 0.05 * mottle + f.spindle * 0.05 * fibre;
        // Haematoxylin in the cytoplasm as on real slides: without it, any darker nucleus
        // stands out from a clean pink field, which the classifier reads as a mitosis.
        let mut cyto_h = 0.18 + 0.04 * mottle;
        let border_um = sites.border_distance_um(x_um, y_um);
        let border = (1.0 - smoothstep(0.1, 0.55, border_um)) * (1.0 - 0.8 * f.spindle);
        if border > 0.0 {
            let gap = smoothstep(0.6, 1.3, self.iso.sample(x_um / 3.0 + 11.0, y_um / 3.0));
            cyto_e += border * (0.07 * (1.0 - gap) - 0.2 * gap);
            cyto_h *= 1.0 - 0.7 * border * gap;
        }
        let c = f.cellularity;
        let h = (stroma_h + c * (cyto_h - stroma_h)) * f.stain_h;
        let e = (stroma_e + c * (cyto_e - stroma_e)) * f.stain_e;
        (h.max(0.0), e.max(0.0))
    }

    /// Optical density -> RGB with the stain vectors, background, and sensor noise.
    fn to_rgb(&self, hp: &[f32], ep: &[f32], origin: (u64, u64), size: (u32, u32)) -> RgbImage {
        let (w, h) = (size.0 as usize, size.1 as usize);
        let hv = self.stains.haematoxylin;
        let ev = self.stains.eosin;
        let noise_seed = subseed(self.opts.seed, purpose::NOISE);
        let lut_max = (self.od_lut.len() - 1) as f64;
        let mut out = vec![0u8; w * h * 3];
        for row in 0..h {
            let y = origin.1 as i64 + row as i64;
            for col in 0..w {
                let x = origin.0 as i64 + col as i64;
                let k = row * w + col;
                let (hc, ec) = (f64::from(hp[k]), f64::from(ep[k]));
                let n = hash2(noise_seed, x, y);
                for ch in 0..3 {
                    let od = hc * hv[ch] + ec * ev[ch] + BACKGROUND_OD[ch];
                    let idx = (od * OD_LUT_STEPS).clamp(0.0, lut_max) as usize;
                    let u1 = ((n >> (ch * 20)) & 0x3ff) as f64 / 1024.0;
                    let u2 = ((n >> (ch * 20 + 10)) & 0x3ff) as f64 / 1024.0;
                    let noisy = f64::from(self.od_lut[idx]) + (u1 + u2 - 1.0) * NOISE_LEVELS;
                    out[k * 3 + ch] = (noisy + 0.5).clamp(0.0, 255.0) as u8;
                }
            }
        }
        // The buffer has exactly width * height * 3 bytes, so this cannot fail.
        RgbImage::from_raw(size.0, size.1, out).unwrap_or_else(|| RgbImage::new(size.0, size.1))
    }
}

/// A normalised Gaussian kernel of standard deviation `sigma_px` (radius 3 sigma); a
/// single tap when sigma is below a quarter pixel.
pub(super) fn gaussian_kernel(sigma_px: f64) -> Vec<f32> {
    if sigma_px < 0.25 {
        return vec![1.0];
    }
    let radius = (3.0 * sigma_px).ceil() as i64;
    let raw: Vec<f64> = (-radius..=radius)
        .map(|i| (-(i * i) as f64 / (2.0 * sigma_px * sigma_px)).exp())
        .collect();
    let sum: f64 = raw.iter().sum();
    raw.iter().map(|v| (v / sum) as f32).collect()
}

/// Separable blur of a `width` x `height` plane, dropping the kernel radius on each side.
///
/// Loops run tap by tap over whole rows so they vectorise; each output pixel still sums
/// its taps in the same order, so the result does not depend on the plane's extent.
fn blur_crop(plane: &[f32], width: usize, height: usize, kernel: &[f32]) -> Vec<f32> {
    let r = kernel.len() / 2;
    let (ow, oh) = (width - 2 * r, height - 2 * r);
    let mut tmp = vec![0f32; ow * height];
    for y in 0..height {
        let src = &plane[y * width..(y + 1) * width];
        let dst = &mut tmp[y * ow..(y + 1) * ow];
        for (t, &kv) in kernel.iter().enumerate() {
            for (d, &s) in dst.iter_mut().zip(&src[t..t + ow]) {
                *d += kv * s;
            }
        }
    }
    let mut out = vec![0f32; ow * oh];
    for y in 0..oh {
        let dst = &mut out[y * ow..(y + 1) * ow];
        for (t, &kv) in kernel.iter().enumerate() {
            let src = &tmp[(y + t) * ow..(y + t + 1) * ow];
            for (d, &s) in dst.iter_mut().zip(src) {
                *d += kv * s;
            }
        }
    }
    out
}
