//! The report's pictures: the pixels the pipeline supplies ([`ReportImages`]), which
//! regions it should read ([`hotspot_view_request`], [`gallery_requests`]), and the
//! rendering of `heatmap.png`, `hotspot.png` and the gallery crops.
//!
//! Coordinates: a [`RegionView`] maps level-0 px `(x, y)` to image px
//! `((x - origin_x_px) / downsample, (y - origin_y_px) / downsample)`.

use std::path::PathBuf;

use image::{Rgb, RgbImage};

use super::draw;
use super::{DetectionClass, Report};
use crate::error::{Error, Result};

/// Circle radius around detections in `hotspot.png`, µm: mitotic figures are 3-15 µm
/// across, so a 12 µm radius encloses them with a margin.
pub const CIRCLE_RADIUS_UM: f64 = 12.0;
/// Side of a gallery crop, µm (a mitosis and its neighbourhood).
pub const GALLERY_CROP_SIDE_UM: f64 = 64.0;
/// Gallery crops are read at this pixel size at most (µm/px): full 40x resolution.
pub const GALLERY_TARGET_UM_PER_PX: f64 = 0.25;
/// Coarsest pixel size of `hotspot.png`, µm/px: at 0.5 µm/px (a 20x scan) a mitotic
/// figure of 5-10 µm spans 10-20 px, enough to judge it; finer slides are shown at
/// 0.5 µm/px (a 2.37 mm² window is then about 3600 x 2700 px), coarser ones natively.
pub const HOTSPOT_VIEW_MAX_UM_PER_PX: f64 = 0.5;
/// Candidates whose score lies within this of the mitosis threshold are "borderline":
/// labelled with their score in `hotspot.png` and marked in the HTML gallery.
pub const BORDERLINE_SCORE_BAND: f64 = 0.15;
/// Margin around the hot spot in `hotspot.png`, as a fraction of its size per side.
pub const HOTSPOT_VIEW_MARGIN: f64 = 0.04;

/// Colour of mitoses in pictures (same as the QuPath class).
pub const MITOSIS_RGB: Rgb<u8> = Rgb([0, 200, 0]);
/// Colour of rejected candidates in pictures (same as the QuPath class).
pub const CANDIDATE_RGB: Rgb<u8> = Rgb([255, 215, 0]);

/// Pixels of part of the slide and how they map to level-0 px.
#[derive(Debug, Clone)]
pub struct RegionView {
    /// The pixels (RGB8).
    pub image: RgbImage,
    /// Level-0 x of the image's left edge, px.
    pub origin_x_px: f64,
    /// Level-0 y of the image's top edge, px.
    pub origin_y_px: f64,
    /// Level-0 px per image px (>= 1 for a downsampled read).
    pub downsample: f64,
}

impl RegionView {
    /// Image px of a level-0 point.
    pub fn to_image(&self, x_px: f64, y_px: f64) -> (f64, f64) {
        (
            (x_px - self.origin_x_px) / self.downsample,
            (y_px - self.origin_y_px) / self.downsample,
        )
    }
}

/// A small crop around one detection for the HTML gallery.
#[derive(Debug, Clone)]
pub struct GalleryCrop {
    /// Index into [`Report::detections`].
    pub detection_index: usize,
    /// The crop.
    pub view: RegionView,
}

/// The pixels the report needs, read by the pipeline (only `slide` reads images).
#[derive(Debug, Clone)]
pub struct ReportImages {
    /// The whole slide, small (e.g. the lowest pyramid level or a 1-2k px wide resample).
    pub thumbnail: RgbImage,
    /// Level-0 px per thumbnail px.
    pub thumbnail_downsample: f64,
    /// Tissue mask on the thumbnail's pixel grid, shape `[height, width]` of the thumbnail;
    /// the heatmap colours only tissue pixels. `None` colours whole fields.
    pub thumbnail_tissue: Option<ndarray::Array2<bool>>,
    /// The hot-spot region (see [`hotspot_view_request`]), `None` if there is no hot spot
    /// or it was not read.
    pub hotspot_view: Option<RegionView>,
    /// Crops for the gallery (see [`gallery_requests`]); may be empty.
    pub gallery: Vec<GalleryCrop>,
}

