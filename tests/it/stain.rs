//! Stain separation: agreement with scikit-image `rgb2hed`, Beer-Lambert round trips,
//! Macenko estimation on painted tissue, fallbacks, parsing, and no panics on any input.

use image::{Rgb, RgbImage};
use mitocount::stain::{
    angle_between_deg, estimate_background, estimate_macenko, optical_density, BackgroundSource,
    Deconvolver, FallbackReason, MacenkoOptions, StainMethod, StainSpec, StainVectors, TissueRule,
};
use mitocount::Error;
use proptest::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_distr::Normal;
use rand_pcg::Pcg64;
use std::path::Path;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/stain");

fn load_png(name: &str) -> RgbImage {
    image::open(Path::new(DATA).join(name)).unwrap().to_rgb8()
}

/// A `[rows, cols, 3]` float32 little-endian fixture written by scripts/fixtures/stain_reference.py.
fn load_f32(name: &str, rows: usize, cols: usize) -> Vec<[f32; 3]> {
    let bytes = std::fs::read(Path::new(DATA).join(name)).unwrap();
    assert_eq!(bytes.len(), rows * cols * 3 * 4, "{name}: wrong size");
    let floats: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    floats.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect()
}

/// DAB (third stain) OD of one pixel in f64, clamped at 0 as rgb2hed does.
fn dab_od(inv: &[[f64; 3]; 3], px: [u8; 3]) -> f64 {
    (0..3)
        .map(|c| optical_density(px[c], 255.0) * inv[c][2])
        .sum::<f64>()
        .max(0.0)
}

/// Max |ours / 6 - skimage| over H, E and DAB; pixels where `skip` is true are left out.
fn max_diff_vs_skimage(
    img: &RgbImage,
    reference: &[[f32; 3]],
    skip: impl Fn([u8; 3]) -> bool,
) -> (f64, usize) {
    let d = Deconvolver::new(StainVectors::default_hed(), [255.0; 3]).unwrap();
    let inv = StainVectors::default_hed().inverse().unwrap();
    let (h, e) = d.h_and_e_planes(img);
    let mut worst = 0f64;
    let mut compared = 0;
    for (i, (x, y, px)) in img.enumerate_pixels().enumerate() {
        if skip(px.0) {
            continue;
        }
        compared += 1;
        let (r, c) = (y as usize, x as usize);
        let want = reference[i];
        let got = [
            f64::from(h[[r, c]]) / 6.0,
            f64::from(e[[r, c]]) / 6.0,
            dab_od(&inv, px.0) / 6.0,
        ];
        for k in 0..3 {
            worst = worst.max((got[k] - f64::from(want[k])).abs());
        }
    }
    (worst, compared)
}

#[test]
fn matches_skimage_rgb2hed_on_a_real_tile() {
    let img = load_png("tiatoolbox_crop_128.png");
    assert_eq!(img.dimensions(), (128, 128));
    let reference = load_f32("tiatoolbox_crop_128.hed_skimage.f32", 128, 128);
    assert!(
        img.pixels().all(|p| p.0.iter().all(|&v| v > 0)),
        "no 0 samples"
    );
    let (worst, compared) = max_diff_vs_skimage(&img, &reference, |_| false);
    eprintln!("rgb2hed real tile: max |H/6, E/6, DAB/6 - skimage| = {worst:.3e}");
    assert_eq!(compared, 128 * 128);
    assert!(worst < 1e-4, "max difference {worst}");
    // The tile is not trivial: it holds strong haematoxylin and eosin.
    let max_h = reference.iter().map(|v| v[0]).fold(0f32, f32::max);
    let max_e = reference.iter().map(|v| v[1]).fold(0f32, f32::max);
    assert!(max_h > 0.1 && max_e > 0.05, "H {max_h} E {max_e}");
}

