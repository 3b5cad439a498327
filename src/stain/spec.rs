//! `--stains auto|default|H:r,g,b;E:r,g,b[;R:r,g,b]`: where the stain vectors come from.

use super::{estimate_macenko, MacenkoOptions, StainEstimate, StainMethod, StainVectors};
use crate::error::{Error, Result};

/// The flag this value is read from, named in every error.
const FLAG: &str = "--stains";

/// What `--stains` accepts, appended to every parse error.
const ALLOWED: &str = "allowed: `auto` (estimate per slide, Macenko et al. 2009), \
    `default` (scikit-image rgb2hed vectors), or vectors as \
    `H:r,g,b;E:r,g,b` with an optional `;R:r,g,b` (non-negative OD components, e.g. \
    `H:0.65,0.70,0.29;E:0.07,0.99,0.11`)";

/// Where a slide's stain vectors come from.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum StainSpec {
    /// Estimated per slide from a sample of tissue by [`estimate_macenko`], falling back to
    /// [`StainVectors::default_hed`] when the sample holds too little tissue. The default:
    /// stains vary by lab and scanner.
    #[default]
    Auto,
    /// [`StainVectors::default_hed`], the vectors of scikit-image `rgb2hed`.
    Default,
    /// Vectors given by the user, normalised.
    Vectors(StainVectors),
}

impl StainSpec {
    /// Parses a `--stains` value: `auto`, `default` (case-insensitive), or
    /// `H:r,g,b;E:r,g,b[;R:r,g,b]` with the stains in any order, whitespace allowed around
    /// numbers and separators, keys case-insensitive (`DAB` is accepted for `R`). Two
    /// vectors get the third completed by cross product ([`StainVectors::from_h_and_e`]);
    /// three are each normalised ([`StainVectors::from_three`]).
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming `--stains`, saying what is wrong and what is
    /// allowed: unknown word, missing or repeated stain, not three numbers, a number that
    /// does not parse or is not finite, a negative H or E component, a zero vector, or
    /// degenerate vectors (H and E parallel, or the third in their plane).
    pub fn parse(text: &str) -> Result<StainSpec> {
        let trimmed = text.trim();
        if trimmed.eq_ignore_ascii_case("auto") {
            return Ok(StainSpec::Auto);
        }
        if trimmed.eq_ignore_ascii_case("default") {
            return Ok(StainSpec::Default);
        }
        if !trimmed.contains(':') {
            return Err(invalid(format!("`{trimmed}` is not a stain setting")));
        }
        let mut h = None;
        let mut e = None;
        let mut r = None;
        for part in trimmed.split(';').map(str::trim) {
            if part.is_empty() {
                continue;
            }
            let Some((key, numbers)) = part.split_once(':') else {
                return Err(invalid(format!("`{part}` lacks a `KEY:` prefix")));
            };
            let key = key.trim();
            let slot = match key.to_ascii_uppercase().as_str() {
                "H" => &mut h,
                "E" => &mut e,
                "R" | "DAB" => &mut r,
                _ => {
                    return Err(invalid(format!(
                        "unknown stain `{key}` (use H, E and optionally R)"
                    )))
                }
            };
            if slot.is_some() {
                return Err(invalid(format!("stain `{key}` given twice")));
            }
            *slot = Some(parse_vector(key, numbers)?);
        }
        let (Some(h), Some(e)) = (h, e) else {
            return Err(invalid("both an H and an E vector are needed".to_string()));
        };
        let vectors = match r {
            None => StainVectors::from_h_and_e(h, e),
            Some(r) => StainVectors::from_three(h, e, r),
        };
        match vectors {
            Ok(v) => Ok(StainSpec::Vectors(v)),
            Err(Error::Stain { reason }) => Err(invalid(reason)),
            Err(other) => Err(other),
        }
    }

    /// The vectors for one slide.
    ///
    /// `Auto` runs [`estimate_macenko`] on `samples` (tissue fields spread over the slide)
    /// with `background` (I0 per channel, see [`super::estimate_background`]); `Default`
    /// and `Vectors` ignore the samples and report [`StainMethod::Default`] or
    /// [`StainMethod::UserGiven`] with `tissue_pixels` 0.
    ///
    /// # Errors
    /// [`Error::Stain`] when `background` is outside 1..=255 (only for `Auto`).
    pub fn resolve(
        &self,
        samples: &[&image::RgbImage],
        background: [f64; 3],
        opts: &MacenkoOptions,
    ) -> Result<StainEstimate> {
        match self {
            StainSpec::Auto => estimate_macenko(samples, background, opts),
            StainSpec::Default => Ok(StainEstimate {
                vectors: StainVectors::default_hed(),
                tissue_pixels: 0,
                method: StainMethod::Default,
            }),
            StainSpec::Vectors(v) => Ok(StainEstimate {
                vectors: *v,
                tissue_pixels: 0,
                method: StainMethod::UserGiven,
            }),
        }
    }
}