/// A level-0 rectangle to read and the downsample to read it at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RegionRequest {
    /// Left edge, level-0 px (integer-valued).
    pub x_px: f64,
    /// Top edge, level-0 px (integer-valued).
    pub y_px: f64,
    /// Width, level-0 px (integer-valued).
    pub width_px: f64,
    /// Height, level-0 px (integer-valued).
    pub height_px: f64,
    /// Level-0 px per output px (>= 1): read from the pyramid level at or below it and
    /// resize to `width_px / downsample` x `height_px / downsample`.
    pub downsample: f64,
}

/// The region `hotspot.png` should show: the hot spot plus a small margin, clipped to the
/// slide, at [`HOTSPOT_VIEW_MAX_UM_PER_PX`] or the slide's own pixel size if coarser.
/// `None` without a hot spot.
pub fn hotspot_view_request(report: &Report) -> Option<RegionRequest> {
    let h = report.hotspot.as_ref()?;
    let (sw, sh) = (report.slide.width_px as f64, report.slide.height_px as f64);
    let (mx, my) = (
        HOTSPOT_VIEW_MARGIN * h.width_px,
        HOTSPOT_VIEW_MARGIN * h.height_px,
    );
    let x0 = (h.x_px - mx).floor().max(0.0);
    let y0 = (h.y_px - my).floor().max(0.0);
    let x1 = (h.x_px + h.width_px + mx).ceil().min(sw);
    let y1 = (h.y_px + h.height_px + my).ceil().min(sh);
    let downsample = match report.mpp() {
        Ok(mpp) => (HOTSPOT_VIEW_MAX_UM_PER_PX / mpp.um_per_px()).max(1.0),
        Err(_) => 1.0,
    };
    Some(RegionRequest {
        x_px: x0,
        y_px: y0,
        width_px: x1 - x0,
        height_px: y1 - y0,
        downsample,
    })
}

/// Which detections get a gallery crop, and where to read it: every mitosis up to
/// `max_mitoses` (those in the hot spot first, then by score, highest first) and the
/// `max_rejected` highest-scoring rejected candidates. Each crop is a 64 µm square
/// centred on the detection (clipped to the slide), read at about 0.25 µm/px.
///
/// Returns `(detection index, request)` pairs in gallery order.
pub fn gallery_requests(
    report: &Report,
    max_mitoses: usize,
    max_rejected: usize,
) -> Vec<(usize, RegionRequest)> {
    let Ok(mpp) = report.mpp() else {
        return Vec::new();
    };
    let side_px = mpp.um_to_px(GALLERY_CROP_SIDE_UM).round().max(8.0);
    let downsample = (GALLERY_TARGET_UM_PER_PX / mpp.um_per_px()).max(1.0);
    let (sw, sh) = (report.slide.width_px as f64, report.slide.height_px as f64);
    let request = |i: usize| {
        let d = &report.detections[i];
        let x0 = (d.x_px - side_px / 2.0)
            .round()
            .clamp(0.0, (sw - side_px).max(0.0));
        let y0 = (d.y_px - side_px / 2.0)
            .round()
            .clamp(0.0, (sh - side_px).max(0.0));
        (
            i,
            RegionRequest {
                x_px: x0,
                y_px: y0,
                width_px: side_px.min(sw),
                height_px: side_px.min(sh),
                downsample,
            },
        )
    };
    let order = gallery_order(report);
    let mitoses = order.mitoses.iter().take(max_mitoses).map(|&i| request(i));
    let rejected = order
        .rejected
        .iter()
        .take(max_rejected)
        .map(|&i| request(i));
    mitoses.chain(rejected).collect()
}