#[test]
fn matches_skimage_on_edge_cases_and_documents_zero_samples() {
    let img = load_png("edge_cases_64.png");
    let skimage = load_f32("edge_cases_64.hed_skimage.f32", 64, 64);
    let clamp05 = load_f32("edge_cases_64.hed_clamp05.f32", 64, 64);
    let has_zero = |px: [u8; 3]| px.contains(&0);
    let zero_pixels = img.pixels().filter(|p| has_zero(p.0)).count();
    // The grey ramp's 0, 256 * 3 ramps over zeros, three ramps reaching 0, random hits.
    assert!(zero_pixels > 768, "{zero_pixels}");
    let (worst, compared) = max_diff_vs_skimage(&img, &skimage, has_zero);
    eprintln!("rgb2hed edge cases without 0 samples: max diff {worst:.3e}");
    assert_eq!(compared + zero_pixels, 64 * 64);
    assert!(worst < 1e-4, "{worst}");
    // With a 0 sample we read intensity 0.5 (OD 2.71), scikit-image 1e-6 * 255 (OD 6):
    // we match the numpy reference of our rule, and differ from scikit-image there.
    let (worst, compared) = max_diff_vs_skimage(&img, &clamp05, |px| !has_zero(px));
    assert_eq!(compared, zero_pixels);
    assert!(worst < 1e-4, "{worst}");
    let black = img.pixels().position(|p| p.0 == [0, 0, 0]).unwrap();
    let d = Deconvolver::new(StainVectors::default_hed(), [255.0; 3]).unwrap();
    let ours = f64::from(d.h_od([0, 0, 0])) / 6.0;
    assert!(
        f64::from(skimage[black][0]) > 2.0 * ours,
        "documented difference at black"
    );
}

/// Paints `conc_h * h + conc_e * e` OD under background `i0`, rounding to 8 bits.
fn paint_od(i0: [f64; 3], od: [f64; 3]) -> [u8; 3] {
    [0, 1, 2].map(|c| (i0[c] * 10f64.powf(-od[c])).round().clamp(0.0, 255.0) as u8)
}

#[test]
fn beer_lambert_round_trip_recovers_concentrations_within_quantisation() {
    let mut rng = Pcg64::seed_from_u64(7);
    let cases = [
        (StainVectors::default_hed(), [255.0; 3]),
        (
            StainVectors::from_h_and_e([0.55, 0.75, 0.37], [0.20, 0.82, 0.54]).unwrap(),
            [241.0, 231.0, 236.0],
        ),
        (
            StainVectors::from_three([0.70, 0.65, 0.25], [0.05, 0.95, 0.30], [0.3, 0.6, 0.7])
                .unwrap(),
            [250.0, 250.0, 250.0],
        ),
    ];
    for (vectors, i0) in cases {
        let d = Deconvolver::new(vectors, i0).unwrap();
        let inv = vectors.inverse().unwrap();
        let mut worst_err = 0f64;
        let mut sum_err = 0f64;
        for _ in 0..5000 {
            let ch: f64 = rng.random_range(0.0..1.2);
            let ce: f64 = rng.random_range(0.0..1.0);
            let od = [0, 1, 2].map(|c| ch * vectors.haematoxylin[c] + ce * vectors.eosin[c]);
            let px = paint_od(i0, od);
            // Rounding to I moves the exact intensity by at most 0.5, hence each channel's
            // OD by at most log10(I / (I - 0.5)); painted intensities stay above 3.
            assert!(px.iter().all(|&v| v >= 2), "{px:?}");
            let delta = [0, 1, 2].map(|c| {
                let i = f64::from(px[c]);
                (i / (i - 0.5)).log10()
            });
            let bound_h: f64 = (0..3).map(|c| inv[c][0].abs() * delta[c]).sum::<f64>() + 1e-5;
            let bound_e: f64 = (0..3).map(|c| inv[c][1].abs() * delta[c]).sum::<f64>() + 1e-5;
            let err_h = (f64::from(d.h_od(px)) - ch).abs();
            let err_e = (f64::from(d.e_od(px)) - ce).abs();
            assert!(
                err_h <= bound_h,
                "H {ch} E {ce} px {px:?}: H err {err_h} > {bound_h}"
            );
            assert!(
                err_e <= bound_e,
                "H {ch} E {ce} px {px:?}: E err {err_e} > {bound_e}"
            );
            worst_err = worst_err.max(err_h.max(err_e));
            sum_err += err_h + err_e;
        }
        // Quantisation errors are small: a few hundredths at worst (darkest pixels), a few
        // thousandths on average.
        let mean_err = sum_err / 10_000.0;
        eprintln!("round trip {vectors}: worst {worst_err:.4} OD, mean {mean_err:.5} OD");
        assert!(worst_err < 0.1 && mean_err < 0.01, "{worst_err} {mean_err}");
    }
}

// ---------------------------------------------------------------------------------------
// Painted tissue for Macenko estimation.

fn unit(v: [f64; 3]) -> [f64; 3] {
    let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    v.map(|x| x / n)
}

