//! Plausibility checks: numbers that no tissue gives are said out loud (in stdout,
//! report.json and the HTML), because they usually mean a wrong pixel size.
//!
//! A pixel size wrong by a factor k scales every length by k and every area by k², so
//! densities per mm² change by 1/k² and nuclei change size: the two checks here look for
//! those two symptoms. (The third, a `--mpp` far from the file's own value, is made by the
//! pipeline, which knows the file.)

use super::Detection;

/// Mitoses per mm² above which a density is called implausible: 60 per mm² is about 140
/// per 10 HPF of 0.237 mm², beyond the highest counts reported for the most proliferative
/// tumours (FNCLCC's top band starts at 20 per 10 HPF; high-grade lymphomas and small-cell
/// carcinomas rarely exceed about 100 per 10 HPF).
pub const MAX_PLAUSIBLE_MITOSES_PER_MM2: f64 = 60.0;

/// Range of the median area (µm², the `area_um2` column) of the listed candidates on
/// correctly scaled slides. Measured with the shipped model: 12.2 µm² on CMU-1 at its own
/// 0.499 µm/px, 15.8 on tiatoolbox's carcinoma at 0.25, 18.0 on the synthetic sample;
/// 7.5 on CMU-1 read at half its pixel size (`--mpp 0.25`) and 8.2 on the TCGA export
/// (a low-power image) read at 0.5 µm/px. The detector keeps blobs 3-15 µm across, so a
/// wrong pixel size moves the median less than the square of its error: this check
/// catches a pixel size about 2x too small, not small errors.
pub const PLAUSIBLE_MEDIAN_CANDIDATE_AREA_UM2: (f64, f64) = (9.5, 60.0);

/// Fewest listed candidates for the size check (a median of a handful says little).
pub const MIN_CANDIDATES_FOR_SIZE_CHECK: usize = 30;

/// What the checks look at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evidence {
    /// Tissue area in HPF.
    pub tissue_hpf: f64,
    /// Mitoses per mm² over all tissue, `None` without tissue.
    pub all_tissue_per_mm2: Option<f64>,
    /// Mitoses per mm² in the hot spot, `None` without one.
    pub hotspot_per_mm2: Option<f64>,
    /// The pixel size used, µm/px.
    pub mpp_um_per_px: f64,
}

/// The warnings the evidence calls for (empty when all is plausible). Each starts with
/// "implausible".
pub fn warnings(e: &Evidence, detections: &[Detection]) -> Vec<String> {
    let mut out = Vec::new();
    let densest = match (e.hotspot_per_mm2, e.all_tissue_per_mm2) {
        (Some(h), _) => Some(("in the hot spot", h)),
        (None, Some(a)) if e.tissue_hpf >= 1.0 => Some(("over all tissue", a)),
        _ => None,
    };
    if let Some((place, per_mm2)) = densest {
        if per_mm2 > MAX_PLAUSIBLE_MITOSES_PER_MM2 {
            out.push(format!(
                "implausible density: {per_mm2:.0} mitoses per mm² {place}, more than any \
                 tissue reaches (the check's limit is {MAX_PLAUSIBLE_MITOSES_PER_MM2:.0} per \
                 mm²); the pixel size ({:.4} µm/px) is probably wrong, or the classifier is \
                 calling something it should not: check the gallery",
                e.mpp_um_per_px
            ));
        }
    }
    let mut areas: Vec<f64> = detections
        .iter()
        .filter(|d| d.area_um2.is_finite() && d.area_um2 > 0.0)
        .map(|d| d.area_um2)
        .collect();
    if areas.len() >= MIN_CANDIDATES_FOR_SIZE_CHECK {
        areas.sort_by(f64::total_cmp);
        let median = areas[areas.len() / 2];
        let (lo, hi) = PLAUSIBLE_MEDIAN_CANDIDATE_AREA_UM2;
        if !(lo..=hi).contains(&median) {
            let typical = (lo * hi).sqrt();
            let factor = if median < lo {
                (typical / median).sqrt()
            } else {
                (median / typical).sqrt()
            };
            out.push(format!(
                "implausible nuclei sizes: the candidate nuclei have a median area of \
                 {median:.1} µm², outside the {lo}-{hi} µm² of correctly scaled \
                 slides; the pixel size {:.4} µm/px looks about {factor:.1} times too {}",
                e.mpp_um_per_px,
                if median < lo { "small" } else { "large" }
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::DetectionClass;

    fn evidence(hotspot_per_mm2: Option<f64>) -> Evidence {
        Evidence {
            tissue_hpf: 20.0,
            all_tissue_per_mm2: Some(1.0),
            hotspot_per_mm2,
            mpp_um_per_px: 0.5,
        }
    }

    fn nuclei(area_um2: f64, n: usize) -> Vec<Detection> {
        (0..n)
            .map(|i| Detection {
                x_px: i as f64,
                y_px: 0.0,
                x_um: 0.0,
                y_um: 0.0,
                area_um2,
                score: 0.1,
                class: DetectionClass::NonMitoticFigure,
                hpf_row: 0,
                hpf_col: 0,
                features: Vec::new(),
            })
            .collect()
    }

    #[test]
    fn a_density_no_tissue_reaches_is_warned_about() {
        // 850 per 10 HPF of 0.237 mm², as once reported for the TCGA export at 0.5 µm/px.
        let w = warnings(&evidence(Some(850.0 / 2.37)), &[]);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].starts_with("implausible density: 359 mitoses per mm² in the hot spot"));
        assert!(warnings(&evidence(Some(20.0)), &[]).is_empty());
        // Without a hot spot, the density over at least 1 HPF of tissue.
        let e = Evidence {
            hotspot_per_mm2: None,
            all_tissue_per_mm2: Some(100.0),
            ..evidence(None)
        };
        assert_eq!(warnings(&e, &[]).len(), 1);
    }

    #[test]
    fn nuclei_of_impossible_size_are_warned_about() {
        let e = evidence(None);
        assert!(warnings(&e, &nuclei(12.2, 300)).is_empty());
        let small = warnings(&e, &nuclei(7.5, 300));
        assert!(small[0].contains("too small"), "{small:?}");
        assert!(warnings(&e, &nuclei(200.0, 300))[0].contains("too large"));
        // Too few candidates to judge.
        assert!(warnings(&e, &nuclei(2.0, MIN_CANDIDATES_FOR_SIZE_CHECK - 1)).is_empty());
    }
}