/// Detection indices in gallery order.
pub(crate) struct GalleryOrder {
    /// Mitoses: in the hot spot first, then by score (highest first), then by index.
    pub mitoses: Vec<usize>,
    /// Rejected candidates by score, highest first, then by index.
    pub rejected: Vec<usize>,
}

pub(crate) fn gallery_order(report: &Report) -> GalleryOrder {
    let in_hotspot = |i: usize| {
        let d = &report.detections[i];
        report
            .hotspot
            .as_ref()
            .is_some_and(|h| h.contains(d.x_px, d.y_px))
    };
    let by_score = |a: &usize, b: &usize| {
        let (da, db) = (&report.detections[*a], &report.detections[*b]);
        db.score.total_cmp(&da.score).then(a.cmp(b))
    };
    let (mut mitoses, mut rejected): (Vec<usize>, Vec<usize>) = (0..report.detections.len())
        .partition(|&i| report.detections[i].class == DetectionClass::MitoticFigure);
    mitoses.sort_by(|a, b| in_hotspot(*b).cmp(&in_hotspot(*a)).then(by_score(a, b)));
    rejected.sort_by(by_score);
    GalleryOrder { mitoses, rejected }
}

/// Font scale for an image of this size: 1 below 500 px, growing with the size.
fn font_scale(width: u32, height: u32) -> u32 {
    (width.min(height) / 250).clamp(1, 4)
}