/// `v` rotated by `angle_deg` towards a random direction, staying in the positive octant.
fn perturb(rng: &mut Pcg64, v: [f64; 3], angle_deg: f64) -> [f64; 3] {
    let v = unit(v);
    loop {
        let r = [0; 3].map(|_| rng.random_range(-1.0..1.0));
        let d: f64 = (0..3).map(|k| r[k] * v[k]).sum();
        let ortho = [0, 1, 2].map(|k| r[k] - d * v[k]);
        let n = (0..3).map(|k| ortho[k] * ortho[k]).sum::<f64>().sqrt();
        if n < 1e-3 {
            continue;
        }
        let (s, c) = angle_deg.to_radians().sin_cos();
        let w = [0, 1, 2].map(|k| c * v[k] + s * ortho[k] / n);
        if w.iter().all(|&x| x > 0.01) {
            return w;
        }
    }
}

/// A tissue-like image: glass at `i0`, eosin stroma with a trace of haematoxylin, round
/// nuclei of haematoxylin with a little eosin, Gaussian noise (sigma 2 levels).
fn paint_tissue(rng: &mut Pcg64, h: [f64; 3], e: [f64; 3], i0: [f64; 3], size: u32) -> RgbImage {
    let n = size as usize;
    let mut conc_h = vec![0f64; n * n];
    let mut conc_e = vec![0f64; n * n];
    let (p1, p2): (f64, f64) = (rng.random_range(0.0..6.0), rng.random_range(0.0..6.0));
    for y in 0..n {
        for x in 0..n {
            let f = (x as f64 / 17.0 + p1).sin() * (y as f64 / 23.0 + p2).cos();
            if f > -0.3 {
                conc_e[y * n + x] = 0.3 + 0.5 * (f + 0.3) / 1.3;
                conc_h[y * n + x] = 0.03;
            }
        }
    }
    for _ in 0..(n * n / 1100) {
        let cx: f64 = rng.random_range(0.0..n as f64);
        let cy: f64 = rng.random_range(0.0..n as f64);
        let r: f64 = rng.random_range(3.0..9.0);
        let ch: f64 = rng.random_range(0.5..1.3);
        for y in 0..n {
            for x in 0..n {
                if (x as f64 - cx).powi(2) + (y as f64 - cy).powi(2) < r * r {
                    conc_h[y * n + x] = ch;
                    conc_e[y * n + x] = 0.2 * conc_e[y * n + x] + 0.05;
                }
            }
        }
    }
    let noise = Normal::new(0.0, 2.0).unwrap();
    RgbImage::from_fn(size, size, |x, y| {
        let k = y as usize * n + x as usize;
        let od = [0, 1, 2].map(|c| conc_h[k] * h[c] + conc_e[k] * e[c]);
        Rgb([0, 1, 2].map(|c| {
            let v = i0[c] * 10f64.powf(-od[c]) + rng.sample(noise);
            v.round().clamp(0.0, 255.0) as u8
        }))
    })
}

fn jpeg_round_trip(img: &RgbImage, quality: u8) -> RgbImage {
    let mut buf = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, quality)
        .encode_image(img)
        .unwrap();
    image::load_from_memory(&buf).unwrap().to_rgb8()
}

#[test]
fn macenko_recovers_20_perturbed_stains_within_5_degrees() {
    let mut rng = Pcg64::seed_from_u64(2009);
    let reference = StainVectors::default_hed();
    let i0 = [245.0, 240.0, 243.0];
    let mut worst: (f64, f64) = (0.0, 0.0);
    for trial in 0..20 {
        let dev_h: f64 = rng.random_range(0.0..15.0);
        let dev_e: f64 = rng.random_range(0.0..15.0);
        let h = perturb(&mut rng, reference.haematoxylin, dev_h);
        let e = perturb(&mut rng, reference.eosin, dev_e);
        let mut img = paint_tissue(&mut rng, h, e, i0, 256);
        if trial % 2 == 1 {
            img = jpeg_round_trip(&img, 90);
        }
        let bg = estimate_background(&[&img]);
        assert_eq!(bg.source, BackgroundSource::Measured, "trial {trial}");
        for (got, want) in bg.rgb.iter().zip(i0) {
            assert!((got - want).abs() <= 3.0, "trial {trial}: I0 {:?}", bg.rgb);
        }
        let est = estimate_macenko(&[&img], bg.rgb, &MacenkoOptions::default()).unwrap();
        assert_eq!(est.method, StainMethod::Macenko, "trial {trial}");
        let v = est.vectors;
        let err_h = angle_between_deg(v.haematoxylin, h);
        let err_e = angle_between_deg(v.eosin, e);
        assert!(
            err_h < 5.0 && err_e < 5.0,
            "trial {trial}: H off by {err_h:.2} deg, E by {err_e:.2} deg ({v})"
        );
        // The right way round: H nearer the true H than the true E, and vice versa.
        assert!(angle_between_deg(v.haematoxylin, h) < angle_between_deg(v.haematoxylin, e));
        assert!(angle_between_deg(v.eosin, e) < angle_between_deg(v.eosin, h));
        for row in [v.haematoxylin, v.eosin] {
            assert!(row.iter().all(|&x| x >= 0.0));
            assert!((row.iter().map(|x| x * x).sum::<f64>() - 1.0).abs() < 1e-9);
        }
        worst = (worst.0.max(err_h), worst.1.max(err_e));
    }
    eprintln!(
        "Macenko on 20 perturbations: worst H error {:.2} deg, worst E error {:.2} deg",
        worst.0, worst.1
    );
}

