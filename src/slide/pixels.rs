//! Pixel helpers of the region reads: block means for overviews and crops with a white
//! outside.

/// Means (rounded) of the `k` x `k` pixel cells of `region`, `bw` x `bh` cells, the last
/// row and column of cells cut by the region's edge; interleaved RGB8, row by row.
pub(super) fn block_means(region: &image::RgbImage, k: usize, bw: usize, bh: usize) -> Vec<u8> {
    let (rw, rh) = (region.width() as usize, region.height() as usize);
    // Column sums over a row of cells (a plain add of rows, which vectorises), then the
    // k columns of each cell.
    let mut column_sums = vec![0u32; rw * 3];
    let mut means = Vec::with_capacity(bw * bh * 3);
    for oy in 0..bh {
        column_sums.fill(0);
        let (sy0, sy1) = (oy * k, ((oy + 1) * k).min(rh));
        for row in region.as_raw()[sy0 * rw * 3..sy1 * rw * 3].chunks_exact(rw * 3) {
            for (sum, &v) in column_sums.iter_mut().zip(row) {
                *sum += u32::from(v);
            }
        }
        for (ox, cell) in column_sums.chunks(k * 3).take(bw).enumerate() {
            let mut sum = [0u64; 3];
            for px in cell.chunks_exact(3) {
                for c in 0..3 {
                    sum[c] += u64::from(px[c]);
                }
            }
            let n = (((ox + 1) * k).min(rw) - ox * k) as u64 * (sy1 - sy0) as u64;
            means.extend(sum.map(|v| ((v + n / 2) / n) as u8));
        }
    }
    means
}

/// Copies a rectangle of `src` into a new image, white outside `src` (as
/// [`Slide::read_region`] does outside a slide).
pub fn crop_with_white(
    src: &image::RgbImage,
    x: i64,
    y: i64,
    width: u32,
    height: u32,
) -> image::RgbImage {
    let mut out = image::RgbImage::from_pixel(width, height, image::Rgb([255, 255, 255]));
    let (sw, sh) = (i64::from(src.width()), i64::from(src.height()));
    let x0 = x.max(0);
    let y0 = y.max(0);
    let x1 = (x + i64::from(width)).min(sw);
    let y1 = (y + i64::from(height)).min(sh);
    if x0 >= x1 || y0 >= y1 {
        return out;
    }
    let row_bytes = ((x1 - x0) * 3) as usize;
    for sy in y0..y1 {
        let src_off = ((sy * sw + x0) * 3) as usize;
        let dst_off = (((sy - y) * i64::from(width) + (x0 - x)) * 3) as usize;
        out.as_mut()[dst_off..dst_off + row_bytes]
            .copy_from_slice(&src.as_raw()[src_off..src_off + row_bytes]);
    }
    out
}
