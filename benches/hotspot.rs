//! Hot-spot search: 10,000 mitoses on a 100,000 x 80,000 px slide (0.25 µm/px, 25 x 20 mm),
//! with an elliptical tissue mask with holes at downsample 64 (1563 x 1250 mask px), and
//! without a tissue test. Run with `nice -n 10 cargo bench --bench hotspot`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mitocount::hotspot::{find_hotspot, HotspotOptions};
use mitocount::tiling::TissueMask;
use mitocount::units::Mpp;
use ndarray::Array2;
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;
use std::hint::black_box;

const SLIDE: (u64, u64) = (100_000, 80_000);

/// An ellipse of tissue filling most of the slide, with three round holes (vessels, tears).
fn tissue_mask(d: f64) -> TissueMask {
    let cols = (SLIDE.0 as f64 / d).ceil() as usize;
    let rows = (SLIDE.1 as f64 / d).ceil() as usize;
    let (cx, cy) = (SLIDE.0 as f64 / 2.0, SLIDE.1 as f64 / 2.0);
    let (rx, ry) = (0.45 * SLIDE.0 as f64, 0.45 * SLIDE.1 as f64);
    let holes = [
        (30_000.0, 30_000.0, 6_000.0),
        (60_000.0, 50_000.0, 9_000.0),
        (70_000.0, 25_000.0, 4_000.0),
    ];
    let mask = Array2::from_shape_fn((rows, cols), |(r, c)| {
        let (x, y) = ((c as f64 + 0.5) * d, (r as f64 + 0.5) * d);
        let inside = ((x - cx) / rx).powi(2) + ((y - cy) / ry).powi(2) <= 1.0;
        inside
            && holes
                .iter()
                .all(|&(hx, hy, hr)| (x - hx).hypot(y - hy) > hr)
    });
    TissueMask::new(mask, d)
}

/// 10,000 points: 70 % uniform over the slide, 30 % in a few Gaussian-ish clusters.
fn points(n: usize) -> Vec<[f64; 2]> {
    let mut rng = Pcg64::seed_from_u64(7);
    let clusters = [
        (40_000.0, 40_000.0),
        (62_000.0, 35_000.0),
        (25_000.0, 55_000.0),
    ];
    (0..n)
        .map(|i| {
            if i % 10 < 7 {
                [
                    rng.random::<f64>() * SLIDE.0 as f64,
                    rng.random::<f64>() * SLIDE.1 as f64,
                ]
            } else {
                let (cx, cy) = clusters[i % clusters.len()];
                let r = 4_000.0 * rng.random::<f64>().sqrt();
                let a = rng.random::<f64>() * std::f64::consts::TAU;
                [cx + r * a.cos(), cy + r * a.sin()]
            }
        })
        .collect()
}

fn bench_hotspot(c: &mut Criterion) {
    let mpp = Mpp::new(0.25).expect("valid mpp");
    let pts = points(10_000);
    let mask64 = tissue_mask(64.0);
    let mask32 = tissue_mask(32.0);
    let all = TissueMask::all_tissue(SLIDE.0, SLIDE.1, 64.0);
    let opts = HotspotOptions::default();
    let mut g = c.benchmark_group("hotspot");
    g.throughput(Throughput::Elements(pts.len() as u64));
    g.sample_size(20);
    g.bench_function("10k_points_100kx80k_mask_d64", |b| {
        b.iter(|| find_hotspot(black_box(&pts), &mask64, SLIDE, mpp, &opts))
    });
    g.bench_function("10k_points_100kx80k_mask_d32", |b| {
        b.iter(|| find_hotspot(black_box(&pts), &mask32, SLIDE, mpp, &opts))
    });
    g.bench_function("10k_points_100kx80k_no_tissue_test", |b| {
        b.iter(|| find_hotspot(black_box(&pts), &all, SLIDE, mpp, &opts))
    });
    g.finish();
}

criterion_group!(benches, bench_hotspot);
criterion_main!(benches);
