//! Mitotic-count criteria and the verdict they give.
//!
//! Each criterion is stated in its own unit (per 10 HPF, per 5 mm², per 2 mm²). The count
//! measured in a window of some area is converted to that unit by area:
//! `value = count * reference_area_mm2 / window_area_mm2`. The pipeline should make the
//! hot-spot window the criterion's reference area ([`Criterion::reference_area_mm2`]),
//! so that `value` is the raw count and nothing is extrapolated.

use crate::error::{Error, Result};

/// Default threshold for cutaneous leiomyosarcoma: at least 3 mitoses per 10 HPF.
pub const DEFAULT_CUTANEOUS_LMS_THRESHOLD_PER_10_HPF: f64 = 3.0;

/// A mitotic-count criterion, chosen with `--criterion NAME` (and `--threshold` where the
/// criterion takes one).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "name", rename_all = "kebab-case")]
pub enum Criterion {
    /// Cutaneous (dermal) leiomyosarcoma versus leiomyoma: positive at
    /// `>= threshold_per_10_hpf` mitoses per 10 HPF (default 3). No validated cut-off exists
    /// in the literature for this tumour; the threshold is a user setting.
    CutaneousLeiomyosarcoma {
        /// Mitoses per 10 HPF at or above which the verdict is positive.
        threshold_per_10_hpf: f64,
    },
    /// Uterine smooth-muscle tumours (Stanford criteria, Bell et al. 1994, Am J Surg
    /// Pathol 18:535-558): `>= 10` per 10 HPF meets the mitotic criterion for
    /// leiomyosarcoma; 5-9 is the range where atypia and necrosis decide (STUMP).
    UterineLeiomyosarcoma,
    /// FNCLCC sarcoma grading, mitotic score (Trojani et al. 1984, Int J Cancer 33:37-42;
    /// Coindre 2006): score 1 for 0-9, 2 for 10-19, 3 for `>= 20` mitoses per 10 HPF.
    FnclccMitoticScore,
    /// Gastrointestinal stromal tumour risk (Miettinen & Lasota 2006, Semin Diagn Pathol
    /// 23:70-83; AJCC 8th ed.): mitotic rate `<= 5` (low) versus `> 5` (high) per 5 mm².
    Gist,
    /// Gastro-entero-pancreatic neuroendocrine tumours (WHO 2019): grade G1 `< 2`, G2 2-20,
    /// G3 `> 20` mitoses per 2 mm².
    Neuroendocrine,
    /// Canine cutaneous mast cell tumour, two-tier grade (Kiupel et al. 2011, Vet Pathol
    /// 48:147-155): `>= 7` mitoses per 10 HPF (2.37 mm² in the MIDOG convention) is one of
    /// the high-grade criteria.
    CanineMastCellKiupel,
}

impl Default for Criterion {
    /// Cutaneous leiomyosarcoma, `>= 3` per 10 HPF.
    fn default() -> Self {
        Criterion::CutaneousLeiomyosarcoma {
            threshold_per_10_hpf: DEFAULT_CUTANEOUS_LMS_THRESHOLD_PER_10_HPF,
        }
    }
}

/// How a value is compared with a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Comparison {
    /// `value >= threshold`.
    #[serde(rename = ">=")]
    AtLeast,
    /// `value > threshold`.
    #[serde(rename = ">")]
    MoreThan,
}

impl Comparison {
    /// The operator as text, `>=` or `>`.
    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::AtLeast => ">=",
            Comparison::MoreThan => ">",
        }
    }

    /// Whether `value` passes `threshold`.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::AtLeast => value >= threshold,
            Comparison::MoreThan => value > threshold,
        }
    }
}

/// The outcome of a criterion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The mitotic criterion is met (value passes the threshold).
    Positive,
    /// The mitotic criterion is not met.
    Negative,
    /// In a band where the count alone does not decide (uterine 5-9 per 10 HPF: STUMP).
    Borderline,
    /// A graded criterion (FNCLCC score, neuroendocrine grade): see `grade`.
    Graded,
}

impl Outcome {
    /// Upper-case word for displays: POSITIVE, NEGATIVE, BORDERLINE, GRADED.
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Positive => "POSITIVE",
            Outcome::Negative => "NEGATIVE",
            Outcome::Borderline => "BORDERLINE",
            Outcome::Graded => "GRADED",
        }
    }
}

/// What the count was measured over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VerdictBasis {
    /// The mitotic hot spot (densest window).
    Hotspot,
    /// All tissue, because no hot-spot window fits in the tissue.
    AllTissue,
}