#[test]
fn macenko_is_deterministic_and_uses_the_background() {
    let mut rng = Pcg64::seed_from_u64(11);
    let h = unit([0.60, 0.72, 0.35]);
    let e = unit([0.15, 0.90, 0.40]);
    let img = paint_tissue(&mut rng, h, e, [238.0, 228.0, 235.0], 300);
    let opts = MacenkoOptions {
        max_examined_pixels: 40_000, // forces a stride
        ..MacenkoOptions::default()
    };
    let a = estimate_macenko(&[&img, &img], [238.0, 228.0, 235.0], &opts).unwrap();
    let b = estimate_macenko(&[&img, &img], [238.0, 228.0, 235.0], &opts).unwrap();
    assert_eq!(a, b);
    assert!(
        angle_between_deg(a.vectors.haematoxylin, h) < 5.0,
        "{}",
        a.vectors
    );
    assert!(
        a.tissue_pixels <= 40_000 && a.tissue_pixels > 5000,
        "{}",
        a.tissue_pixels
    );
}

#[test]
fn all_channels_rule_misses_pure_eosin() {
    // Documents why OdNorm is the default: with the Ruifrok eosin vector, stroma never has
    // red OD >= 0.15, so the all-channel rule never sees pure eosin.
    let mut rng = Pcg64::seed_from_u64(3);
    let v = StainVectors::default_hed();
    let (h, e) = (unit(v.haematoxylin), unit(v.eosin));
    let img = paint_tissue(&mut rng, h, e, [255.0; 3], 256);
    let norm = estimate_macenko(&[&img], [255.0; 3], &MacenkoOptions::default()).unwrap();
    let all = MacenkoOptions {
        tissue_rule: TissueRule::AllChannels,
        ..MacenkoOptions::default()
    };
    let all = estimate_macenko(&[&img], [255.0; 3], &all).unwrap();
    let err_norm = angle_between_deg(norm.vectors.eosin, e);
    let err_all = angle_between_deg(all.vectors.eosin, e);
    eprintln!("eosin error: OdNorm {err_norm:.2} deg, AllChannels {err_all:.2} deg");
    assert!(err_norm < 3.0 && err_all > 10.0, "{err_norm} {err_all}");
}

#[test]
fn blank_white_image_falls_back_to_defaults() {
    let white = RgbImage::from_pixel(256, 256, Rgb([255, 255, 255]));
    let bg = estimate_background(&[&white]);
    assert_eq!(bg.source, BackgroundSource::Measured);
    assert_eq!(bg.rgb, [255.0; 3]);
    let est = estimate_macenko(&[&white], bg.rgb, &MacenkoOptions::default()).unwrap();
    assert_eq!(est.vectors, StainVectors::default_hed());
    assert_eq!(est.tissue_pixels, 0);
    assert_eq!(
        est.method,
        StainMethod::FallbackDefault {
            reason: FallbackReason::TooFewTissuePixels {
                found: 0,
                required: 5000
            }
        }
    );
    assert!(est.method.to_string().contains("too little tissue"));
    let est = estimate_macenko(&[], [255.0; 3], &MacenkoOptions::default()).unwrap();
    assert!(matches!(est.method, StainMethod::FallbackDefault { .. }));
}