/// `heatmap.png`: the thumbnail with each HPF field of the grid coloured by its mitoses
/// per mm² (the field's count over its area of one HPF; viridis, from 0 to the densest
/// field) on its tissue pixels (glass left
/// clear when [`ReportImages::thumbnail_tissue`] is given), the hot spot outlined in white between black
/// edges, a scale bar, and a legend panel on the right with the colour bar in mitoses per
/// mm². The text is the built-in bitmap font of `draw`: no system font is needed.
///
/// # Errors
/// [`Error::Output`] naming `heatmap.png` when the thumbnail is empty or its downsample
/// is not positive.
pub fn render_heatmap(report: &Report, images: &ReportImages) -> Result<RgbImage> {
    let thumb = &images.thumbnail;
    let ds = images.thumbnail_downsample;
    if thumb.width() == 0 || thumb.height() == 0 || !(ds.is_finite() && ds > 0.0) {
        return Err(Error::Output {
            path: PathBuf::from("heatmap.png"),
            reason: format!(
                "the thumbnail is {}x{} px with downsample {ds}; a non-empty thumbnail and a \
                 positive downsample are needed",
                thumb.width(),
                thumb.height()
            ),
        });
    }
    let s = font_scale(thumb.width(), thumb.height());
    let widest = format!(
        "{:.1}",
        report.fields.iter().map(|f| f.mitoses).max().unwrap_or(1) as f64
            / report.parameters.hpf_area_mm2
    );
    let panel_w = (draw::text_width("MITOSES", s)
        .max(8 * s as i64 + 3 * s as i64 + draw::text_width(&widest, s))
        + 12 * s as i64)
        .max(60) as u32;
    let (w, h) = (thumb.width() + panel_w, thumb.height());
    let mut img = RgbImage::from_pixel(w, h, Rgb([255, 255, 255]));
    image::imageops::replace(&mut img, thumb, 0, 0);

    // Every field with tissue, coloured by its count on its tissue pixels only, so that
    // glass stays clear and partly covered fields at the tissue's edge are shown too.
    let shown: Vec<_> = report
        .fields
        .iter()
        .filter(|f| f.tissue_fraction > 0.0)
        .collect();
    let tissue = images
        .thumbnail_tissue
        .as_ref()
        .filter(|m| m.dim() == (thumb.height() as usize, thumb.width() as usize));
    // Colour by mitoses per mm² of the field (a field is one HPF): the colour bar's unit.
    let field_area_mm2 = report.parameters.hpf_area_mm2;
    let max_count = shown.iter().map(|f| f.mitoses).max().unwrap_or(0).max(1);
    let per_mm2 = |count: usize| count as f64 / field_area_mm2;
    let to_px = |v: f64| (v / ds).round() as i64;
    let right = thumb.width() as i64;
    let bottom = thumb.height() as i64;
    for f in &shown {
        let t = f.mitoses as f64 / max_count as f64;
        // Fields without mitoses only tinted, so the tissue stays readable.
        let alpha = if f.mitoses == 0 { 0.15 } else { 0.65 };
        let (x0, y0) = (to_px(f.x_px).max(0), to_px(f.y_px).max(0));
        let x1 = to_px(f.x_px + f.width_px).min(right);
        let y1 = to_px(f.y_px + f.height_px).min(bottom);
        match tissue {
            Some(mask) => {
                for y in y0..y1 {
                    for x in x0..x1 {
                        if mask[[y as usize, x as usize]] {
                            draw::blend_pixel(&mut img, x, y, draw::viridis(t), alpha);
                        }
                    }
                }
            }
            None => draw::blend_rect(&mut img, (x0, y0, x1, y1), draw::viridis(t), alpha),
        }
    }
    // The HPF grid: a faint line on the top and left edge of every field shown.
    for f in &shown {
        let (x0, y0) = (to_px(f.x_px), to_px(f.y_px));
        let (x1, y1) = (
            to_px(f.x_px + f.width_px).min(right),
            to_px(f.y_px + f.height_px),
        );
        let white = Rgb([255, 255, 255]);
        draw::blend_rect(&mut img, (x0, y0, x1, y0 + 1), white, 0.35);
        draw::blend_rect(&mut img, (x0, y0 + 1, x0 + 1, y1), white, 0.35);
    }
    if let Some(hs) = &report.hotspot {
        let r = (
            to_px(hs.x_px),
            to_px(hs.y_px),
            to_px(hs.x_px + hs.width_px),
            to_px(hs.y_px + hs.height_px),
        );
        draw::outline_rect_contrast(&mut img, r, 2 * s as i64 + 1);
    }
    if let Ok(mpp) = report.mpp() {
        scale_bar(&mut img, thumb.width(), mpp.um_per_px() * ds, s);
    }

    // Legend panel: title, colour bar from 0 (bottom) to max (top), hot-spot key.
    let px0 = thumb.width() as i64 + 4 * s as i64;
    let black = Rgb([0, 0, 0]);
    let mut y = 4 * s as i64;
    for line in ["MITOSES", "PER MM²"] {
        draw::text(&mut img, px0, y, line, s, black);
        y += draw::text_height(s) + 3 * s as i64;
    }
    y += 4 * s as i64;
    let key_h = draw::text_height(s) * 3 + 12 * s as i64;
    let bar_h = (h as i64 - y - key_h - 8 * s as i64).max(10);
    let bar_w = 8 * s as i64;
    for k in 0..bar_h {
        let t = 1.0 - k as f64 / (bar_h - 1).max(1) as f64;
        draw::fill_rect(&mut img, px0, y + k, bar_w, 1, draw::viridis(t));
    }
    draw::outline_rect(&mut img, (px0, y, px0 + bar_w, y + bar_h), 1, black);
    let lx = px0 + bar_w + 3 * s as i64;
    let label = |count: usize| format!("{:.1}", per_mm2(count));
    draw::text(&mut img, lx, y, &label(max_count), s, black);
    if max_count >= 2 {
        // A tick at half the top count, at its true height on the bar.
        let mid_count = max_count / 2;
        let frac = 1.0 - mid_count as f64 / max_count as f64;
        let my = y + (frac * (bar_h - 1) as f64).round() as i64 - draw::text_height(s) / 2;
        draw::text(&mut img, lx, my, &label(mid_count), s, black);
    }
    draw::text(
        &mut img,
        lx,
        y + bar_h - draw::text_height(s),
        "0",
        s,
        black,
    );
    let ky = y + bar_h + 6 * s as i64;
    let sw = 8 * s as i64;
    draw::outline_rect_contrast(&mut img, (px0, ky, px0 + sw, ky + sw), 3);
    draw::text(&mut img, px0 + sw + 3 * s as i64, ky, "HOT", s, black);
    draw::text(
        &mut img,
        px0 + sw + 3 * s as i64,
        ky + draw::text_height(s) + 2 * s as i64,
        "SPOT",
        s,
        black,
    );
    Ok(img)
}

