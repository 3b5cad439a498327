//! The analysis of one slide: tissue, stains, fields in parallel, classification, HPF
//! counts, hot spot, evaluation, and the report with its pictures.

use std::time::Instant;

use rayon::prelude::*;

use crate::config::{AnalysisConfig, Pictures};
use crate::detect::{self, Candidate, Class, FieldDetections, FieldImage};
use crate::error::{Error, Result};
use crate::hotspot::find_hotspot;
use crate::report::{
    self, images, Detection, DetectionClass, Evaluation, FieldCount, GalleryCrop, Parameters,
    RegionRequest, RegionView, Report, ReportImages, ReportInput, SlideInfo, StageTiming,
    StainInfo, StainSource, Timings,
};
use crate::slide::{MppSource, Slide, SlideFormat};
use crate::stain::{estimate_background, Deconvolver, StainMethod};
use crate::tiling::{HpfGrid, RectPx, SquareGrid, TissueMask};
use crate::units::{Mpp, UM2_PER_MM2};

use super::progress::Progress;

/// Longest side of the overview (px) that gives the tissue mask, the background estimate
/// and the heatmap's thumbnail: 2048 px keeps a 100,000 px slide at about 12 µm per mask
/// pixel, fine enough for the hot-spot window's 95 % tissue test.
const OVERVIEW_MAX_SIDE_PX: u32 = 2048;

/// Coarsest pixel size (µm/px) analysed without a warning: the classifier is trained on
/// 40x figures (0.23-0.25 µm/px); coarser slides are up-sampled to its patches.
const CLASSIFIER_NATIVE_MAX_MPP_UM: f64 = 0.3;

/// Tissue fields sampled for the Macenko estimate (spread evenly over the tissue).
const STAIN_SAMPLE_FIELDS: usize = 12;

/// Side of each stain sample, µm (about 1000 px at 0.25 µm/px).
const STAIN_SAMPLE_SIDE_UM: f64 = 250.0;

/// Mitoses shown in the HTML gallery, at most.
const GALLERY_MAX_MITOSES: usize = 200;

/// Rejected candidates shown in the HTML gallery, at most.
const GALLERY_MAX_REJECTED: usize = 24;

/// What one slide's analysis yields.
#[derive(Debug)]
pub struct Analysis {
    /// The report.
    pub report: Report,
    /// Its pictures, `None` with `--no-images`.
    pub images: Option<ReportImages>,
}

/// Wall-clock timings of the stages.
struct StageClock {
    start: Instant,
    lap: Instant,
    stages: Vec<StageTiming>,
}

impl StageClock {
    fn new() -> Self {
        let now = Instant::now();
        StageClock {
            start: now,
            lap: now,
            stages: Vec::new(),
        }
    }

    fn lap(&mut self, stage: &str) {
        let now = Instant::now();
        self.stages.push(StageTiming {
            stage: stage.to_string(),
            seconds: (now - self.lap).as_secs_f64(),
        });
        self.lap = now;
    }

    fn timings(&self) -> Timings {
        Timings {
            total_s: self.start.elapsed().as_secs_f64(),
            stages_s: self.stages.clone(),
        }
    }
}