/// A count over an area, to be judged by a [`Criterion`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measurement {
    /// Mitoses counted.
    pub count: usize,
    /// Area they were counted over, mm².
    pub area_mm2: f64,
    /// HPF area in use, mm² (e.g. 0.237).
    pub hpf_area_mm2: f64,
    /// Hot spot or all tissue.
    pub basis: VerdictBasis,
}

/// The verdict of a criterion on a measurement, with the numbers used.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Verdict {
    /// The criterion, as given to `--criterion`, e.g. `cutaneous-leiomyosarcoma`.
    pub criterion: String,
    /// The criterion in words, e.g. "cutaneous leiomyosarcoma".
    pub criterion_title: String,
    /// Positive, negative, borderline or graded.
    pub outcome: Outcome,
    /// The category in words, e.g. "mitotic criterion met", "FNCLCC mitotic score 2".
    pub category: String,
    /// Grade or score for graded criteria (FNCLCC 1-3, neuroendocrine G1-G3).
    pub grade: Option<u8>,
    /// The criterion's unit, e.g. "mitoses per 10 HPF".
    pub unit: String,
    /// The area the unit refers to, mm² (10 HPF = 10 x HPF area; 5 mm²; 2 mm²).
    pub reference_area_mm2: f64,
    /// Mitoses counted.
    pub count: usize,
    /// Area counted over, mm².
    pub counted_area_mm2: f64,
    /// The count in the criterion's unit: `count * reference_area_mm2 / counted_area_mm2`,
    /// except that a count over less than the reference area (all tissue smaller than it) is
    /// not scaled up.
    pub value: f64,
    /// The main cut-off in the criterion's unit (the lowest one for graded criteria).
    pub threshold: f64,
    /// How `value` is compared with `threshold`.
    pub comparison: Comparison,
    /// Hot spot or all tissue.
    pub basis: VerdictBasis,
    /// One sentence with the numbers used; the report adds pixel size and stain vectors.
    pub statement: String,
    /// Caveats from the literature and about the measurement.
    pub notes: Vec<String>,
}

/// Names accepted by [`Criterion::from_name`].
pub const CRITERION_NAMES: [&str; 6] = [
    "cutaneous-leiomyosarcoma",
    "uterine-leiomyosarcoma",
    "fnclcc",
    "gist",
    "neuroendocrine",
    "canine-mast-cell-kiupel",
];

impl Criterion {
    /// The criterion for `--criterion NAME` with an optional `--threshold`.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming `--criterion` for an unknown name (the message lists
    /// the known ones), or `--threshold` when it is given for a criterion with fixed
    /// cut-offs or is not a finite number >= 0.
    pub fn from_name(name: &str, threshold_per_10_hpf: Option<f64>) -> Result<Self> {
        let criterion = match name {
            "cutaneous-leiomyosarcoma" | "cutaneous-lms" => Criterion::default(),
            "uterine-leiomyosarcoma" | "uterine-lms" => Criterion::UterineLeiomyosarcoma,
            "fnclcc" => Criterion::FnclccMitoticScore,
            "gist" => Criterion::Gist,
            "neuroendocrine" | "net" => Criterion::Neuroendocrine,
            "canine-mast-cell-kiupel" | "kiupel" => Criterion::CanineMastCellKiupel,
            other => {
                return Err(Error::invalid_option(
                    "--criterion",
                    format!(
                        "unknown criterion {other:?}; known: {}",
                        CRITERION_NAMES.join(", ")
                    ),
                ))
            }
        };
        match (criterion, threshold_per_10_hpf) {
            (_, None) => Ok(criterion),
            (Criterion::CutaneousLeiomyosarcoma { .. }, Some(t)) => {
                if !(t.is_finite() && t >= 0.0) {
                    return Err(Error::invalid_option(
                        "--threshold",
                        format!(
                            "the threshold must be a number of mitoses per 10 HPF >= 0, got {t}"
                        ),
                    ));
                }
                Ok(Criterion::CutaneousLeiomyosarcoma {
                    threshold_per_10_hpf: t,
                })
            }
            (c, Some(_)) => Err(Error::invalid_option(
                "--threshold",
                format!(
                    "the {} criterion has fixed cut-offs; --threshold applies only to \
                     cutaneous-leiomyosarcoma",
                    c.name()
                ),
            )),
        }
    }