#[test]
fn stroma_only_falls_back_or_stays_near_the_reference() {
    // Eosin alone: no haematoxylin to find. Whatever the estimate does, it must not swap
    // stains or invent a haematoxylin far from plausible.
    let mut rng = Pcg64::seed_from_u64(5);
    let e = unit(StainVectors::default_hed().eosin);
    let noise = Normal::new(0.0, 2.0).unwrap();
    let img = RgbImage::from_fn(200, 200, |x, y| {
        let c = 0.3 + 0.6 * ((x as f64 / 13.0).sin() * (y as f64 / 7.0).cos()).abs();
        Rgb([0, 1, 2].map(|k| {
            (255.0 * 10f64.powf(-c * e[k]) + rng.sample(noise))
                .round()
                .clamp(0.0, 255.0) as u8
        }))
    });
    let est = estimate_macenko(&[&img], [255.0; 3], &MacenkoOptions::default()).unwrap();
    match est.method {
        StainMethod::FallbackDefault { .. } => {}
        StainMethod::Macenko => {
            let v = est.vectors;
            assert!(angle_between_deg(v.eosin, e) < 10.0, "{v}");
            assert!(angle_between_deg(v.haematoxylin, [0.65, 0.70, 0.29]) <= 35.0);
        }
        other => panic!("{other:?}"),
    }
    eprintln!("stroma only: {}", est.method);
}

#[test]
fn stain_spec_parse_errors_name_the_flag() {
    for bad in [
        "sometimes",
        "H:0.65,0.70,0.29",
        "H:0.65,0.70,0.29;E:0.65,0.70,0.29",
        "H:a,b,c;E:0.07,0.99,0.11",
        "H:0.65,0.70,0.29;E:0.07,0.99",
    ] {
        match StainSpec::parse(bad) {
            Err(Error::InvalidOption { flag, reason }) => {
                assert_eq!(flag, "--stains", "{bad}");
                assert!(reason.contains("auto"), "{reason}");
            }
            other => panic!("{bad:?} -> {other:?}"),
        }
    }
    assert!(matches!(StainSpec::parse("auto"), Ok(StainSpec::Auto)));
    let spec = StainSpec::parse("H:0.65,0.70,0.29;E:0.07,0.99,0.11").unwrap();
    let est = spec
        .resolve(&[], [255.0; 3], &MacenkoOptions::default())
        .unwrap();
    assert_eq!(est.method, StainMethod::UserGiven);
    assert!(Deconvolver::new(est.vectors, [255.0; 3]).is_ok());
}

