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
    /// Less than one HPF of tissue: no verdict is given.
    InsufficientTissue,
}

impl Outcome {
    /// Upper-case words for displays: POSITIVE, NEGATIVE, BORDERLINE, GRADED,
    /// INSUFFICIENT TISSUE.
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Positive => "POSITIVE",
            Outcome::Negative => "NEGATIVE",
            Outcome::Borderline => "BORDERLINE",
            Outcome::Graded => "GRADED",
            Outcome::InsufficientTissue => "INSUFFICIENT TISSUE",
        }
    }
}

/// What the verdict's count was measured over (`verdict.basis` in report.json).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VerdictBasis {
    /// `hotspot`: the mitotic hot spot, the densest window of the criterion's area
    /// (10 HPF by default).
    Hotspot,
    /// `all-tissue`: every mitosis in all the tissue, because no hot-spot window fits
    /// (less tissue than the criterion's area, or tissue too thin for the window).
    AllTissue,
}

/// The least tissue, in HPF, over which a verdict is given; below it the outcome is
/// [`Outcome::InsufficientTissue`].
pub const MIN_TISSUE_HPF: f64 = 1.0;

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
    /// Area counted over in HPF (`counted_area_mm2 / hpf_area_mm2`).
    pub counted_area_hpf: f64,
    /// The one number the verdict compares with `threshold`, in `unit`; `None` when the
    /// outcome is [`Outcome::InsufficientTissue`]. Over a window of the criterion's area it
    /// is the count; over less tissue than that area it is the count of every mitosis in
    /// all the tissue, not scaled up; over a window or tissue of another area it is the
    /// count converted by area (`count * reference_area_mm2 / counted_area_mm2`).
    pub value: Option<f64>,
    /// The main cut-off in the criterion's unit (the lowest one for graded criteria).
    pub threshold: f64,
    /// How `value` is compared with `threshold`.
    pub comparison: Comparison,
    /// Hot spot or all tissue.
    pub basis: VerdictBasis,
    /// What `value` is, the words after the number: `mitoses` when it is a count (over
    /// the criterion's area, or over less tissue than that), otherwise `unit` (a count
    /// converted by area).
    pub value_unit: String,
    /// What `value` was counted over, in words, e.g. "in the densest 10-HPF window (the
    /// mitotic hot spot, 2.370 mm²)" or "counted over all the tissue, 2.7 HPF (0.640
    /// mm²), fewer than the 10 HPF the criterion asks".
    pub basis_text: String,
    /// The verdict in one sentence with its one number and its basis, e.g. "NEGATIVE:
    /// 0 mitoses per 10 HPF, counted over all the tissue, ...; threshold >= 3".
    pub headline: String,
    /// The comparison and the settings used (HPF area, pixel size, stain vectors).
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

    /// The criterion's reference area in words: "10 HPF", "5 mm²", "2 mm²".
    pub fn reference_words(&self) -> &'static str {
        match self {
            Criterion::Gist => "5 mm²",
            Criterion::Neuroendocrine => "2 mm²",
            _ => "10 HPF",
        }
    }

    /// Judges a measurement.
    ///
    /// Three cases (stated in the README and the report):
    /// - less than [`MIN_TISSUE_HPF`] of tissue counted over all tissue:
    ///   [`Outcome::InsufficientTissue`], no value, no verdict;
    /// - all tissue, less than the criterion's area: every mitosis in all the tissue is
    ///   compared with the threshold as it is (as a pathologist counts every field there
    ///   is), never scaled up;
    /// - a window (the hot spot) or tissue of at least the criterion's area: the count
    ///   converted to the criterion's area (the count itself when the areas are equal).
    pub fn evaluate(&self, m: &Measurement) -> Verdict {
        let reference_area_mm2 = self.reference_area_mm2(m.hpf_area_mm2);
        let count = m.count as f64;
        let area_ok = m.area_mm2 > 0.0 && m.area_mm2.is_finite();
        let counted_area_hpf = if m.hpf_area_mm2 > 0.0 {
            m.area_mm2 / m.hpf_area_mm2
        } else {
            0.0
        };
        let (threshold, comparison) = self.threshold();
        let mut notes = Vec::new();
        let reference = self.reference_words();
        // NaN areas (no tissue measured) count as insufficient too.
        let enough = counted_area_hpf.partial_cmp(&MIN_TISSUE_HPF)
            != Some(std::cmp::Ordering::Less)
            && counted_area_hpf.is_finite();
        let insufficient = m.basis == VerdictBasis::AllTissue && !enough;
        if insufficient {
            let basis_text = format!(
                "over all the tissue, {counted_area_hpf:.2} HPF ({:.3} mm²), less than the \
                 {MIN_TISSUE_HPF} HPF needed for a verdict",
                m.area_mm2.max(0.0)
            );
            let headline = format!(
                "INSUFFICIENT TISSUE: {counted_area_hpf:.2} HPF of tissue, less than the \
                 {MIN_TISSUE_HPF} HPF needed; no verdict ({} {} found)",
                m.count,
                mitoses_word(m.count)
            );
            return Verdict {
                criterion: self.name().to_string(),
                criterion_title: self.title().to_string(),
                outcome: Outcome::InsufficientTissue,
                category: "no verdict: less than 1 HPF of tissue".to_string(),
                grade: None,
                unit: self.unit().to_string(),
                reference_area_mm2,
                count: m.count,
                counted_area_mm2: m.area_mm2.max(0.0),
                counted_area_hpf,
                value: None,
                threshold,
                comparison,
                basis: m.basis,
                value_unit: "mitoses".to_string(),
                basis_text,
                statement: format!(
                    "{}: the criterion counts mitoses over {reference}; this slide has \
                     {counted_area_hpf:.2} HPF of tissue, too little to judge.",
                    self.title()
                ),
                headline,
                notes,
            };
        }
        let small = area_ok && m.area_mm2 < reference_area_mm2 * (1.0 - 1e-9);
        let (value, converted, basis_text) = match m.basis {
            VerdictBasis::AllTissue if small || !area_ok => {
                notes.push(format!(
                    "Counted over {counted_area_hpf:.1} HPF, fewer than the {reference} the \
                     criterion asks: every mitosis in all the tissue is compared with the \
                     threshold, as a pathologist counts every field there is; a slide with \
                     more tissue could reach a higher count."
                ));
                (
                    count,
                    false,
                    format!(
                        "counted over all the tissue, {counted_area_hpf:.1} HPF ({:.3} mm²), \
                         fewer than the {reference} the criterion asks",
                        m.area_mm2.max(0.0)
                    ),
                )
            }
            VerdictBasis::AllTissue => (
                count * reference_area_mm2 / m.area_mm2,
                true,
                format!(
                    "over all the tissue ({counted_area_hpf:.1} HPF, {:.3} mm²; no \
                     {reference} window fits in it), converted to {reference} by area",
                    m.area_mm2
                ),
            ),
            VerdictBasis::Hotspot => {
                let same = (m.area_mm2 - reference_area_mm2).abs() <= 1e-6 * reference_area_mm2;
                if same {
                    (
                        count,
                        false,
                        format!(
                            "in the densest {reference} window (the mitotic hot spot, {:.3} \
                             mm²)",
                            m.area_mm2
                        ),
                    )
                } else {
                    let value = if area_ok {
                        count * reference_area_mm2 / m.area_mm2
                    } else {
                        count
                    };
                    (
                        value,
                        true,
                        format!(
                            "in the densest window of {:.3} mm² ({counted_area_hpf:.1} HPF, \
                             the mitotic hot spot), converted to {reference} by area",
                            m.area_mm2
                        ),
                    )
                }
            }
        };
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
        let symbol = if passes {
            comparison.symbol()
        } else {
            negate(comparison)
        };
        let value_unit = if converted { self.unit() } else { "mitoses" };
        let words = if !converted && m.count == 1 {
            "mitosis"
        } else {
            value_unit
        };
        let headline = format!(
            "{}: {} {words} {basis_text}; {} {symbol} {} ({}, {})",
            outcome.word(),
            fmt_value(value),
            fmt_value(value),
            fmt_value(threshold),
            self.title(),
            category
        );
        let statement = format!(
            "{}: {} {} counted; {} {symbol} {} ({category}).",
            self.title(),
            m.count,
            mitoses_word(m.count),
            fmt_value(value),
            fmt_value(threshold),
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
            counted_area_hpf,
            value: Some(value),
            threshold,
            comparison,
            basis: m.basis,
            value_unit: value_unit.to_string(),
            basis_text,
            headline,
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

/// `mitosis` for one, `mitoses` otherwise.
pub(crate) fn mitoses_word(n: usize) -> &'static str {
    if n == 1 {
        "mitosis"
    } else {
        "mitoses"
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
        assert_eq!(v.value, Some(3.0));
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
        assert!((v.value.unwrap() - 3.0 * 5.0 / 2.37).abs() < 1e-12);
        assert_eq!(v.outcome, Outcome::Positive);
        assert!(v.basis_text.contains("converted"), "{}", v.basis_text);
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
        assert_eq!(v.value, Some(2.0));
        assert_eq!(v.outcome, Outcome::Negative);
        assert!(
            v.headline.contains("fewer than the 10 HPF"),
            "{}",
            v.headline
        );
        assert!(v.headline.contains("4.2 HPF"), "{}", v.headline);
        // One number per claim: the headline holds no figure "per 10 HPF" at all.
        assert_eq!(
            v.headline.matches("per 10 HPF").count(),
            0,
            "{}",
            v.headline
        );
        assert_eq!(v.value_unit, "mitoses");
        // 3 mitoses in 4.2 HPF: positive on the raw count, not on 7.1 scaled up.
        let v = c.evaluate(&Measurement { count: 3, ..m });
        assert_eq!((v.outcome, v.value), (Outcome::Positive, Some(3.0)));
    }

    #[test]
    fn less_than_one_hpf_is_insufficient_tissue_not_negative() {
        for area_mm2 in [0.0, 0.1, 0.2369] {
            let m = Measurement {
                count: 0,
                area_mm2,
                hpf_area_mm2: 0.237,
                basis: VerdictBasis::AllTissue,
            };
            for c in [
                Criterion::default(),
                Criterion::Gist,
                Criterion::FnclccMitoticScore,
            ] {
                let v = c.evaluate(&m);
                assert_eq!(v.outcome, Outcome::InsufficientTissue, "{area_mm2}");
                assert_eq!(v.value, None);
                assert!(
                    v.headline.starts_with("INSUFFICIENT TISSUE"),
                    "{}",
                    v.headline
                );
            }
        }
        let m = Measurement {
            count: 0,
            area_mm2: 0.237,
            hpf_area_mm2: 0.237,
            basis: VerdictBasis::AllTissue,
        };
        assert_eq!(Criterion::default().evaluate(&m).outcome, Outcome::Negative);
        let j = serde_json::to_value(Outcome::InsufficientTissue).unwrap();
        assert_eq!(j, "insufficient-tissue");
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
