//! The ground-truth figures bucketed by centre (compressed rows), so that rendering a
//! region visits only the figures that may touch it.
//!
//! May use: the `synth` options and figures.

use crate::synth::objects::Figure;
use crate::synth::SynthOptions;

/// Buckets of the object index, µm.
pub(super) const BUCKET_UM: f64 = 64.0;

/// Ground-truth figures bucketed by centre for region queries (compressed rows).
#[derive(Debug, Clone)]
pub(super) struct ObjectIndex {
    bucket_px: f64,
    nx: usize,
    ny: usize,
    starts: Vec<u32>,
    items: Vec<u32>,
    max_reach_px: f64,
}

impl ObjectIndex {
    pub(super) fn new(figures: &[Figure], bucket_px: f64, opts: &SynthOptions) -> ObjectIndex {
        let nx = ((opts.width_px as f64 / bucket_px).ceil() as usize).max(1);
        let ny = ((opts.height_px as f64 / bucket_px).ceil() as usize).max(1);
        let bucket_of = |f: &Figure| {
            let bx = ((f.cx / bucket_px).floor().max(0.0) as usize).min(nx - 1);
            let by = ((f.cy / bucket_px).floor().max(0.0) as usize).min(ny - 1);
            by * nx + bx
        };
        let mut counts = vec![0u32; nx * ny + 1];
        for f in figures {
            counts[bucket_of(f) + 1] += 1;
        }
        for b in 0..nx * ny {
            counts[b + 1] += counts[b];
        }
        let starts = counts.clone();
        let mut fill = counts;
        let mut items = vec![0u32; figures.len()];
        for (i, f) in figures.iter().enumerate() {
            let b = bucket_of(f);
            items[fill[b] as usize] = i as u32;
            fill[b] += 1;
        }
        let max_reach_px = figures
            .iter()
            .map(|f| f.reach_px.max(f.exclusion_px))
            .fold(0.0, f64::max);
        ObjectIndex {
            bucket_px,
            nx,
            ny,
            starts,
            items,
            max_reach_px,
        }
    }

    /// Indices (ascending) of the figures that may touch the rectangle `[x0, x1) x [y0, y1)`.
    pub(super) fn query(
        &self,
        figures: &[Figure],
        x0: f64,
        y0: f64,
        x1: f64,
        y1: f64,
    ) -> Vec<usize> {
        let m = self.max_reach_px;
        let bx0 = ((x0 - m) / self.bucket_px).floor().max(0.0) as usize;
        let by0 = ((y0 - m) / self.bucket_px).floor().max(0.0) as usize;
        let bx1 = (((x1 + m) / self.bucket_px).floor().max(0.0) as usize).min(self.nx - 1);
        let by1 = (((y1 + m) / self.bucket_px).floor().max(0.0) as usize).min(self.ny - 1);
        let mut out = Vec::new();
        if bx0 > bx1 || by0 > by1 {
            return out;
        }
        for by in by0..=by1 {
            for bx in bx0..=bx1 {
                let b = by * self.nx + bx;
                for &i in &self.items[self.starts[b] as usize..self.starts[b + 1] as usize] {
                    let f = &figures[i as usize];
                    let r = f.reach_px.max(f.exclusion_px);
                    if f.cx + r >= x0 && f.cx - r <= x1 && f.cy + r >= y0 && f.cy - r <= y1 {
                        out.push(i as usize);
                    }
                }
            }
        }
        out.sort_unstable();
        out
    }
}
