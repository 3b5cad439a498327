//! Drawing helpers for the report's pictures: a perceptual colour map, a tiny bitmap font
//! (digits, capitals and a few signs, so legends need no font files), outlines, circles and
//! alpha blending. Everything clips to the image.

use image::{Rgb, RgbImage};
use imageproc::drawing::{draw_filled_rect_mut, draw_hollow_circle_mut};
use imageproc::rect::Rect;

/// Viridis (van der Walt & Smith, matplotlib 1.5) sampled at 10 equal steps; linear
/// interpolation between them stays within a few RGB levels of the full table.
const VIRIDIS: [[u8; 3]; 10] = [
    [0x44, 0x01, 0x54],
    [0x48, 0x28, 0x78],
    [0x3e, 0x49, 0x89],
    [0x31, 0x68, 0x8e],
    [0x26, 0x82, 0x8e],
    [0x1f, 0x9e, 0x89],
    [0x35, 0xb7, 0x79],
    [0x6e, 0xce, 0x58],
    [0xb5, 0xde, 0x2b],
    [0xfd, 0xe7, 0x25],
];

/// The viridis colour at `t` in 0..=1 (clamped; NaN gives the low end).
pub fn viridis(t: f64) -> Rgb<u8> {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let pos = t * (VIRIDIS.len() - 1) as f64;
    let i = (pos.floor() as usize).min(VIRIDIS.len() - 2);
    let f = pos - i as f64;
    let mix = |a: u8, b: u8| (a as f64 + f * (b as f64 - a as f64)).round() as u8;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    Rgb([mix(a[0], b[0]), mix(a[1], b[1]), mix(a[2], b[2])])
}

/// Blends `color` over pixel `(x, y)` with opacity `alpha` (0..=1); outside is ignored.
pub fn blend_pixel(img: &mut RgbImage, x: i64, y: i64, color: Rgb<u8>, alpha: f64) {
    if x < 0 || y < 0 || x >= img.width() as i64 || y >= img.height() as i64 {
        return;
    }
    let p = img.get_pixel_mut(x as u32, y as u32);
    for c in 0..3 {
        let v = p.0[c] as f64 * (1.0 - alpha) + color.0[c] as f64 * alpha;
        p.0[c] = v.round().clamp(0.0, 255.0) as u8;
    }
}

/// Blends `color` over the rectangle `[x0, x1) x [y0, y1)` (image px, clipped).
pub fn blend_rect(
    img: &mut RgbImage,
    (x0, y0, x1, y1): (i64, i64, i64, i64),
    color: Rgb<u8>,
    alpha: f64,
) {
    let (w, h) = (img.width() as i64, img.height() as i64);
    for y in y0.max(0)..y1.min(h) {
        for x in x0.max(0)..x1.min(w) {
            blend_pixel(img, x, y, color, alpha);
        }
    }
}

/// Fills `[x, x + w) x [y, y + h)` (clipped).
pub fn fill_rect(img: &mut RgbImage, x: i64, y: i64, w: i64, h: i64, color: Rgb<u8>) {
    let (iw, ih) = (img.width() as i64, img.height() as i64);
    let (x0, y0) = (x.max(0), y.max(0));
    let (x1, y1) = ((x + w).min(iw), (y + h).min(ih));
    if x1 > x0 && y1 > y0 {
        let rect = Rect::at(x0 as i32, y0 as i32).of_size((x1 - x0) as u32, (y1 - y0) as u32);
        draw_filled_rect_mut(img, rect, color);
    }
}

/// Draws the outline of `[x0, x1) x [y0, y1)` (image px) `thickness` px wide, inside the
/// rectangle's border, in `color`.
pub fn outline_rect(
    img: &mut RgbImage,
    (x0, y0, x1, y1): (i64, i64, i64, i64),
    thickness: i64,
    color: Rgb<u8>,
) {
    let t = thickness.max(1);
    fill_rect(img, x0, y0, x1 - x0, t, color);
    fill_rect(img, x0, y1 - t, x1 - x0, t, color);
    fill_rect(img, x0, y0, t, y1 - y0, color);
    fill_rect(img, x1 - t, y0, t, y1 - y0, color);
}