impl std::str::FromStr for StainSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        StainSpec::parse(s)
    }
}

fn invalid(what: String) -> Error {
    Error::invalid_option(FLAG, format!("{what}; {ALLOWED}"))
}

fn parse_vector(key: &str, numbers: &str) -> Result<[f64; 3]> {
    let fields: Vec<&str> = numbers.split(',').map(str::trim).collect();
    if fields.len() != 3 {
        return Err(invalid(format!(
            "stain `{key}` needs three numbers r,g,b, got `{}`",
            numbers.trim()
        )));
    }
    let mut out = [0.0; 3];
    for (slot, field) in out.iter_mut().zip(&fields) {
        let value: f64 = field
            .parse()
            .map_err(|_| invalid(format!("stain `{key}`: `{field}` is not a number")))?;
        if !value.is_finite() {
            return Err(invalid(format!("stain `{key}`: `{field}` is not finite")));
        }
        *slot = value;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        match StainSpec::parse(text) {
            Err(e @ Error::InvalidOption { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains("--stains"), "{msg}");
                assert!(msg.contains("allowed"), "{msg}");
                msg
            }
            other => panic!("{text:?} gave {other:?}"),
        }
    }

    #[test]
    fn words() {
        assert_eq!(StainSpec::parse("auto").unwrap(), StainSpec::Auto);
        assert_eq!(StainSpec::parse(" Default ").unwrap(), StainSpec::Default);
        assert_eq!("AUTO".parse::<StainSpec>().unwrap(), StainSpec::Auto);
        assert!(err("macenko").contains("`macenko` is not a stain setting"));
        assert!(err("").contains("is not a stain setting"));
    }

    #[test]
    fn two_vectors_get_a_cross_product() {
        let StainSpec::Vectors(v) = StainSpec::parse("H:0.65,0.70,0.29;E:0.07,0.99,0.11").unwrap()
        else {
            panic!("not vectors")
        };
        let n = (0.65f64 * 0.65 + 0.7 * 0.7 + 0.29 * 0.29).sqrt();
        assert!((v.haematoxylin[0] - 0.65 / n).abs() < 1e-12);
        let d: f64 = (0..3).map(|i| v.residual[i] * v.eosin[i]).sum();
        assert!(d.abs() < 1e-12);
    }

    #[test]
    fn three_vectors_any_order_and_spacing() {
        let spec = StainSpec::parse(" e: 0.07, 0.99, 0.11 ; DAB:0.27,0.57,0.78; h:0.65,0.7,0.29; ")
            .unwrap();
        let StainSpec::Vectors(v) = spec else {
            panic!("not vectors")
        };
        assert!(v.residual[2] > 0.7 && v.eosin[1] > 0.98);
    }

    #[test]
    fn errors_name_the_problem() {
        assert!(err("H:0.65,0.70,0.29").contains("both an H and an E"));
        assert!(err("H:0.65,0.70;E:0.07,0.99,0.11").contains("three numbers"));
        assert!(err("H:0.65,x,0.29;E:0.07,0.99,0.11").contains("`x` is not a number"));
        assert!(err("H:0.65,inf,0.29;E:0.07,0.99,0.11").contains("not finite"));
        assert!(err("H:1,1,1;H:1,1,1;E:0.07,0.99,0.11").contains("given twice"));
        assert!(err("X:1,1,1;E:0.07,0.99,0.11").contains("unknown stain `X`"));
        assert!(err("H:0.65,0.70,0.29;E:1.3,1.4,0.58").contains("parallel"));
        assert!(err("H:0.65,0.70,0.29;E:0,0,0").contains("zero"));
        assert!(err("H:0.65,-0.70,0.29;E:0.07,0.99,0.11").contains("negative"));
        assert!(err("H:0.65,0.70,0.29;E:0.07,0.99,0.11;R:0.72,1.69,0.40")
            .contains("linearly dependent"));
        assert!(err("H 0.65,0.70,0.29;E:0.07,0.99,0.11").contains("lacks a `KEY:` prefix"));
    }

    #[test]
    fn resolve_fixed_specs() {
        let opts = MacenkoOptions::default();
        let d = StainSpec::Default.resolve(&[], [255.0; 3], &opts).unwrap();
        assert_eq!(d.vectors, StainVectors::default_hed());
        assert_eq!(d.method, StainMethod::Default);
        let v = StainVectors::from_h_and_e([0.6, 0.7, 0.3], [0.1, 0.9, 0.2]).unwrap();
        let u = StainSpec::Vectors(v)
            .resolve(&[], [255.0; 3], &opts)
            .unwrap();
        assert_eq!(u.vectors, v);
        assert_eq!(u.method, StainMethod::UserGiven);
    }
}