#[test]
fn real_tile_estimate_is_plausible() {
    // No ground truth on real tissue, but the estimate must be Macenko, H&E the right way
    // round, and close to published H&E estimates (H within 20 degrees of rgb2hed's).
    let img = load_png("tiatoolbox_crop_128.png");
    let bg = estimate_background(&[&img]);
    let est = estimate_macenko(&[&img], bg.rgb, &MacenkoOptions::default()).unwrap();
    assert_eq!(est.method, StainMethod::Macenko, "{:?}", est.method);
    let v = est.vectors;
    let reference = StainVectors::default_hed();
    assert!(
        angle_between_deg(v.haematoxylin, reference.haematoxylin) < 20.0,
        "{v}"
    );
    assert!(
        angle_between_deg(v.haematoxylin, reference.haematoxylin)
            < angle_between_deg(v.haematoxylin, reference.eosin)
    );
    // Nuclei light up in H, not in E.
    let d = Deconvolver::new(v, bg.rgb).unwrap();
    let (h, e) = d.h_and_e_planes(&img);
    let dark: Vec<usize> = (0..128 * 128)
        .filter(|&i| {
            let p = img.as_raw();
            u32::from(p[3 * i]) + u32::from(p[3 * i + 1]) + u32::from(p[3 * i + 2]) < 250
        })
        .collect();
    assert!(!dark.is_empty());
    let hs = h.as_slice().unwrap();
    let es = e.as_slice().unwrap();
    let mean = |s: &[f32]| dark.iter().map(|&i| f64::from(s[i])).sum::<f64>() / dark.len() as f64;
    assert!(mean(hs) > 2.0 * mean(es), "H {} E {}", mean(hs), mean(es));
    eprintln!(
        "real tile: I0 {:?}, {} tissue px, {v}",
        bg.rgb, est.tissue_pixels
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn deconvolution_never_panics_and_is_finite(
        w in 0u32..24,
        h in 0u32..24,
        seed in any::<u64>(),
        i0 in prop::array::uniform3(1.0f64..=255.0),
    ) {
        let mut rng = Pcg64::seed_from_u64(seed);
        let img = RgbImage::from_fn(w, h, |_, _| Rgb([rng.random(), rng.random(), rng.random()]));
        let d = Deconvolver::new(StainVectors::default_hed(), i0).unwrap();
        let (hp, ep) = d.h_and_e_planes(&img);
        prop_assert_eq!(hp.dim(), (h as usize, w as usize));
        prop_assert!(hp.iter().chain(ep.iter()).all(|v| v.is_finite() && *v >= 0.0));
    }

    #[test]
    fn estimation_never_panics_on_any_rgb(
        w in 0u32..48,
        h in 0u32..48,
        seed in any::<u64>(),
        i0 in prop::array::uniform3(1.0f64..=255.0),
        palette in prop::collection::vec(prop::array::uniform3(any::<u8>()), 1..6),
    ) {
        let mut rng = Pcg64::seed_from_u64(seed);
        // Few colours make the degenerate cases (one colour, two colours) likely.
        let img = RgbImage::from_fn(w, h, |_, _| Rgb(palette[rng.random_range(0..palette.len())]));
        let bg = estimate_background(&[&img]);
        prop_assert!(bg.rgb.iter().all(|v| (215.0..=255.0).contains(v)));
        let opts = MacenkoOptions { min_tissue_pixels: 10, ..MacenkoOptions::default() };
        let est = estimate_macenko(&[&img, &img], i0, &opts).unwrap();
        for row in est.vectors.matrix() {
            prop_assert!(row.iter().all(|v| v.is_finite()));
        }
        prop_assert!(Deconvolver::new(est.vectors, i0).is_ok());
    }

    #[test]
    fn parsing_never_panics_and_accepted_vectors_deconvolve(text in ".{0,60}", nums in prop::array::uniform6(-2.0f64..2.0)) {
        let _ = StainSpec::parse(&text);
        let spec = format!("H:{},{},{};E:{},{},{}", nums[0], nums[1], nums[2], nums[3], nums[4], nums[5]);
        if let Ok(StainSpec::Vectors(v)) = StainSpec::parse(&spec) {
            prop_assert!(Deconvolver::new(v, [255.0; 3]).is_ok());
        }
    }
}

/// Macenko estimation on synthetic slides painted with perturbed stain vectors (the
/// `synth` generator's `--stain perturbed` default, 5 to 10 degrees from the reference
/// vectors, sampled as four 256 µm squares):
/// H recovered within 5 degrees and E within 7.5, the right way round, on 20 seeds. E is
/// the looser: its extreme angle comes from the purest eosin pixels, and on a slide that
/// is mostly cellular those are cytoplasm, which holds some haematoxylin as on real
/// slides (worst of the 20 seeds 7.0 degrees since `synth` draws it so; most below 3).
#[test]
fn estimation_recovers_synth_perturbed_vectors_on_20_seeds() {
    use mitocount::synth::{SynthOptions, SynthScene, SynthStains};
    let mut worst = (0.0f64, 0.0f64);
    for seed in 1..=20u64 {
        let opts = SynthOptions {
            width_px: 2048,
            height_px: 2048,
            seed,
            stains: SynthStains::Perturbed {
                max_angle_deg: 10.0,
            },
            ..SynthOptions::default()
        };
        let scene = SynthScene::new(&opts).unwrap();
        let truth = scene.stain_vectors();
        // Samples as the pipeline takes them: squares spread over the slide.
        let tiles: Vec<RgbImage> = (0..2)
            .flat_map(|r| (0..2).map(move |c| (r, c)))
            .map(|(r, c)| scene.render_region(c * 1024, r * 1024, 1024, 1024))
            .collect();
        let refs: Vec<&RgbImage> = tiles.iter().collect();
        let bg = estimate_background(&refs);
        let est = estimate_macenko(&refs, bg.rgb, &MacenkoOptions::default()).unwrap();
        assert!(
            matches!(est.method, StainMethod::Macenko),
            "seed {seed}: {:?}",
            est.method
        );
        let h_err = angle_between_deg(est.vectors.haematoxylin, truth.haematoxylin);
        let e_err = angle_between_deg(est.vectors.eosin, truth.eosin);
        // The right way round: each estimate is nearer its own stain than the other.
        assert!(h_err < angle_between_deg(est.vectors.haematoxylin, truth.eosin));
        assert!(e_err < angle_between_deg(est.vectors.eosin, truth.haematoxylin));
        assert!(
            h_err < 5.0 && e_err < 7.5,
            "seed {seed}: H {h_err:.2}°, E {e_err:.2}°"
        );
        worst = (worst.0.max(h_err), worst.1.max(e_err));
    }
    eprintln!("worst angle errors: H {:.2}°, E {:.2}°", worst.0, worst.1);
}
