//! Mitosis detection throughput on one core, next to the JPEG decode of the same pixels.
//!
//! The input is a real 40x H&E region: tiatoolbox's `target_image.png` (1000 x 1000 px,
//! dense carcinoma, about 0.25 µm/px; BSD-3), committed as
//! `tests/data/detect/tiatoolbox_target_q90.jpg` and mirrored 2 x 2 to one 500 µm field
//! (2000 x 2000 px), so the bench needs nothing outside the repository. Setup re-encodes it with `jpeg-encoder` at quality 80 (4:2:0, like slide
//! tiles); the baseline decodes that JPEG with `zune-jpeg`. The detector runs on the
//! decoded pixels as the pipeline does: one field with a white halo of `halo_um`, at
//! 0.25 µm/px, nucleus statistics merged and candidates classified. Throughput counts
//! the 4 Mpx of level-0 tissue in the field's core (criterion's elem/s).
//!
//! Target: `detect_field` + the classifier no slower than the decode (not met: see the
//! README's performance section).
//!
//! Run: `nice -n 10 cargo bench --bench detect`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use image::RgbImage;
use mitocount::detect::cnn::{Classifier, ImagePlacement, Scratch};
use mitocount::detect::{self, DetectOptions, FieldImage};
use mitocount::stain::{Deconvolver, StainVectors};
use mitocount::units::Mpp;
use std::hint::black_box;

const MPP_UM: f64 = 0.25;

/// The region mirrored 2 x 2 into 2000 x 2000 px (500 µm, the pipeline's default field
/// side), so that the halo costs what it costs in the pipeline.
fn real_region() -> RgbImage {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/detect/tiatoolbox_target_q90.jpg"
    );
    let img = image::open(path)
        .expect("committed fixture tests/data/detect/tiatoolbox_target_q90.jpg")
        .to_rgb8();
    let (w, h) = img.dimensions();
    RgbImage::from_fn(2 * w, 2 * h, |x, y| {
        let sx = if x < w { x } else { 2 * w - 1 - x };
        let sy = if y < h { y } else { 2 * h - 1 - y };
        *img.get_pixel(sx, sy)
    })
}

fn encode_q80(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut out, 80);
    enc.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_2_0);
    enc.encode(
        img.as_raw(),
        img.width() as u16,
        img.height() as u16,
        jpeg_encoder::ColorType::Rgb,
    )
    .expect("in-memory JPEG encode");
    out
}

fn decode(jpeg: &[u8]) -> Vec<u8> {
    let mut d = zune_jpeg::JpegDecoder::new(zune_jpeg::zune_core::bytestream::ZCursor::new(jpeg));
    d.decode().expect("decode of our own JPEG")
}

/// The region padded with a white halo, as `Slide::read_region` returns a field.
fn with_halo(img: &RgbImage, halo_px: u32) -> RgbImage {
    let mut out = RgbImage::from_pixel(
        img.width() + 2 * halo_px,
        img.height() + 2 * halo_px,
        image::Rgb([255, 255, 255]),
    );
    image::imageops::replace(&mut out, img, i64::from(halo_px), i64::from(halo_px));
    out
}

fn detection(c: &mut Criterion) {
    let region = real_region();
    let jpeg = encode_q80(&region);
    let decoded = decode(&jpeg);
    let (w, h) = region.dimensions();
    let tile = RgbImage::from_raw(w, h, decoded).expect("decoded size");
    let opts = DetectOptions::default();
    let mpp = Mpp::new(MPP_UM).expect("valid mpp");
    let halo_px = mpp.um_to_px(detect::halo_um(&opts)).ceil() as u32;
    let field_rgb = with_halo(&tile, halo_px);
    let deconv =
        Deconvolver::new(StainVectors::default_hed(), [255.0; 3]).expect("default vectors");
    let field = FieldImage {
        rgb: &field_rgb,
        origin_x_px: -f64::from(halo_px),
        origin_y_px: -f64::from(halo_px),
        downsample: 1.0,
        mpp,
    };

    let classifier = Classifier::embedded().expect("embedded model");
    let place = ImagePlacement {
        origin_x_px: field.origin_x_px,
        origin_y_px: field.origin_y_px,
        downsample: 1.0,
    };
    // The classifier alone: candidates per second on one core.
    {
        let mut det = detect::detect_field(&field, &deconv, &opts);
        det.retain_core(0.0, 0.0, f64::from(w), f64::from(h));
        let points: Vec<(f64, f64)> = det.candidates.iter().map(|c| (c.x_px, c.y_px)).collect();
        let mut group = c.benchmark_group("classifier/tiatoolbox_candidates");
        group.throughput(Throughput::Elements(points.len() as u64));
        group.sample_size(10);
        group.bench_function("patches_and_network", |b| {
            b.iter(|| classifier.score_points(black_box(&field_rgb), place, MPP_UM, &points))
        });
        let side = classifier.input_px();
        let patch: Vec<u8> = (0..side * side * 3).map(|i| (i * 37 % 251) as u8).collect();
        group.throughput(Throughput::Elements(1));
        group.bench_function("network_one_patch", |b| {
            let (mut scratch, mut input) = (Scratch::default(), Vec::new());
            b.iter(|| classifier.probability(black_box(&patch), &mut scratch, &mut input))
        });
        group.finish();
    }

    let mut group = c.benchmark_group("detect/tiatoolbox_2000px_40x");
    group.throughput(Throughput::Elements(u64::from(w) * u64::from(h)));
    group.sample_size(20);
    group.bench_function("jpeg_decode_q80_zune_baseline", |b| {
        b.iter(|| decode(black_box(&jpeg)))
    });
    group.bench_function("detect_field_and_classifier", |b| {
        b.iter(|| {
            let mut det = detect::detect_field(black_box(&field), &deconv, &opts);
            det.retain_core(0.0, 0.0, f64::from(w), f64::from(h));
            det.score(&classifier, black_box(&field), mpp);
            detect::decide(&mut det.candidates, classifier.info().threshold, &opts);
            det.candidates.len()
        })
    });
    group.finish();
}

criterion_group!(benches, detection);
criterion_main!(benches);