    /// The name as given to `--criterion`.
    pub fn name(&self) -> &'static str {
        match self {
            Criterion::CutaneousLeiomyosarcoma { .. } => "cutaneous-leiomyosarcoma",
            Criterion::UterineLeiomyosarcoma => "uterine-leiomyosarcoma",
            Criterion::FnclccMitoticScore => "fnclcc",
            Criterion::Gist => "gist",
            Criterion::Neuroendocrine => "neuroendocrine",
            Criterion::CanineMastCellKiupel => "canine-mast-cell-kiupel",
        }
    }

    /// The criterion in words.
    pub fn title(&self) -> &'static str {
        match self {
            Criterion::CutaneousLeiomyosarcoma { .. } => "cutaneous leiomyosarcoma",
            Criterion::UterineLeiomyosarcoma => "uterine leiomyosarcoma (Stanford criteria)",
            Criterion::FnclccMitoticScore => "FNCLCC mitotic score",
            Criterion::Gist => "GIST mitotic rate",
            Criterion::Neuroendocrine => "neuroendocrine tumour grade (WHO 2019)",
            Criterion::CanineMastCellKiupel => "canine mast cell tumour (Kiupel two-tier)",
        }
    }

    /// The unit in words, e.g. "mitoses per 10 HPF".
    pub fn unit(&self) -> &'static str {
        match self {
            Criterion::Gist => "mitoses per 5 mm²",
            Criterion::Neuroendocrine => "mitoses per 2 mm²",
            _ => "mitoses per 10 HPF",
        }
    }

    /// The area the criterion's unit refers to, mm², for HPF area `hpf_area_mm2`: 10 HPF
    /// for the per-10-HPF criteria, 5 mm² for GIST, 2 mm² for neuroendocrine tumours. The
    /// pipeline should use it as the hot-spot window area.
    pub fn reference_area_mm2(&self, hpf_area_mm2: f64) -> f64 {
        match self {
            Criterion::Gist => 5.0,
            Criterion::Neuroendocrine => 2.0,
            _ => 10.0 * hpf_area_mm2,
        }
    }

    /// The main cut-off and its comparison.
    pub fn threshold(&self) -> (f64, Comparison) {
        match *self {
            Criterion::CutaneousLeiomyosarcoma {
                threshold_per_10_hpf,
            } => (threshold_per_10_hpf, Comparison::AtLeast),
            Criterion::UterineLeiomyosarcoma => (10.0, Comparison::AtLeast),
            Criterion::FnclccMitoticScore => (10.0, Comparison::AtLeast),
            Criterion::Gist => (5.0, Comparison::MoreThan),
            Criterion::Neuroendocrine => (2.0, Comparison::AtLeast),
            Criterion::CanineMastCellKiupel => (7.0, Comparison::AtLeast),
        }
    }

    /// Judges a measurement.
    pub fn evaluate(&self, m: &Measurement) -> Verdict {
        let reference_area_mm2 = self.reference_area_mm2(m.hpf_area_mm2);
        let count = m.count as f64;
        let mut notes = Vec::new();
        let value = if m.area_mm2 > 0.0 && m.area_mm2.is_finite() {
            let scaled = count * reference_area_mm2 / m.area_mm2;
            if m.basis == VerdictBasis::AllTissue && m.area_mm2 < reference_area_mm2 {
                notes.push(format!(
                    "Only {:.3} mm² of tissue was available, less than the {:.3} mm² the \
                     criterion refers to; the count is not extrapolated (extrapolated it \
                     would be {:.1} {}).",
                    m.area_mm2,
                    reference_area_mm2,
                    scaled,
                    self.unit()
                ));
                count
            } else {
                if (m.area_mm2 - reference_area_mm2).abs() > 1e-6 * reference_area_mm2 {
                    notes.push(format!(
                        "The count over {:.3} mm² was converted to the criterion's {:.3} mm² \
                         by area.",
                        m.area_mm2, reference_area_mm2
                    ));
                }
                scaled
            }
        } else {
            count
        };
        let (threshold, comparison) = self.threshold();
        let passes = comparison.holds(value, threshold);
        let (outcome, category, grade) = match self {
            Criterion::CutaneousLeiomyosarcoma { .. } => {
                notes.push(
                    "No validated mitotic cut-off for cutaneous leiomyosarcoma exists in the \
                     literature; the threshold is a user setting, and atypia, size and depth \
                     also matter."
                        .to_string(),
                );
                binary(passes)
            }
            Criterion::UterineLeiomyosarcoma => {
                notes.push(
                    "The Stanford criteria also weigh cytological atypia and tumour-cell \
                     necrosis; 5-9 mitoses per 10 HPF is the range where they decide (STUMP)."
                        .to_string(),
                );
                if passes {
                    binary(true)
                } else if value >= 5.0 {
                    (
                        Outcome::Borderline,
                        "5-9 per 10 HPF: STUMP range".to_string(),
                        None,
                    )
                } else {
                    binary(false)
                }
            }
            Criterion::FnclccMitoticScore => {
                let score = if value < 10.0 {
                    1
                } else if value < 20.0 {
                    2
                } else {
                    3
                };
                (
                    Outcome::Graded,
                    format!("FNCLCC mitotic score {score}"),
                    Some(score),
                )
            }
            Criterion::Gist => {
                notes.push(
                    "GIST risk also depends on size and site (Miettinen & Lasota 2006)."
                        .to_string(),
                );
                if passes {
                    (
                        Outcome::Positive,
                        "high mitotic rate (> 5 per 5 mm²)".to_string(),
                        None,
                    )
                } else {
                    (
                        Outcome::Negative,
                        "low mitotic rate (<= 5 per 5 mm²)".to_string(),
                        None,
                    )
                }
            }
            Criterion::Neuroendocrine => {
                notes.push(
                    "WHO grading also uses the Ki-67 index; the higher grade of the two \
                     applies."
                        .to_string(),
                );
                let g = if value < 2.0 {
                    1
                } else if value <= 20.0 {
                    2
                } else {
                    3
                };
                (
                    Outcome::Graded,
                    format!("grade G{g} by mitotic count"),
                    Some(g),
                )
            }
            Criterion::CanineMastCellKiupel => {
                notes.push(
                    "Kiupel high grade also follows from >= 3 multinucleated cells, >= 3 \
                     bizarre nuclei or karyomegaly in 10 HPF, which mitocount does not assess."
                        .to_string(),
                );
                if passes {
                    (
                        Outcome::Positive,
                        "high grade by mitotic count".to_string(),
                        None,
                    )
                } else {
                    (
                        Outcome::Negative,
                        "mitotic criterion for high grade not met".to_string(),
                        None,
                    )
                }
            }
        };
        let over = match m.basis {
            VerdictBasis::Hotspot => format!(
                "the mitotic hot spot ({:.3} mm², {:.1} HPF of {:.4} mm²)",
                m.area_mm2,
                m.area_mm2 / m.hpf_area_mm2,
                m.hpf_area_mm2
            ),
            VerdictBasis::AllTissue => format!(
                "all tissue ({:.3} mm², {:.1} HPF of {:.4} mm²; no hot-spot window fits in \
                 the tissue)",
                m.area_mm2,
                m.area_mm2 / m.hpf_area_mm2,
                m.hpf_area_mm2
            ),
        };
        let statement = format!(
            "{}: {} mitoses in {over}, i.e. {} {}; {}: {} {} {} ({}).",
            outcome.word(),
            m.count,
            fmt_value(value),
            self.unit(),
            self.title(),
            fmt_value(value),
            if passes {
                comparison.symbol()
            } else {
                negate(comparison)
            },
            fmt_value(threshold),
            category
        );
        Verdict {
            criterion: self.name().to_string(),
            criterion_title: self.title().to_string(),
            outcome,
            category,
            grade,
            unit: self.unit().to_string(),
            reference_area_mm2,
            count: m.count,
            counted_area_mm2: m.area_mm2,
            value,
            threshold,
            comparison,
            basis: m.basis,
            statement,
            notes,
        }
    }
}

