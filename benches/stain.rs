//! Stain separation throughput on one core.
//!
//! The input is a real H&E tile: the committed 128x128 tiatoolbox crop
//! (tests/data/stain/tiatoolbox_crop_128.png, BSD-3) tiled 16 x 16 in memory to
//! 2048 x 2048 px, so the bench needs nothing outside the repository. Throughput is in
//! pixels (criterion's "elem/s" = Mpx/s when read as Melem/s).
//!
//! Run: `nice -n 10 cargo bench --bench stain`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use image::RgbImage;
use mitocount::stain::{
    estimate_background, estimate_macenko, Deconvolver, MacenkoOptions, StainVectors,
};
use ndarray::Array2;
use std::hint::black_box;

fn real_tile(side_px: u32) -> RgbImage {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/stain/tiatoolbox_crop_128.png"
    );
    let crop = image::open(path)
        .expect("committed fixture tests/data/stain/tiatoolbox_crop_128.png")
        .to_rgb8();
    let (cw, ch) = crop.dimensions();
    RgbImage::from_fn(side_px, side_px, |x, y| *crop.get_pixel(x % cw, y % ch))
}

fn deconvolution(c: &mut Criterion) {
    let tile = real_tile(2048);
    let pixels = u64::from(tile.width()) * u64::from(tile.height());
    let d = Deconvolver::new(StainVectors::default_hed(), [241.0, 231.0, 236.0])
        .expect("default vectors are invertible");
    let mut group = c.benchmark_group("stain/rgb8_to_od_2048px");
    group.throughput(Throughput::Elements(pixels));
    let mut h = Array2::<f32>::zeros((2048, 2048));
    group.bench_function("h_plane_into", |b| {
        b.iter(|| d.h_plane_into(black_box(&tile), &mut h))
    });
    // Baseline: the same tables through the per-pixel API, one pixel at a time.
    group.bench_function("per_pixel_h_od_baseline", |b| {
        b.iter(|| {
            if let Some(out) = h.as_slice_mut() {
                for (o, px) in out.iter_mut().zip(black_box(&tile).pixels()) {
                    *o = d.h_od(px.0);
                }
            }
        })
    });
    group.bench_function("h_plane_alloc", |b| b.iter(|| d.h_plane(black_box(&tile))));
    let mut e = Array2::<f32>::zeros((2048, 2048));
    group.bench_function("h_and_e_planes_into", |b| {
        b.iter(|| d.h_and_e_planes_into(black_box(&tile), &mut h, &mut e))
    });
    group.finish();
}

fn estimation(c: &mut Criterion) {
    // A typical per-slide sample: 8 tissue fields of 512 x 512 px (2.1 Mpx).
    let field = real_tile(512);
    let samples: Vec<&RgbImage> = std::iter::repeat_n(&field, 8).collect();
    let pixels = 8 * 512 * 512;
    let mut group = c.benchmark_group("stain/estimate_8x512px");
    group.throughput(Throughput::Elements(pixels));
    group.sample_size(20);
    let opts = MacenkoOptions::default();
    group.bench_function("background", |b| {
        b.iter(|| estimate_background(black_box(&samples)))
    });
    group.bench_function("macenko", |b| {
        b.iter(|| estimate_macenko(black_box(&samples), [241.0, 231.0, 236.0], &opts))
    });
    group.finish();
}

criterion_group!(benches, deconvolution, estimation);
criterion_main!(benches);
