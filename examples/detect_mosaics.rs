//! Development harness for the detector on real-mitosis mosaics (see
//! `training/`): runs `detect_field` on each PNG as the pipeline does (one
//! field with a white halo, or fields of `--field-um` with the detector's halo), merges
//! the nucleus statistics, scores every candidate with the embedded classifier (or
//! `--model FILE`) and decides, and writes `<stem>.detections.csv` into `--out` with every
//! candidate (class column says which are mitotic figures; `det_*` is where it was
//! detected, before pair merging) and its features. `training/prepare.py` takes the
//! candidates' positions from it.
//!
//! Usage: cargo run --release --example detect_mosaics -- --mpp 0.25 --out DIR a.png b.png
//!        [--field-um 400]

use std::io::Write;
use std::path::PathBuf;

use mitocount::detect::cnn::Classifier;
use mitocount::detect::{self, DetectOptions, FieldImage};
use mitocount::slide::crop_with_white;
use mitocount::stain::{
    estimate_background, estimate_macenko, Deconvolver, MacenkoOptions, StainVectors,
};
use mitocount::units::Mpp;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut mpp_um = 0.25;
    let mut out = PathBuf::from("target/real_mitoses/out");
    let mut field_um: Option<f64> = None;
    let mut stains = String::from("auto");
    let mut inputs = Vec::new();
    let mut overrides = serde_json::Map::new();
    let mut model: Option<PathBuf> = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--mpp" => mpp_um = args.next().ok_or("--mpp needs a value")?.parse()?,
            "--out" => out = PathBuf::from(args.next().ok_or("--out needs a value")?),
            "--set" => {
                // name=value, value parsed as JSON (a number).
                let kv = args.next().ok_or("--set needs name=value")?;
                let (k, v) = kv.split_once('=').ok_or("--set needs name=value")?;
                overrides.insert(k.to_string(), serde_json::from_str(v)?);
            }
            "--model" => model = Some(PathBuf::from(args.next().ok_or("--model needs a file")?)),
            "--stains" => stains = args.next().ok_or("--stains needs auto or default")?,
            "--field-um" => {
                field_um = Some(args.next().ok_or("--field-um needs a value")?.parse()?)
            }
            _ => inputs.push(PathBuf::from(a)),
        }
    }
    std::fs::create_dir_all(&out)?;
    let mpp = Mpp::new(mpp_um)?;
    let mut value = serde_json::to_value(DetectOptions::default())?;
    if let Some(map) = value.as_object_mut() {
        for (k, v) in overrides {
            if !map.contains_key(&k) {
                return Err(format!("unknown option {k}").into());
            }
            map.insert(k, v);
        }
    }
    let opts: DetectOptions = serde_json::from_value(value)?;
    opts.validate()?;
    let classifier = Classifier::load(model.as_deref())?;
    let halo_um = detect::halo_um(&opts).max(classifier.reach_um(mpp.um_per_px(), 1.0));
    let halo_px = mpp.um_to_px(halo_um).ceil() as i64;
    for path in inputs {
        let img = image::open(&path)?.into_rgb8();
        // Stains as `mitocount count --stains auto` (the default) or `default` would:
        // background I0 and Macenko vectors estimated from the image itself.
        let deconv = match stains.as_str() {
            "default" => Deconvolver::new(StainVectors::default_hed(), [255.0; 3])?,
            _ => {
                let bg = estimate_background(&[&img]);
                let est = estimate_macenko(&[&img], bg.rgb, &MacenkoOptions::default())?;
                Deconvolver::new(est.vectors, bg.rgb)?
            }
        };
        let (w, h) = (i64::from(img.width()), i64::from(img.height()));
        let field_px = field_um.map_or(w.max(h), |f| mpp.um_to_px(f).round() as i64);
        let start = std::time::Instant::now();
        let mut candidates = Vec::new();
        let mut stats = detect::NucleusStats::default();
        let mut y0 = 0;
        while y0 < h {
            let mut x0 = 0;
            while x0 < w {
                let (x1, y1) = ((x0 + field_px).min(w), (y0 + field_px).min(h));
                let rx = x0 - halo_px;
                let ry = y0 - halo_px;
                let rw = (x1 - x0 + 2 * halo_px) as u32;
                let rh = (y1 - y0 + 2 * halo_px) as u32;
                let region = crop_with_white(&img, rx, ry, rw, rh);
                let field = FieldImage {
                    rgb: &region,
                    origin_x_px: rx as f64,
                    origin_y_px: ry as f64,
                    downsample: 1.0,
                    mpp,
                };
                let mut det = detect::detect_field(&field, &deconv, &opts);
                det.retain_core(x0 as f64, y0 as f64, x1 as f64, y1 as f64);
                det.score(&classifier, &field, mpp);
                candidates.extend(det.candidates);
                stats.merge(&det.stats);
                x0 = x1;
            }
            y0 += field_px;
        }
        candidates.sort_by(|a, b| a.y_px.total_cmp(&b.y_px).then(a.x_px.total_cmp(&b.x_px)));
        let detected: Vec<(f64, f64, f64, f64)> = candidates
            .iter()
            .map(|c| (c.x_px, c.y_px, c.x_um, c.y_um))
            .collect();
        detect::decide(&mut candidates, classifier.info().threshold, &opts);
        let elapsed = start.elapsed();
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("image");
        let csv_path = out.join(format!("{stem}.detections.csv"));
        let mut f = std::io::BufWriter::new(std::fs::File::create(&csv_path)?);
        write!(
            f,
            "x_px,y_px,x_um,y_um,score,class,pairing,det_x_px,det_y_px,det_x_um,det_y_um"
        )?;
        if let Some(c) = candidates.first() {
            for (name, _) in c.features.named() {
                write!(f, ",{name}")?;
            }
        }
        writeln!(
            f,
            ",mean_h_p25,mean_h_p75,mean_h_p90,max_h_p25,max_h_p75,max_h_p90"
        )?;
        let q = |mean: bool, p: f64| {
            if mean {
                stats.mean_h_quantile(p).unwrap_or(0.3)
            } else {
                stats.max_h_quantile(p).unwrap_or(0.45)
            }
        };
        let quantiles = [
            q(true, 0.25),
            q(true, 0.75),
            q(true, 0.9),
            q(false, 0.25),
            q(false, 0.75),
            q(false, 0.9),
        ];
        for (c, det) in candidates.iter().zip(&detected) {
            let pairing = match c.pairing {
                detect::Pairing::Single => "single",
                detect::Pairing::Merged { .. } => "merged",
                detect::Pairing::Absorbed { .. } => "absorbed",
            };
            write!(
                f,
                "{:.2},{:.2},{:.3},{:.3},{:.5},{},{}",
                c.x_px,
                c.y_px,
                c.x_um,
                c.y_um,
                c.score,
                c.class.label(),
                pairing
            )?;
            write!(f, ",{:.2},{:.2},{:.3},{:.3}", det.0, det.1, det.2, det.3)?;
            for (_, v) in c.features.named() {
                write!(f, ",{v:.5}")?;
            }
            for v in quantiles {
                write!(f, ",{v:.4}")?;
            }
            writeln!(f)?;
        }
        let mitotic = candidates
            .iter()
            .filter(|c| c.class == detect::Class::MitoticFigure)
            .count();
        eprintln!(
            "{}: {} candidates, {} mitotic, {} nuclei, {:.0} ms",
            path.display(),
            candidates.len(),
            mitotic,
            stats.count(),
            elapsed.as_secs_f64() * 1000.0
        );
    }
    Ok(())
}
