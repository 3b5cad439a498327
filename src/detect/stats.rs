//! The slide's typical nucleus: fixed-bin histograms of the darkness of every
//! nucleus-like blob, merged over fields by adding integer counts (so the result does not
//! depend on the order fields finish in, hence not on the thread count).

/// Width of one histogram bin (OD).
pub const BIN_OD: f64 = 0.01;
/// Number of bins; the last one also holds everything above `BINS * BIN_OD` (3 OD).
pub const BINS: usize = 300;

/// Histograms of the mean and peak haematoxylin OD of the nucleus-like blobs of a field
/// or a slide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NucleusStats {
    mean_h: Vec<u64>,
    max_h: Vec<u64>,
}

impl Default for NucleusStats {
    fn default() -> Self {
        NucleusStats {
            mean_h: vec![0; BINS],
            max_h: vec![0; BINS],
        }
    }
}

fn bin(od: f64) -> usize {
    if od.is_finite() && od > 0.0 {
        ((od / BIN_OD) as usize).min(BINS - 1)
    } else {
        0
    }
}

/// The value at quantile `q` (0..=1) of a histogram, at the centre of its bin; `None`
/// when empty.
fn quantile(hist: &[u64], q: f64) -> Option<f64> {
    let total: u64 = hist.iter().sum();
    if total == 0 {
        return None;
    }
    // Rank of the wanted element, 1-based.
    let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
    let mut seen = 0;
    for (i, &c) in hist.iter().enumerate() {
        seen += c;
        if seen >= rank {
            return Some((i as f64 + 0.5) * BIN_OD);
        }
    }
    None
}

impl NucleusStats {
    /// Counts one blob of mean H OD `mean_h_od` and peak `max_h_od`.
    pub fn add(&mut self, mean_h_od: f64, max_h_od: f64) {
        self.mean_h[bin(mean_h_od)] += 1;
        self.max_h[bin(max_h_od)] += 1;
    }

    /// Adds another summary's counts (commutative and associative).
    pub fn merge(&mut self, other: &NucleusStats) {
        for (a, b) in self.mean_h.iter_mut().zip(&other.mean_h) {
            *a += b;
        }
        for (a, b) in self.max_h.iter_mut().zip(&other.max_h) {
            *a += b;
        }
    }

    /// Number of blobs counted.
    pub fn count(&self) -> u64 {
        self.mean_h.iter().sum()
    }

    /// Quantile `q` (0..=1) of the blobs' mean H OD, `None` when nothing was counted.
    pub fn mean_h_quantile(&self, q: f64) -> Option<f64> {
        quantile(&self.mean_h, q)
    }

    /// Quantile `q` (0..=1) of the blobs' peak H OD, `None` when nothing was counted.
    pub fn max_h_quantile(&self, q: f64) -> Option<f64> {
        quantile(&self.max_h, q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_and_merge_are_order_independent() {
        let mut a = NucleusStats::default();
        let mut b = NucleusStats::default();
        for i in 0..100 {
            a.add(0.2 + 0.001 * f64::from(i), 0.5);
        }
        b.add(1.0, 1.5);
        b.add(9.0, f64::NAN);
        let mut ab = a.clone();
        ab.merge(&b);
        let mut ba = b.clone();
        ba.merge(&a);
        assert_eq!(ab, ba);
        assert_eq!(ab.count(), 102);
        let median = a.mean_h_quantile(0.5).unwrap();
        assert!((median - 0.245).abs() < 0.011, "{median}");
        assert_eq!(ab.mean_h_quantile(1.0), Some(2.995));
        assert_eq!(NucleusStats::default().mean_h_quantile(0.5), None);
    }
}