/// A rectangle outline readable on any background: a white band between black edges,
/// `width` px in total (at least 3).
pub fn outline_rect_contrast(img: &mut RgbImage, r: (i64, i64, i64, i64), width: i64) {
    let w = width.max(3);
    outline_rect(img, r, w, Rgb([0, 0, 0]));
    outline_rect(
        img,
        (r.0 + 1, r.1 + 1, r.2 - 1, r.3 - 1),
        w - 2,
        Rgb([255, 255, 255]),
    );
}

/// A circle of radius `radius` (image px) `thickness` px wide around `(cx, cy)`; dashed
/// circles leave every other arc of about 6 px empty.
pub fn circle(
    img: &mut RgbImage,
    (cx, cy): (f64, f64),
    radius: f64,
    thickness: u32,
    color: Rgb<u8>,
    dashed: bool,
) {
    let (cxi, cyi) = (cx.round() as i32, cy.round() as i32);
    for k in 0..thickness.max(1) as i32 {
        let r = (radius.round() as i32 + k).max(1);
        if !dashed {
            draw_hollow_circle_mut(img, (cxi, cyi), r, color);
            continue;
        }
        let steps = (2.0 * std::f64::consts::PI * r as f64).ceil().max(8.0) as usize * 2;
        for s in 0..steps {
            let arc = s as f64 / steps as f64 * 2.0 * std::f64::consts::PI * r as f64;
            if (arc / 6.0).floor() as i64 % 2 == 1 {
                continue;
            }
            let a = s as f64 / steps as f64 * 2.0 * std::f64::consts::PI;
            let x = (cx + r as f64 * a.cos()).round() as i64;
            let y = (cy + r as f64 * a.sin()).round() as i64;
            blend_pixel(img, x, y, color, 1.0);
        }
    }
}

/// Short radial ticks at 12, 3, 6 and 9 o'clock from `r_in` to `r_out` (image px) around
/// `(cx, cy)`: marks a spot without covering it.
pub fn ticks(
    img: &mut RgbImage,
    (cx, cy): (f64, f64),
    r_in: f64,
    r_out: f64,
    thickness: i64,
    color: Rgb<u8>,
) {
    let t = thickness.max(1);
    let (cx, cy) = (cx.round() as i64, cy.round() as i64);
    let (a, b) = (
        r_in.round() as i64,
        r_out.round().max(r_in.round() + 1.0) as i64,
    );
    let half = t / 2;
    fill_rect(img, cx - half, cy - b, t, b - a, color);
    fill_rect(img, cx - half, cy + a, t, b - a, color);
    fill_rect(img, cx - b, cy - half, b - a, t, color);
    fill_rect(img, cx + a, cy - half, b - a, t, color);
}