/// A scale bar with its length at the bottom-left of an image `width` px wide whose pixels
/// are `um_per_px` µm.
fn scale_bar(img: &mut RgbImage, width: u32, um_per_px: f64, s: u32) {
    let len_um = draw::nice_length(width as f64 * um_per_px / 4.0);
    if len_um <= 0.0 {
        return;
    }
    let len_px = (len_um / um_per_px).round() as i64;
    let caption = if len_um >= 1000.0 {
        format!("{} mm", len_um / 1000.0)
    } else {
        format!("{len_um} µm")
    };
    let pad = 3 * s as i64;
    let box_w = len_px.max(draw::text_width(&caption, s)) + 2 * pad;
    let box_h = draw::text_height(s) + 4 * s as i64 + 3 * pad;
    let (x, y) = (2 * pad, img.height() as i64 - box_h - 2 * pad);
    draw::blend_rect(img, (x, y, x + box_w, y + box_h), Rgb([255, 255, 255]), 0.8);
    draw::fill_rect(img, x + pad, y + pad, len_px, 3 * s as i64, Rgb([0, 0, 0]));
    draw::text(
        img,
        x + pad,
        y + 2 * pad + 3 * s as i64,
        &caption,
        s,
        Rgb([0, 0, 0]),
    );
}

/// `hotspot.png`: the hot-spot region with the window outlined, the HPF grid's fields in
/// thin white lines, and every detection in view circled (radius [`CIRCLE_RADIUS_UM`]):
/// mitotic figures with thick solid green circles and their score, and the borderline
/// non-mitotic figures (score within [`BORDERLINE_SCORE_BAND`] of the threshold) with
/// thinner dashed yellow ones and their score; other candidates are not drawn. A white band below the picture holds the
/// key and a scale bar; the picture itself keeps the view's pixel grid (image px `(x, y)`
/// of the view is px `(x, y)` of the result). `None` without a hot spot or a view.
///
/// # Errors
/// [`Error::Output`] naming `hotspot.png` when the view is empty or its downsample is not
/// positive.
pub fn render_hotspot_view(report: &Report, images: &ReportImages) -> Result<Option<RgbImage>> {
    let (Some(hs), Some(view)) = (&report.hotspot, &images.hotspot_view) else {
        return Ok(None);
    };
    if view.image.width() == 0
        || view.image.height() == 0
        || !(view.downsample.is_finite() && view.downsample > 0.0)
    {
        return Err(Error::Output {
            path: PathBuf::from("hotspot.png"),
            reason: format!(
                "the hot-spot view is {}x{} px with downsample {}",
                view.image.width(),
                view.image.height(),
                view.downsample
            ),
        });
    }
    let mpp = report.mpp()?;
    let view_img = &view.image;
    let s = font_scale(view_img.width(), view_img.height());
    let pad = 4 * s as i64;
    let line_h = draw::text_height(s) + 6 * s as i64;
    // The key goes in a white band below the picture, so it never covers tissue.
    let band_h = (line_h + 2 * pad) as u32;
    let mut img = RgbImage::from_pixel(
        view_img.width(),
        view_img.height() + band_h,
        Rgb([255, 255, 255]),
    );
    image::imageops::replace(&mut img, view_img, 0, 0);
    // The HPF grid: thin white lines on every field's edges, so fields can be counted.
    for f in &report.fields {
        let (fx0, fy0) = view.to_image(f.x_px, f.y_px);
        let (fx1, fy1) = view.to_image(f.x_px + f.width_px, f.y_px + f.height_px);
        let (fx0, fy0, fx1, fy1) = (
            fx0.round() as i64,
            fy0.round() as i64,
            fx1.round() as i64,
            fy1.round() as i64,
        );
        let white = Rgb([255, 255, 255]);
        let t = s as i64;
        draw::blend_rect(&mut img, (fx0, fy0, fx1, fy0 + t), white, 0.6);
        draw::blend_rect(&mut img, (fx0, fy1 - t, fx1, fy1), white, 0.6);
        draw::blend_rect(&mut img, (fx0, fy0, fx0 + t, fy1), white, 0.6);
        draw::blend_rect(&mut img, (fx1 - t, fy0, fx1, fy1), white, 0.6);
    }
    let (x0, y0) = view.to_image(hs.x_px, hs.y_px);
    let (x1, y1) = view.to_image(hs.x_px + hs.width_px, hs.y_px + hs.height_px);
    let outline = 2 * s as i64 + 1;
    draw::outline_rect_contrast(
        &mut img,
        (
            x0.round() as i64,
            y0.round() as i64,
            x1.round() as i64,
            y1.round() as i64,
        ),
        outline,
    );
    let r = mpp.um_to_px(CIRCLE_RADIUS_UM) / view.downsample;
    let (w, h) = (view_img.width() as f64, view_img.height() as f64);
    let thick = s.max(2);
    let label_scale = (s / 2).max(1);
    let threshold = report.parameters.mitosis_threshold;
    let (mut n_mit, mut n_rej) = (0usize, 0usize);
    // Rejected first, so mitoses are drawn on top.
    for pass in [
        DetectionClass::NonMitoticFigure,
        DetectionClass::MitoticFigure,
    ] {
        // Non-mitotic figures only near the threshold: thousands of low scores would hide
        // the tissue (all are in detections.csv and the GeoJSON).
        for d in report.detections.iter().filter(|d| {
            d.class == pass
                && (pass == DetectionClass::MitoticFigure
                    || (d.score - threshold).abs() <= BORDERLINE_SCORE_BAND)
        }) {
            let (cx, cy) = view.to_image(d.x_px, d.y_px);
            if cx < -r || cy < -r || cx > w + r || cy > h + r {
                continue;
            }
            let color = match pass {
                DetectionClass::MitoticFigure => {
                    n_mit += 1;
                    draw::circle(&mut img, (cx, cy), r, thick + 1, MITOSIS_RGB, false);
                    MITOSIS_RGB
                }
                DetectionClass::NonMitoticFigure => {
                    n_rej += 1;
                    draw::circle(&mut img, (cx, cy), r, thick, CANDIDATE_RGB, true);
                    CANDIDATE_RGB
                }
            };
            // Every call and every borderline candidate carries its score, to the right
            // of its circle, on a dark shadow.
            {
                let text = format!("{:.2}", d.score);
                let (tx, ty) = (
                    (cx + r).round() as i64 + label_scale as i64 * 2,
                    cy.round() as i64 - draw::text_height(label_scale) / 2,
                );
                let black = Rgb([0, 0, 0]);
                for (ox, oy) in [(-1, 0), (1, 0), (0, -1), (0, 1)] {
                    draw::text(&mut img, tx + ox, ty + oy, &text, label_scale, black);
                }
                draw::text(&mut img, tx, ty, &text, label_scale, color);
            }
        }
    }
    // Clear anything drawn past the picture, then the key: samples and words in one row.
    draw::fill_rect(
        &mut img,
        0,
        h as i64,
        w as i64,
        band_h as i64,
        Rgb([255, 255, 255]),
    );
    let black = Rgb([0, 0, 0]);
    let ty = h as i64 + pad + 3 * s as i64;
    let cr = (draw::text_height(s) as f64 * 0.6).max(3.0);
    let cy = ty as f64 + draw::text_height(s) as f64 / 2.0;
    let mut x = pad;
    let entries = [
        (
            format!("MITOTIC FIGURE ({n_mit})"),
            Some((MITOSIS_RGB, false)),
        ),
        (
            format!("NON-MITOTIC FIGURE, BORDERLINE ({n_rej})"),
            Some((CANDIDATE_RGB, true)),
        ),
        (format!("HOT SPOT {:.2} mm²", hs.area_mm2), None),
    ];
    for (t, sample) in entries {
        match sample {
            Some((color, dashed)) => {
                draw::circle(&mut img, (x as f64 + cr, cy), cr, thick, color, dashed);
            }
            None => {
                let side = (2.0 * cr) as i64;
                let top = cy as i64 - side / 2;
                draw::outline_rect_contrast(
                    &mut img,
                    (x, top, x + side, top + side),
                    outline.min(side / 2),
                );
            }
        }
        x += (2.0 * cr) as i64 + 4 * s as i64;
        draw::text(&mut img, x, ty, &t, s, black);
        x += draw::text_width(&t, s) + 10 * s as i64;
    }
    // Scale bar at the right end of the band: the length, then the bar.
    let um_per_px = mpp.um_per_px() * view.downsample;
    let len_um = draw::nice_length(w * um_per_px / 8.0);
    if len_um > 0.0 {
        let len_px = (len_um / um_per_px).round() as i64;
        let caption = format!("{len_um} µm");
        let bar_x = w as i64 - pad - len_px;
        let text_x = bar_x - 3 * s as i64 - draw::text_width(&caption, s);
        if text_x > x {
            draw::text(&mut img, text_x, ty, &caption, s, black);
            draw::fill_rect(
                &mut img,
                bar_x,
                cy as i64 - s as i64,
                len_px,
                2 * s as i64,
                black,
            );
        }
    }
    Ok(Some(img))
}