/// Analyses one opened slide (its MPP override, if any, already set).
///
/// Deterministic: the report (timings apart) is the same whatever the thread count and
/// `--field-size-um`, because detections are decided per field from pixels anchored to
/// level-0 coordinates, each belongs to the field whose core holds its centre, and they
/// are sorted by position before the slide-wide classification.
///
/// # Errors
/// [`Error::MissingMpp`] without a pixel size; slide read errors; invalid options.
pub fn analyse_slide(slide: &Slide, cfg: &AnalysisConfig, progress: &Progress) -> Result<Analysis> {
    let started_at = std::time::SystemTime::now();
    let mut clock = StageClock::new();
    let mpp = slide.mpp()?;
    cfg.detect.check_mpp(mpp)?;
    let level0 = &slide.levels()[0];
    let size_px = (level0.width_px, level0.height_px);
    let mut warnings = Vec::new();
    if let Some(w) = mpp_disagreement(slide, mpp) {
        warnings.push(w);
    }
    if mpp.um_per_px() > CLASSIFIER_NATIVE_MAX_MPP_UM {
        warnings.push(format!(
            "pixel size {:.3} µm/px is coarser than a 40x scan: the mitosis classifier \
             learned from 40x figures and sees this slide up-sampled; on 20x copies of its \
             test crops it scored as on the 40x crops (models/README.md), but no real 20x \
             slide with known mitoses was checked; prefer 40x scans",
            mpp.um_per_px()
        ));
    }

    progress.message("reading overview");
    let overview = slide.read_overview(OVERVIEW_MAX_SIDE_PX)?;
    let tissue = TissueMask::from_overview(&overview.image, overview.downsample, mpp, &cfg.tissue);
    let grid = SquareGrid::new(cfg.field_size_um, mpp, size_px, "--field-size-um")?;
    let fields: Vec<RectPx> = grid
        .cells()
        .map(|(_, _, r)| r)
        .filter(|r| tissue_fraction(&tissue, r) > 0.0)
        .collect();
    if fields.is_empty() {
        warnings.push("no tissue found: the slide looks empty (all glass)".to_string());
    }
    clock.lap("overview and tissue mask");

    progress.message("estimating stains");
    let background = estimate_background(&[&overview.image]);
    let samples = read_stain_samples(slide, &tissue, mpp, cfg)?;
    let sample_refs: Vec<&image::RgbImage> = samples.iter().collect();
    let estimate = cfg
        .stains
        .resolve(&sample_refs, background.rgb, &cfg.macenko)?;
    drop(samples);
    if let StainMethod::FallbackDefault { reason } = &estimate.method {
        warnings.push(format!(
            "stain estimation fell back to the default H&E vectors: {reason}"
        ));
    }
    let deconv = Deconvolver::new(estimate.vectors, background.rgb)?;
    clock.lap("stain vectors");

    let mut candidates = detect_fields(slide, &fields, &deconv, mpp, cfg, progress)?;
    detect::decide(&mut candidates, cfg.mitosis_threshold, &cfg.detect);
    // Only candidates worth auditing are listed: a slide holds thousands of nuclei per mm²,
    // almost all scoring near 0. The rest are counted.
    let found = candidates.len();
    candidates.retain(|c| c.class == Class::MitoticFigure || c.score >= cfg.candidate_min_score);
    let unlisted_candidates = found - candidates.len();
    clock.lap("detection");

    let hpf = HpfGrid::new(cfg.hpf_area_mm2, mpp, size_px)?;
    let detections = to_report_detections(&candidates, &hpf);
    let field_counts = hpf_field_counts(&hpf, &tissue, &detections);
    let mitosis_points: Vec<[f64; 2]> = detections
        .iter()
        .filter(|d| d.class == DetectionClass::MitoticFigure)
        .map(|d| [d.x_px, d.y_px])
        .collect();
    let hotspot = find_hotspot(&mitosis_points, &tissue, size_px, mpp, &cfg.hotspot)?;
    clock.lap("hot spot");

    let evaluation = match &cfg.truth {
        Some(path) => Some(evaluate_against(path, &detections, mpp)?),
        None => None,
    };

    let input = ReportInput {
        slide: slide_info(slide, mpp),
        parameters: Parameters {
            hpf_area_mm2: cfg.hpf_area_mm2,
            hpf_area_source: cfg.hpf_area_source,
            field_side_um: mpp.px_to_um(hpf.grid.side_px as f64),
            min_field_tissue_fraction: cfg.min_field_tissue_fraction,
            hotspot: cfg.hotspot,
            criterion: cfg.criterion,
            stain: StainInfo {
                haematoxylin_od: estimate.vectors.haematoxylin,
                eosin_od: estimate.vectors.eosin,
                residual_od: estimate.vectors.residual,
                source: match estimate.method {
                    StainMethod::Macenko => StainSource::Estimated,
                    StainMethod::FallbackDefault { .. } | StainMethod::Default => {
                        StainSource::Default
                    }
                    StainMethod::UserGiven => StainSource::User,
                },
            },
            detector: to_json_value(&cfg.detect)?,
            tissue_mask: to_json_value(&cfg.tissue)?,
            candidate_min_score: cfg.candidate_min_score,
            classifier: Some(cfg.classifier.info().clone()),
            mitosis_threshold: cfg.mitosis_threshold,
        },
        tissue_area_mm2: mpp.px2_to_um2(tissue.tissue_area_px2()) / UM2_PER_MM2,
        fields: field_counts,
        detections,
        unlisted_candidates,
        hotspot,
        warnings,
        evaluation,
        timings: clock.timings(),
    };
    let mut report = Report::build(input)?;
    let images = match cfg.pictures {
        Pictures::Write => {
            progress.message("reading pictures");
            let imgs = read_report_images(slide, &report, overview, &tissue)?;
            clock.lap("pictures");
            Some(imgs)
        }
        Pictures::Skip => None,
    };
    report.timings = clock.timings();
    report.provenance = provenance(slide, cfg, started_at, report.timings.total_s)?;
    Ok(Analysis { report, images })
}

