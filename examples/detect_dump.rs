//! Bit-exact regression check of `detect_field` on real and synthetic images: dumps every
//! candidate (position and every feature as f64 bits), every nucleus sample and the
//! nucleus statistics of each field, so that two builds can be compared with `cmp`.
//! Written for the speed work on `src/detect/` (the output must not change).
//!
//! Inputs (absolute paths on the shared machine):
//! - `tiatoolbox-target_image.png` (real 40x H&E) at 0.25 µm/px, default and Macenko
//!   stains;
//! - two mosaics of 8 x 8 AtNorM-MD `Normal` crops (real mitoses) at 0.25 µm/px;
//! - `sample_tiles/CMU-1-Small-Region.svs` (real Aperio 20x) at its 0.499 µm/px through
//!   the slide reader;
//! - a synthetic slide (`mitocount synth --width 4096 --height 4096 --seed 3 --out
//!   target/speedcheck/synth-seed3.tiff`) through the slide reader.
//!
//! Each image is run as one field with a white halo (as the bench) and cut into fields
//! with the detector's halo taken from the image (as the pipeline), every field's raw
//! `detect_field` output dumped.
//!
//! Usage:
//!   cargo run --release --example detect_dump -- --out target/speedcheck/ref.txt
//!   cargo run --release --example detect_dump -- --only tiatoolbox --repeat 20
//!     (no dump; times `detect_field` on the one whole field, for perf and callgrind)

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use image::RgbImage;
use mitocount::detect::{self, DetectOptions, FieldDetections, FieldImage};
use mitocount::slide::{crop_with_white, Slide};
use mitocount::stain::{
    estimate_background, estimate_macenko, Deconvolver, MacenkoOptions, StainVectors,
};
use mitocount::units::Mpp;

const HE: &str = "/work/shared/data/he/tiatoolbox-target_image.png";
const ATNORM: &str = "/work/shared/data/mitoses/AtNorM-MD/Normal";
const CMU: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/sample_tiles/CMU-1-Small-Region.svs"
);
const SYNTH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/target/speedcheck/synth-seed3.tiff"
);

type Res<T> = Result<T, Box<dyn std::error::Error>>;

struct Input {
    name: String,
    img: RgbImage,
    mpp: Mpp,
    deconv: Deconvolver,
    field_px: i64,
}

fn default_deconv() -> Res<Deconvolver> {
    Ok(Deconvolver::new(StainVectors::default_hed(), [255.0; 3])?)
}

fn macenko(img: &RgbImage) -> Res<Deconvolver> {
    let bg = estimate_background(&[img]);
    let est = estimate_macenko(&[img], bg.rgb, &MacenkoOptions::default())?;
    Ok(Deconvolver::new(est.vectors, bg.rgb)?)
}

/// An 8 x 8 mosaic of the 128 px crops `first, first + step, ...` (numeric file order).
fn mosaic(first: usize, step: usize) -> Res<RgbImage> {
    let mut names: Vec<(u64, PathBuf)> = std::fs::read_dir(ATNORM)?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let p = e.path();
            let n = p.file_stem()?.to_str()?.parse().ok()?;
            Some((n, p))
        })
        .collect();
    names.sort();
    let mut out = RgbImage::from_pixel(8 * 128, 8 * 128, image::Rgb([255, 255, 255]));
    for i in 0..64 {
        let (_, path) = &names[(first + i * step) % names.len()];
        let crop = image::open(path)?.into_rgb8();
        let (x, y) = ((i % 8) as i64 * 128, (i / 8) as i64 * 128);
        image::imageops::replace(&mut out, &crop, x, y);
    }
    Ok(out)
}

fn whole_slide(path: &Path) -> Res<(RgbImage, Mpp)> {
    let slide = Slide::open(path)?;
    let l0 = &slide.levels()[0];
    let img = slide.read_region(0, 0, 0, l0.width_px as u32, l0.height_px as u32)?;
    Ok((img, slide.mpp()?))
}

fn inputs(only: Option<&str>) -> Res<Vec<Input>> {
    let want = |n: &str| only.is_none_or(|o| n == o);
    let mut v = Vec::new();
    let m25 = Mpp::new(0.25)?;
    if want("tiatoolbox") || want("tiatoolbox-macenko") {
        let img = image::open(HE)?.into_rgb8();
        if want("tiatoolbox") {
            v.push(Input {
                name: "tiatoolbox".into(),
                img: img.clone(),
                mpp: m25,
                deconv: default_deconv()?,
                field_px: 400,
            });
        }
        if want("tiatoolbox-macenko") {
            let deconv = macenko(&img)?;
            v.push(Input {
                name: "tiatoolbox-macenko".into(),
                img,
                mpp: m25,
                deconv,
                field_px: 700,
            });
        }
    }
    for (name, first, step) in [("atnorm-a", 0, 29), ("atnorm-b", 7, 13)] {
        if want(name) {
            let img = mosaic(first, step)?;
            let deconv = if name == "atnorm-b" {
                macenko(&img)?
            } else {
                default_deconv()?
            };
            v.push(Input {
                name: name.into(),
                img,
                mpp: m25,
                deconv,
                field_px: 512,
            });
        }
    }
    if want("cmu") {
        let (img, mpp) = whole_slide(Path::new(CMU))?;
        v.push(Input {
            name: "cmu".into(),
            img,
            mpp,
            deconv: default_deconv()?,
            field_px: 1000,
        });
    }
    if want("synth") {
        let (img, mpp) = whole_slide(Path::new(SYNTH)).map_err(|e| {
            format!(
                "{SYNTH}: {e}; make it with `mitocount synth --width 4096 --height 4096 \
                 --seed 3 --out target/speedcheck/synth-seed3.tiff`"
            )
        })?;
        v.push(Input {
            name: "synth".into(),
            img,
            mpp,
            deconv: default_deconv()?,
            field_px: 2048,
        });
    }
    Ok(v)
}