fn binary(passes: bool) -> (Outcome, String, Option<u8>) {
    if passes {
        (Outcome::Positive, "mitotic criterion met".to_string(), None)
    } else {
        (
            Outcome::Negative,
            "mitotic criterion not met".to_string(),
            None,
        )
    }
}

/// The opposite comparison's symbol, for sentences like "2 < 3".
fn negate(c: Comparison) -> &'static str {
    match c {
        Comparison::AtLeast => "<",
        Comparison::MoreThan => "<=",
    }
}

/// A count in a criterion's unit: integers without decimals, others with one.
pub(crate) fn fmt_value(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round())
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hot(count: usize) -> Measurement {
        Measurement {
            count,
            area_mm2: 2.37,
            hpf_area_mm2: 0.237,
            basis: VerdictBasis::Hotspot,
        }
    }

    #[test]
    fn cutaneous_default_is_at_least_3_per_10_hpf() {
        let c = Criterion::default();
        assert_eq!(c.evaluate(&hot(2)).outcome, Outcome::Negative);
        let v = c.evaluate(&hot(3));
        assert_eq!(v.outcome, Outcome::Positive);
        assert_eq!(v.value, 3.0);
        assert_eq!(v.comparison, Comparison::AtLeast);
        assert!(v.statement.contains("3 >= 3"), "{}", v.statement);
        assert!(v.notes.iter().any(|n| n.contains("No validated")));
        let v2 = c.evaluate(&hot(2));
        assert!(v2.statement.contains("2 < 3"), "{}", v2.statement);
    }

    #[test]
    fn threshold_override_only_where_allowed() {
        let c = Criterion::from_name("cutaneous-leiomyosarcoma", Some(5.0)).unwrap();
        assert_eq!(c.evaluate(&hot(4)).outcome, Outcome::Negative);
        assert_eq!(c.evaluate(&hot(5)).outcome, Outcome::Positive);
        let e = Criterion::from_name("fnclcc", Some(5.0)).unwrap_err();
        assert!(e.to_string().contains("--threshold"));
        let e = Criterion::from_name("nonsense", None).unwrap_err();
        assert!(e.to_string().contains("--criterion") && e.to_string().contains("gist"));
        assert!(Criterion::from_name("cutaneous-leiomyosarcoma", Some(f64::NAN)).is_err());
        for name in CRITERION_NAMES {
            assert_eq!(Criterion::from_name(name, None).unwrap().name(), name);
        }
    }

    #[test]
    fn uterine_bands() {
        let c = Criterion::UterineLeiomyosarcoma;
        assert_eq!(c.evaluate(&hot(4)).outcome, Outcome::Negative);
        assert_eq!(c.evaluate(&hot(5)).outcome, Outcome::Borderline);
        assert_eq!(c.evaluate(&hot(9)).outcome, Outcome::Borderline);
        assert_eq!(c.evaluate(&hot(10)).outcome, Outcome::Positive);
    }

    #[test]
    fn fnclcc_scores() {
        let c = Criterion::FnclccMitoticScore;
        assert_eq!(c.evaluate(&hot(9)).grade, Some(1));
        assert_eq!(c.evaluate(&hot(10)).grade, Some(2));
        assert_eq!(c.evaluate(&hot(19)).grade, Some(2));
        assert_eq!(c.evaluate(&hot(20)).grade, Some(3));
    }

    #[test]
    fn gist_per_5_mm2_is_more_than_5() {
        let c = Criterion::Gist;
        let m = |count| Measurement {
            count,
            area_mm2: 5.0,
            hpf_area_mm2: 0.237,
            basis: VerdictBasis::Hotspot,
        };
        assert_eq!(c.evaluate(&m(5)).outcome, Outcome::Negative);
        assert_eq!(c.evaluate(&m(6)).outcome, Outcome::Positive);
        // Over a 2.37 mm² window, 3 mitoses are 6.3 per 5 mm².
        let v = c.evaluate(&hot(3));
        assert!((v.value - 3.0 * 5.0 / 2.37).abs() < 1e-12);
        assert_eq!(v.outcome, Outcome::Positive);
        assert!(v.notes.iter().any(|n| n.contains("converted")));
    }

    #[test]
    fn neuroendocrine_grades_per_2_mm2() {
        let c = Criterion::Neuroendocrine;
        let m = |count| Measurement {
            count,
            area_mm2: 2.0,
            hpf_area_mm2: 0.237,
            basis: VerdictBasis::Hotspot,
        };
        assert_eq!(c.evaluate(&m(1)).grade, Some(1));
        assert_eq!(c.evaluate(&m(2)).grade, Some(2));
        assert_eq!(c.evaluate(&m(20)).grade, Some(2));
        assert_eq!(c.evaluate(&m(21)).grade, Some(3));
    }

    #[test]
    fn kiupel_at_least_7() {
        let c = Criterion::CanineMastCellKiupel;
        assert_eq!(c.evaluate(&hot(6)).outcome, Outcome::Negative);
        assert_eq!(c.evaluate(&hot(7)).outcome, Outcome::Positive);
    }

    #[test]
    fn small_tissue_is_not_extrapolated() {
        let c = Criterion::default();
        let m = Measurement {
            count: 2,
            area_mm2: 1.0,
            hpf_area_mm2: 0.237,
            basis: VerdictBasis::AllTissue,
        };
        let v = c.evaluate(&m);
        assert_eq!(v.value, 2.0);
        assert_eq!(v.outcome, Outcome::Negative);
        assert!(v.notes.iter().any(|n| n.contains("not extrapolated")));
    }

    #[test]
    fn serde_names_are_stable() {
        let j = serde_json::to_value(Criterion::default()).unwrap();
        assert_eq!(j["name"], "cutaneous-leiomyosarcoma");
        assert_eq!(j["threshold_per_10_hpf"], 3.0);
        let v = Criterion::default().evaluate(&hot(3));
        let j = serde_json::to_value(&v).unwrap();
        assert_eq!(j["outcome"], "positive");
        assert_eq!(j["comparison"], ">=");
        assert_eq!(j["basis"], "hotspot");
    }
}