/// A `--mpp` that differs from the file's own pixel size by more than this factor (either
/// way) is warned about: 25 % in length is 56 % in area, so densities per mm² and the
/// HPF grid change that much.
const MPP_OVERRIDE_TOLERANCE: f64 = 1.25;

/// The warning for a `--mpp` far from the pixel size the file states, if any. The slide
/// given here carries the override, so the file's own value is read again from its header
/// (cheap: no pixels are decoded).
fn mpp_disagreement(slide: &Slide, mpp: Mpp) -> Option<String> {
    if slide.mpp_source() != Some(crate::slide::MppSource::Override) {
        return None;
    }
    let stated = Slide::open(slide.path()).ok()?.stated_mpp_um()?;
    let ratio = mpp.um_per_px() / stated;
    (!(1.0 / MPP_OVERRIDE_TOLERANCE..=MPP_OVERRIDE_TOLERANCE).contains(&ratio)).then(|| {
        format!(
            "implausible pixel size: --mpp {} µm/px is {ratio:.2} times the {stated} µm/px the \
             file states; every length scales with it and every density per mm² with its \
             square, so unless the file is known to be wrong, drop --mpp",
            mpp.um_per_px()
        )
    })
}

/// Bytes of the slide file hashed for its provenance: the first MiB.
const PROVENANCE_HASH_BYTES: u64 = 1 << 20;

/// Where the result comes from: program, model, options, the slide file (name, size, a
/// SHA-256 of its first MiB), start time and duration.
fn provenance(
    slide: &Slide,
    cfg: &AnalysisConfig,
    started_at: std::time::SystemTime,
    duration_s: f64,
) -> Result<report::Provenance> {
    use sha2::Digest;
    use std::io::Read;
    let path = slide.path();
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let size = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut head = Vec::new();
    file.take(PROVENANCE_HASH_BYTES)
        .read_to_end(&mut head)
        .map_err(|e| Error::io(path, e))?;
    let hash = sha2::Sha256::digest(&head);
    let model = cfg.classifier.info();
    Ok(report::Provenance {
        program: format!("{} {}", report::PROGRAM_NAME, env!("CARGO_PKG_VERSION")),
        model: format!("{} {}", model.name, model.version),
        model_sha256: model.sha256.clone(),
        options: to_json_value(&cfg.options)?,
        threads: rayon::current_num_threads(),
        slide_file_name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        slide_size_bytes: size,
        slide_first_mib_sha256: hash.iter().map(|b| format!("{b:02x}")).collect(),
        started_at_utc: humantime::format_rfc3339_seconds(started_at).to_string(),
        duration_s,
    })
}

/// Tissue fraction of a level-0 rectangle.
fn tissue_fraction(tissue: &TissueMask, r: &RectPx) -> f64 {
    tissue.tissue_fraction(r.x0 as f64, r.y0 as f64, r.x1 as f64, r.y1 as f64)
}