fn run(
    input: &Input,
    opts: &DetectOptions,
    x0: i64,
    y0: i64,
    x1: i64,
    y1: i64,
) -> (FieldDetections, f64) {
    let halo = input.mpp.um_to_px(detect::halo_um(opts)).ceil() as i64;
    let rgb = crop_with_white(
        &input.img,
        x0 - halo,
        y0 - halo,
        (x1 - x0 + 2 * halo) as u32,
        (y1 - y0 + 2 * halo) as u32,
    );
    let field = FieldImage {
        rgb: &rgb,
        origin_x_px: (x0 - halo) as f64,
        origin_y_px: (y0 - halo) as f64,
        downsample: 1.0,
        mpp: input.mpp,
    };
    let start = std::time::Instant::now();
    let det = detect::detect_field(&field, &input.deconv, opts);
    (det, start.elapsed().as_secs_f64())
}

fn bits(v: f64) -> String {
    format!("{:016x}", v.to_bits())
}

fn dump(out: &mut String, label: &str, det: &FieldDetections) -> std::fmt::Result {
    writeln!(
        out,
        "field {label}: {} candidates, {} nuclei, stats {:?}",
        det.candidates.len(),
        det.nuclei.len(),
        det.stats
    )?;
    for c in &det.candidates {
        write!(
            out,
            "c {} {} {} {} {:?} {:?} {:?}",
            bits(c.x_px),
            bits(c.y_px),
            bits(c.x_um),
            bits(c.y_um),
            c.score,
            c.class,
            c.pairing
        )?;
        for (name, v) in c.features.named() {
            write!(out, " {name}={}", bits(v))?;
        }
        writeln!(out)?;
    }
    for n in &det.nuclei {
        writeln!(
            out,
            "n {} {} {} {}",
            bits(n.x_px),
            bits(n.y_px),
            bits(n.mean_h_od),
            bits(n.max_h_od)
        )?;
    }
    Ok(())
}

fn main() -> Res<()> {
    let mut args = std::env::args().skip(1);
    let mut out_path: Option<PathBuf> = None;
    let mut only: Option<String> = None;
    let mut repeat = 0usize;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--out" => out_path = Some(PathBuf::from(args.next().ok_or("--out needs a path")?)),
            "--only" => only = Some(args.next().ok_or("--only needs a name")?),
            "--repeat" => repeat = args.next().ok_or("--repeat needs a count")?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let opts = DetectOptions::default();
    let inputs = inputs(only.as_deref())?;
    if repeat > 0 {
        for input in &inputs {
            let (w, h) = (i64::from(input.img.width()), i64::from(input.img.height()));
            let mut total = 0.0;
            let mut n = 0;
            for _ in 0..repeat {
                let (det, secs) = run(input, &opts, 0, 0, w, h);
                total += secs;
                n = det.candidates.len();
            }
            let mpx = (w * h) as f64 / 1e6;
            eprintln!(
                "{}: {n} candidates, {:.1} ms per run, {:.1} Mpx/s",
                input.name,
                1e3 * total / repeat as f64,
                mpx * repeat as f64 / total
            );
        }
        return Ok(());
    }
    let out_path = out_path.ok_or("--out FILE or --repeat N")?;
    let mut out = String::new();
    for input in &inputs {
        let (w, h) = (i64::from(input.img.width()), i64::from(input.img.height()));
        let (det, secs) = run(input, &opts, 0, 0, w, h);
        eprintln!(
            "{}: whole {}x{}: {} candidates, {} nuclei, {:.0} ms",
            input.name,
            w,
            h,
            det.candidates.len(),
            det.nuclei.len(),
            secs * 1e3
        );
        dump(&mut out, &format!("{} whole", input.name), &det)?;
        let f = input.field_px;
        for y0 in (0..h).step_by(f as usize) {
            for x0 in (0..w).step_by(f as usize) {
                let (det, _) = run(input, &opts, x0, y0, (x0 + f).min(w), (y0 + f).min(h));
                dump(&mut out, &format!("{} field {x0},{y0}", input.name), &det)?;
            }
        }
    }
    std::fs::File::create(&out_path)?.write_all(out.as_bytes())?;
    eprintln!("wrote {}", out_path.display());
    Ok(())
}