/// A gallery crop with the detection marked by four short ticks (so the figure itself is
/// not covered), in the class colour.
pub fn render_crop(report: &Report, crop: &GalleryCrop) -> Option<RgbImage> {
    let d = report.detections.get(crop.detection_index)?;
    let mpp = report.mpp().ok()?;
    let mut img = crop.view.image.clone();
    let ds = crop.view.downsample;
    if img.width() == 0 || img.height() == 0 || ds.is_nan() || ds <= 0.0 {
        return None;
    }
    let (cx, cy) = crop.view.to_image(d.x_px, d.y_px);
    let r_in = mpp.um_to_px(9.0) / crop.view.downsample;
    let r_out = mpp.um_to_px(14.0) / crop.view.downsample;
    let color = match d.class {
        DetectionClass::MitoticFigure => MITOSIS_RGB,
        DetectionClass::NonMitoticFigure => CANDIDATE_RGB,
    };
    // A dark edge around the coloured ticks keeps them visible on purple and pink alike.
    draw::ticks(
        &mut img,
        (cx, cy),
        r_in - 1.0,
        r_out + 1.0,
        5,
        Rgb([0, 0, 0]),
    );
    draw::ticks(&mut img, (cx, cy), r_in, r_out, 3, color);
    Some(img)
}

/// PNG bytes of an image.
///
/// # Errors
/// [`Error::Output`] naming `name` if encoding fails.
pub fn encode_png(img: &RgbImage, name: &str) -> Result<Vec<u8>> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| Error::Output {
            path: PathBuf::from(name),
            reason: e.to_string(),
        })?;
    Ok(out.into_inner())
}

/// JPEG bytes (quality 0-100) of an image.
///
/// # Errors
/// [`Error::Output`] naming `name` if encoding fails.
pub fn encode_jpeg(img: &RgbImage, quality: u8, name: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(img)
        .map_err(|e| Error::Output {
            path: PathBuf::from(name),
            reason: e.to_string(),
        })?;
    Ok(out)
}