/// Reads up to [`STAIN_SAMPLE_FIELDS`] squares of [`STAIN_SAMPLE_SIDE_UM`] of tissue,
/// evenly spread in raster order over a grid of such squares (its own grid, so the
/// sample, and with it the report, does not depend on `--field-size-um`), preferring
/// squares that are at least 90 % tissue. At the detector's working resolution (or the
/// finest level coarser than it). Only with `--stains auto`.
fn read_stain_samples(
    slide: &Slide,
    tissue: &TissueMask,
    mpp: Mpp,
    cfg: &AnalysisConfig,
) -> Result<Vec<image::RgbImage>> {
    if !matches!(cfg.stains, crate::stain::StainSpec::Auto) {
        return Ok(Vec::new());
    }
    let l0 = &slide.levels()[0];
    let grid = SquareGrid::new(
        STAIN_SAMPLE_SIDE_UM,
        mpp,
        (l0.width_px, l0.height_px),
        "--stains",
    )?;
    let cells: Vec<(RectPx, f64)> = grid
        .cells()
        .map(|(_, _, r)| (r, tissue_fraction(tissue, &r)))
        .filter(|(_, f)| *f > 0.0)
        .collect();
    let mut chosen: Vec<RectPx> = cells
        .iter()
        .filter(|(_, f)| *f >= 0.9)
        .map(|(r, _)| *r)
        .collect();
    if chosen.is_empty() {
        chosen = cells.iter().map(|(r, _)| *r).collect();
    }
    let n = chosen.len();
    let take = n.min(STAIN_SAMPLE_FIELDS);
    let level = slide.best_level_for_downsample(cfg.detect.working_mpp_um / mpp.um_per_px());
    let ds = slide.levels()[level].downsample;
    // Read in parallel; collected in order, so the estimate does not depend on threads.
    (0..take)
        .into_par_iter()
        .map(|i| {
            let r = chosen[i * n / take];
            let lx0 = (r.x0 as f64 / ds).floor() as i64;
            let ly0 = (r.y0 as f64 / ds).floor() as i64;
            let lside = (r.width() as f64 / ds).ceil().max(1.0) as u32;
            slide.read_region(level, lx0, ly0, lside, lside)
        })
        .collect()
}

/// Runs the detector on every field in parallel and keeps each field's core detections.
/// Returns the candidates, scored by the classifier, sorted by position (y, then x).
fn detect_fields(
    slide: &Slide,
    fields: &[RectPx],
    deconv: &Deconvolver,
    mpp: Mpp,
    cfg: &AnalysisConfig,
    progress: &Progress,
) -> Result<Vec<Candidate>> {
    let classifier = &*cfg.classifier;
    // The classifier's patches need the finest pixels up to its own pixel size; the
    // detector's working resolution may be coarser.
    let finest_um = cfg
        .detect
        .working_mpp_um
        .min(classifier.finest_input_mpp_um());
    let level = slide.best_level_for_downsample(finest_um / mpp.um_per_px());
    let ds = slide.levels()[level].downsample;
    // A patch reaches half its side beyond its candidate, whose centre lies in the core.
    let halo_px = mpp
        .um_to_px(detect::halo_um(&cfg.detect).max(classifier.reach_um(mpp.um_per_px(), ds)))
        .ceil() as i64;
    let field_mpp = mpp.downsampled(ds);
    progress.start_fields(fields.len() as u64);
    let per_field: Vec<FieldDetections> = fields
        .par_iter()
        .map(|core| {
            let read = core.expanded(halo_px);
            let lx0 = (read.x0 as f64 / ds).floor() as i64;
            let ly0 = (read.y0 as f64 / ds).floor() as i64;
            let lx1 = (read.x1 as f64 / ds).ceil() as i64;
            let ly1 = (read.y1 as f64 / ds).ceil() as i64;
            let rgb = slide.read_region(level, lx0, ly0, (lx1 - lx0) as u32, (ly1 - ly0) as u32)?;
            let field = FieldImage {
                rgb: &rgb,
                origin_x_px: lx0 as f64 * ds,
                origin_y_px: ly0 as f64 * ds,
                downsample: ds,
                mpp: field_mpp,
            };
            let mut found = detect::detect_field(&field, deconv, &cfg.detect);
            found.retain_core(
                core.x0 as f64,
                core.y0 as f64,
                core.x1 as f64,
                core.y1 as f64,
            );
            // The learned classifier's probability, from the field's own pixels (one
            // patch at a time, so the result does not depend on the tiling).
            found.score(classifier, &field, mpp);
            progress.field_done();
            Ok(found)
        })
        .collect::<Result<_>>()?;
    progress.finish_fields();
    let mut candidates: Vec<Candidate> = per_field.into_iter().flat_map(|f| f.candidates).collect();
    candidates.sort_by(|a, b| a.y_px.total_cmp(&b.y_px).then(a.x_px.total_cmp(&b.x_px)));
    Ok(candidates)
}

