//! Decode throughput of a JPEG-tiled slide read region by region (Mpx/s shown as
//! elements/s, one element per pixel), on 1 and 2 threads of a rayon pool.
//!
//! The slide is the real Aperio file `sample_tiles/CMU-1-Small-Region.svs` (2220x2967 px,
//! 240x240 JPEG tiles, quality 30). The tile cache is disabled so every iteration decodes
//! every tile once: regions are tile-aligned 480x480 px squares covering level 0.
//! Compare with libjpeg-turbo on the same tiles: `python3 scripts/bench_libjpeg_turbo.py`.

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mitocount::slide::{Limits, Slide};
use rayon::prelude::*;

fn regions(width: u64, height: u64, side: u32) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    for y in (0..height).step_by(side as usize) {
        for x in (0..width).step_by(side as usize) {
            out.push((x as i64, y as i64));
        }
    }
    out
}

fn decode_regions(c: &mut Criterion) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_tiles/CMU-1-Small-Region.svs");
    let no_cache = Limits {
        tile_cache_bytes: 0,
        ..Limits::default()
    };
    let slide = Slide::open_with_limits(&path, no_cache).expect("sample slide opens");
    let level = &slide.levels()[0];
    let (w, h) = (level.width_px, level.height_px);
    let side = 480u32;
    let rects = regions(w, h, side);
    let mut group = c.benchmark_group("slide_decode_cmu1_jpeg_240px_tiles");
    group.throughput(Throughput::Elements(w * h));
    group.sample_size(20);
    for threads in [1usize, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("rayon pool");
        group.bench_function(format!("read_region_480px_{threads}_threads"), |b| {
            b.iter(|| {
                pool.install(|| {
                    rects
                        .par_iter()
                        .map(|&(x, y)| {
                            let img = slide
                                .read_region(0, x, y, side, side)
                                .expect("region reads");
                            u64::from(img.as_raw()[0])
                        })
                        .sum::<u64>()
                })
            })
        });
    }
    group.finish();
    black_box(&slide);
}

/// JPEG 2000 (Aperio 33005) decoding of the TCGA slide's level 0, 1 thread, for scale.
fn decode_jpeg2000(c: &mut Criterion) {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/slides/tcga-cr-7395-01a-01-ts1.svs");
    let slide = Slide::open_with_limits(
        &path,
        Limits {
            tile_cache_bytes: 0,
            ..Limits::default()
        },
    )
    .expect("JPEG 2000 slide opens");
    let level = &slide.levels()[0];
    let (w, h) = (level.width_px, level.height_px);
    let mut group = c.benchmark_group("slide_decode_tcga_jpeg2000_256px_tiles");
    group.throughput(Throughput::Elements(w * h));
    group.sample_size(10);
    group.bench_function("read_level0_1_thread", |b| {
        b.iter(|| {
            slide
                .read_region(0, 0, 0, w as u32, h as u32)
                .expect("level reads")
        })
    });
    group.finish();
}

criterion_group!(benches, decode_regions, decode_jpeg2000);
criterion_main!(benches);