/// Glyph rows (5 bits each, MSB left) of the 5x7 font; unknown characters draw as blanks.
fn glyph(c: char) -> [u8; 7] {
    match c {
        'm' => return [0x00, 0x00, 0x1a, 0x15, 0x15, 0x11, 0x11],
        'µ' => return [0x00, 0x11, 0x11, 0x11, 0x13, 0x1d, 0x10],
        _ => {}
    }
    match c.to_ascii_uppercase() {
        '0' => [0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e],
        '1' => [0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e],
        '2' => [0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f],
        '3' => [0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e],
        '4' => [0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02],
        '5' => [0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e],
        '6' => [0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e],
        '7' => [0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e],
        '9' => [0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c],
        'A' => [0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11],
        'B' => [0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e],
        'C' => [0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e],
        'D' => [0x1c, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1c],
        'E' => [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f],
        'F' => [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10],
        'G' => [0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f],
        'H' => [0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11],
        'I' => [0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f],
        'M' => [0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e],
        'P' => [0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10],
        'Q' => [0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d],
        'R' => [0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11],
        'S' => [0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e],
        'T' => [0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a],
        'X' => [0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0a, 0x04, 0x04, 0x04],
        'Z' => [0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c],
        ',' => [0x00, 0x00, 0x00, 0x00, 0x0c, 0x04, 0x08],
        '/' => [0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00],
        '-' => [0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00],
        '+' => [0x00, 0x04, 0x04, 0x1f, 0x04, 0x04, 0x00],
        ':' => [0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x00],
        '%' => [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
        '(' => [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
        ')' => [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
        '>' => [0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08],
        '<' => [0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02],
        '=' => [0x00, 0x00, 0x1f, 0x00, 0x1f, 0x00, 0x00],
        '²' => [0x0c, 0x12, 0x04, 0x08, 0x1e, 0x00, 0x00],
        _ => [0; 7],
    }
}

/// Width in px of `text` at `scale` (each glyph 5 px wide plus 1 px gap, times `scale`).
pub fn text_width(text: &str, scale: u32) -> i64 {
    let n = text.chars().count() as i64;
    if n == 0 {
        0
    } else {
        (6 * n - 1) * scale as i64
    }
}

/// Height in px of one line of text at `scale`.
pub fn text_height(scale: u32) -> i64 {
    7 * scale as i64
}

/// Draws `text` (capitals, digits, `m`, `µ` and `. , / - + : % ( ) < > = ²`; other
/// lower-case letters as capitals) with its top-left at
/// `(x, y)`, each font pixel `scale` x `scale` image px.
pub fn text(img: &mut RgbImage, x: i64, y: i64, text: &str, scale: u32, color: Rgb<u8>) {
    let s = scale.max(1) as i64;
    for (i, c) in text.chars().enumerate() {
        let rows = glyph(c);
        let gx = x + i as i64 * 6 * s;
        for (r, bits) in rows.iter().enumerate() {
            for col in 0..5 {
                if bits & (0x10 >> col) != 0 {
                    fill_rect(img, gx + col * s, y + r as i64 * s, s, s, color);
                }
            }
        }
    }
}

/// A "nice" length for a scale bar: 1, 2 or 5 times a power of ten, at most `max`.
pub fn nice_length(max: f64) -> f64 {
    if !(max.is_finite() && max > 0.0) {
        return 0.0;
    }
    let p = 10f64.powf(max.log10().floor());
    for m in [5.0, 2.0, 1.0] {
        if m * p <= max {
            return m * p;
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viridis_ends_and_middle() {
        assert_eq!(viridis(0.0), Rgb([0x44, 0x01, 0x54]));
        assert_eq!(viridis(1.0), Rgb([0xfd, 0xe7, 0x25]));
        // matplotlib viridis(0.5) = (33, 145, 140) within interpolation error.
        let m = viridis(0.5);
        assert!(
            (m.0[0] as i32 - 33).abs() <= 3 && (m.0[1] as i32 - 145).abs() <= 3,
            "{m:?}"
        );
        assert_eq!(viridis(f64::NAN), viridis(0.0));
    }

    #[test]
    fn text_draws_inside_its_box_only() {
        let mut img = RgbImage::from_pixel(60, 20, Rgb([255, 255, 255]));
        text(&mut img, 2, 3, "10 MM", 2, Rgb([0, 0, 0]));
        let w = text_width("10 MM", 2);
        let mut dark = 0;
        for (x, y, p) in img.enumerate_pixels() {
            if p.0[0] == 0 {
                dark += 1;
                assert!((2..2 + w).contains(&(x as i64)) && (3..3 + 14).contains(&(y as i64)));
            }
        }
        assert!(dark > 50);
    }

    #[test]
    fn nice_lengths() {
        assert_eq!(nice_length(1234.0), 1000.0);
        assert_eq!(nice_length(260.0), 200.0);
        assert_eq!(nice_length(7.0), 5.0);
        assert_eq!(nice_length(0.0), 0.0);
    }

    #[test]
    fn drawing_clips_at_borders() {
        let mut img = RgbImage::new(10, 10);
        outline_rect(&mut img, (-5, -5, 20, 20), 3, Rgb([255, 0, 0]));
        circle(&mut img, (0.0, 0.0), 30.0, 3, Rgb([0, 255, 0]), true);
        ticks(&mut img, (9.0, 9.0), 3.0, 8.0, 2, Rgb([0, 0, 255]));
        blend_rect(&mut img, (-3, -3, 100, 100), Rgb([255, 255, 255]), 0.5);
    }
}