/// The report's rows: every candidate with its HPF cell and named features.
fn to_report_detections(candidates: &[Candidate], hpf: &HpfGrid) -> Vec<Detection> {
    candidates
        .iter()
        .map(|c| {
            let (row, col) = hpf.grid.cell_of(c.x_px, c.y_px).unwrap_or((0, 0));
            Detection {
                x_px: c.x_px,
                y_px: c.y_px,
                x_um: c.x_um,
                y_um: c.y_um,
                area_um2: c.features.area_um2,
                score: c.score,
                class: match c.class {
                    Class::MitoticFigure => DetectionClass::MitoticFigure,
                    Class::NonMitoticFigure => DetectionClass::NonMitoticFigure,
                },
                hpf_row: row as u32,
                hpf_col: col as u32,
                features: c
                    .features
                    .named()
                    .into_iter()
                    .map(|(name, v)| (name.to_string(), v))
                    .collect(),
            }
        })
        .collect()
}

/// Per-HPF counts for every grid square with tissue.
fn hpf_field_counts(
    hpf: &HpfGrid,
    tissue: &TissueMask,
    detections: &[Detection],
) -> Vec<FieldCount> {
    let g = &hpf.grid;
    let mut mitoses = vec![0usize; g.rows * g.cols];
    let mut candidates = vec![0usize; g.rows * g.cols];
    for d in detections {
        let i = d.hpf_row as usize * g.cols + d.hpf_col as usize;
        candidates[i] += 1;
        if d.class == DetectionClass::MitoticFigure {
            mitoses[i] += 1;
        }
    }
    g.cells()
        .filter_map(|(row, col, r)| {
            let fraction = tissue_fraction(tissue, &r);
            (fraction > 0.0).then(|| FieldCount {
                row: row as u32,
                col: col as u32,
                x_px: r.x0 as f64,
                y_px: r.y0 as f64,
                width_px: r.width() as f64,
                height_px: r.height() as f64,
                tissue_fraction: fraction,
                mitoses: mitoses[row * g.cols + col],
                candidates: candidates[row * g.cols + col],
            })
        })
        .collect()
}

/// Precision, recall and F1 of the mitoses against a ground-truth file.
fn evaluate_against(
    path: &std::path::Path,
    detections: &[Detection],
    mpp: Mpp,
) -> Result<Evaluation> {
    use crate::detect::evaluate::{match_points, read_points, Point, DEFAULT_RADIUS_UM};
    let truth = read_points(path, Some(mpp))?;
    let found: Vec<Point> = detections
        .iter()
        .filter(|d| d.class == DetectionClass::MitoticFigure)
        .enumerate()
        .map(|(i, d)| Point {
            x_um: mpp.px_to_um(d.x_px),
            y_um: mpp.px_to_um(d.y_px),
            x_px: Some(d.x_px),
            y_px: Some(d.y_px),
            line: i + 1,
        })
        .collect();
    let (matches, _) = match_points(&truth, &found, DEFAULT_RADIUS_UM);
    let tp = matches.len();
    Ok(Evaluation::from_counts(
        path.display().to_string(),
        DEFAULT_RADIUS_UM,
        (tp, found.len() - tp, truth.len() - tp),
    ))
}

