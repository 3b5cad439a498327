//! Times the embedded classifier's forward pass on one thread (patches per second).
//! Usage: cargo run --release --example cnn_speed [-- N]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args().nth(1).map_or(Ok(2000), |s| s.parse())?;
    let c = mitocount::detect::cnn::Classifier::embedded()?;
    let side = c.input_px();
    let patch: Vec<u8> = (0..side * side * 3).map(|i| (i * 37 % 251) as u8).collect();
    let mut scratch = mitocount::detect::cnn::Scratch::default();
    let mut input = Vec::new();
    let mut sum = 0.0;
    let start = std::time::Instant::now();
    for _ in 0..n {
        sum += c.probability(&patch, &mut scratch, &mut input);
    }
    let s = start.elapsed().as_secs_f64();
    println!(
        "{n} patches in {s:.3} s: {:.0} patches/s, {:.2} GMAC/s ({} MAC per patch), mean p {:.4}",
        n as f64 / s,
        n as f64 * c.info().multiply_adds as f64 / s / 1e9,
        c.info().multiply_adds,
        sum / n as f64
    );
    Ok(())
}
