//! Pixel size and objective magnification from a slide's metadata: Aperio
//! ImageDescription, OME-XML, TIFF resolution tags.

/// Micrometres per inch.
const UM_PER_INCH: f64 = 25_400.0;
/// Micrometres per centimetre.
const UM_PER_CM: f64 = 10_000.0;

/// `key = value` pairs of an Aperio ImageDescription (`|`-separated after the first
/// line), e.g. `AppMag = 20|MPP = 0.4990`.
pub(crate) fn aperio_field(description: &str, key: &str) -> Option<f64> {
    description.split('|').find_map(|field| {
        let (k, v) = field.split_once('=')?;
        (k.trim() == key).then(|| v.trim().parse::<f64>().ok())?
    })
}

/// True when the ImageDescription is Aperio's.
pub(crate) fn is_aperio(description: Option<&str>) -> bool {
    description.is_some_and(|d| d.trim_start().starts_with("Aperio"))
}

/// The value of XML attribute `name="..."` in the first element that has it.
fn xml_attr<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let mut search = xml;
    loop {
        let at = search.find(name)?;
        let before_ok = at == 0 || search.as_bytes()[at - 1].is_ascii_whitespace();
        let rest = &search[at + name.len()..];
        let rest_trim = rest.trim_start();
        if before_ok {
            if let Some(after_eq) = rest_trim.strip_prefix('=') {
                let after_eq = after_eq.trim_start();
                let quote = after_eq.chars().next()?;
                if quote == '"' || quote == '\'' {
                    let body = &after_eq[1..];
                    let end = body.find(quote)?;
                    return Some(&body[..end]);
                }
            }
        }
        search = rest;
    }
}

/// Micrometres in one unit of an OME `UnitsLength` symbol, `None` for unknown units.
fn ome_unit_um(unit: &str) -> Option<f64> {
    Some(match unit {
        "µm" | "um" | "μm" | "micron" | "microns" => 1.0,
        "nm" => 1e-3,
        "mm" => 1e3,
        "cm" => 1e4,
        "m" => 1e6,
        "pm" => 1e-6,
        "Å" => 1e-4,
        _ => return None,
    })
}

/// Pixel size in µm from OME-XML `PhysicalSizeX` (with `PhysicalSizeXUnit`, default µm).
pub(crate) fn ome_mpp_um(description: &str) -> Option<f64> {
    if !description.contains("<OME") {
        return None;
    }
    let value: f64 = xml_attr(description, "PhysicalSizeX")?
        .trim()
        .parse()
        .ok()?;
    let unit = xml_attr(description, "PhysicalSizeXUnit").unwrap_or("µm");
    Some(value * ome_unit_um(unit.trim())?)
}

/// Objective magnification from OME-XML `NominalMagnification`.
pub(crate) fn ome_objective_mag(description: &str) -> Option<f64> {
    if !description.contains("<OME") {
        return None;
    }
    xml_attr(description, "NominalMagnification")?
        .trim()
        .parse()
        .ok()
}

/// Pixel size in µm from XResolution (pixels per unit) and ResolutionUnit (TIFF 6.0:
/// 1 none, 2 inch, 3 centimetre; absent means inch). Unit "none" gives nothing.
pub(crate) fn resolution_mpp_um(x_resolution: Option<f64>, unit: Option<u64>) -> Option<f64> {
    let res = x_resolution.filter(|r| r.is_finite() && *r > 0.0)?;
    match unit.unwrap_or(2) {
        2 => Some(UM_PER_INCH / res),
        3 => Some(UM_PER_CM / res),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const APERIO: &str = "Aperio Image Library v11.2.1 \r\n46000x32914 [42673,5576 \
        2220x2967] (240x240) JPEG/RGB Q=30;Aperio Image Library v10.0.51\r\n46920x33014 \
        [0,100 46000x32914] (256x256) JPEG/RGB Q=30|AppMag = 20|StripeWidth = 2040|\
        ScanScope ID = CPAPERIOCS|Filename = CMU-1|MPP = 0.4990|Exposure Time = 32";

    #[test]
    fn aperio_fields() {
        assert!(is_aperio(Some(APERIO)));
        assert!(!is_aperio(Some("ImageJ=1.5")));
        assert_eq!(aperio_field(APERIO, "MPP"), Some(0.499));
        assert_eq!(aperio_field(APERIO, "AppMag"), Some(20.0));
        assert_eq!(aperio_field(APERIO, "Nope"), None);
    }

    #[test]
    fn ome_physical_size_with_units() {
        let xml = r#"<?xml version="1.0"?><OME xmlns="x"><Instrument><Objective
            NominalMagnification="40.0"/></Instrument><Image><Pixels SizeX="10"
            PhysicalSizeX="0.25" PhysicalSizeXUnit="µm" PhysicalSizeY="0.25"/></Image></OME>"#;
        assert_eq!(ome_mpp_um(xml), Some(0.25));
        assert_eq!(ome_objective_mag(xml), Some(40.0));
        let nm = r#"<OME><Pixels PhysicalSizeX="250" PhysicalSizeXUnit="nm"/></OME>"#;
        assert!((ome_mpp_um(nm).unwrap() - 0.25).abs() < 1e-12);
        let default_unit = r#"<OME><Pixels PhysicalSizeX='0.5'/></OME>"#;
        assert_eq!(ome_mpp_um(default_unit), Some(0.5));
        assert_eq!(ome_mpp_um("PhysicalSizeX=\"0.5\""), None, "not OME");
    }

    #[test]
    fn resolution_units() {
        assert_eq!(resolution_mpp_um(Some(40_000.0), Some(3)), Some(0.25));
        assert_eq!(resolution_mpp_um(Some(101_600.0), Some(2)), Some(0.25));
        assert_eq!(resolution_mpp_um(Some(101_600.0), None), Some(0.25));
        assert_eq!(resolution_mpp_um(Some(1.0), Some(1)), None);
        assert_eq!(resolution_mpp_um(Some(0.0), Some(3)), None);
        assert_eq!(resolution_mpp_um(None, Some(3)), None);
    }
}