fn slide_info(slide: &Slide, mpp: Mpp) -> SlideInfo {
    let l0 = &slide.levels()[0];
    SlideInfo {
        path: slide.path().display().to_string(),
        format: {
            let name = match slide.format() {
                SlideFormat::AperioSvs => "Aperio SVS",
                SlideFormat::Tiff => "TIFF",
                SlideFormat::OpenSlide => "read through OpenSlide",
                SlideFormat::Png => "PNG",
                SlideFormat::Jpeg => "JPEG",
                SlideFormat::Dicom => "DICOM WSI",
            };
            // Say when the pixels were converted on reading (16-bit, palette).
            match l0.samples.as_str() {
                "8-bit RGB" | "8-bit RGBA" | "8-bit YCbCr" => name.to_string(),
                other => format!("{name}, {other}"),
            }
        },
        width_px: l0.width_px,
        height_px: l0.height_px,
        mpp_um_per_px: mpp.um_per_px(),
        mpp_source: match slide.mpp_source() {
            Some(MppSource::AperioDescription) => "Aperio ImageDescription",
            Some(MppSource::TiffResolution) => "TIFF resolution tags",
            Some(MppSource::OpenSlideProperty) => "OpenSlide openslide.mpp-x",
            Some(MppSource::OmeXml) => "OME-XML PhysicalSizeX",
            Some(MppSource::Override) => "given with --mpp",
            Some(MppSource::DicomPixelSpacing) => "DICOM PixelSpacing",
            None => "unknown",
        }
        .to_string(),
        objective_magnification: slide.objective_mag(),
    }
}

fn to_json_value<T: serde::Serialize>(v: &T) -> Result<serde_json::Value> {
    serde_json::to_value(v).map_err(|e| Error::Output {
        path: "report.json".into(),
        reason: e.to_string(),
    })
}

/// Reads a level-0 rectangle at a downsample: from the pyramid level at or below it,
/// resized (triangle filter) to `width_px / downsample` x `height_px / downsample`.
fn read_scaled(slide: &Slide, req: &RegionRequest) -> Result<RegionView> {
    let level = slide.best_level_for_downsample(req.downsample);
    let ds = slide.levels()[level].downsample;
    let lx0 = (req.x_px / ds).floor() as i64;
    let ly0 = (req.y_px / ds).floor() as i64;
    let lw = ((req.x_px + req.width_px) / ds).ceil() as i64 - lx0;
    let lh = ((req.y_px + req.height_px) / ds).ceil() as i64 - ly0;
    let region = slide.read_region(level, lx0, ly0, lw.max(1) as u32, lh.max(1) as u32)?;
    let out_w = (req.width_px / req.downsample).round().max(1.0) as u32;
    let out_h = (req.height_px / req.downsample).round().max(1.0) as u32;
    let image = if (out_w, out_h) == region.dimensions() {
        region
    } else {
        image::imageops::resize(&region, out_w, out_h, image::imageops::FilterType::Triangle)
    };
    Ok(RegionView {
        origin_x_px: lx0 as f64 * ds,
        origin_y_px: ly0 as f64 * ds,
        downsample: lw as f64 * ds / f64::from(out_w),
        image,
    })
}

/// The thumbnail, the hot-spot view and the gallery crops the report asks for.
fn read_report_images(
    slide: &Slide,
    report: &Report,
    overview: crate::slide::Overview,
    tissue: &TissueMask,
) -> Result<ReportImages> {
    let hotspot_view = images::hotspot_view_request(report)
        .map(|req| read_scaled(slide, &req))
        .transpose()?;
    let gallery = images::gallery_requests(report, GALLERY_MAX_MITOSES, GALLERY_MAX_REJECTED)
        .par_iter()
        .map(|(i, req)| {
            Ok(GalleryCrop {
                detection_index: *i,
                view: read_scaled(slide, req)?,
            })
        })
        .collect::<Result<_>>()?;
    let thumbnail_tissue = tissue.on_grid(
        overview.image.height() as usize,
        overview.image.width() as usize,
        overview.downsample,
    );
    Ok(ReportImages {
        thumbnail: overview.image,
        thumbnail_downsample: overview.downsample,
        thumbnail_tissue: Some(thumbnail_tissue),
        hotspot_view,
        gallery,
    })
}

/// Writes the report files into `out_dir`.
///
/// # Errors
/// I/O and encoding errors naming the file.
pub fn write_analysis(
    analysis: &Analysis,
    out_dir: &std::path::Path,
) -> Result<Vec<std::path::PathBuf>> {
    report::write_outputs(&analysis.report, analysis.images.as_ref(), out_dir)
}
