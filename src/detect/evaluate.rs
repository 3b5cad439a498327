//! Detections against ground truth: one-to-one matching within a radius (7.5 µm, the
//! TUPAC16 and MIDOG convention), precision, recall and F1 pooled over images, and the
//! lists of misses and false positives with their coordinates.
//!
//! Matching is an optimal assignment: within each group of points linked by distances at
//! most the radius, the Hungarian algorithm (Kuhn 1955; Munkres 1957) first maximises the
//! number of matches, then minimises their total distance. A greedy match by distance can
//! lose a true positive when one detection lies between two truths; the assignment
//! cannot. Groups larger than [`MAX_ASSIGNMENT_GROUP`] points (only in pathological
//! inputs) fall back to greedy matching by increasing distance, and the report says so.
//!
//! # Accepted files
//! * Ground-truth CSV from `synth` (`*.truth.csv`): header with `x_um,y_um` (or `x_px,y_px`
//!   with `--mpp`) and `kind`; rows whose kind reads as "mitotic figure" (any case, spaces,
//!   underscores, `MitoticFigure`, `mitosis`) are positives, everything else (mimics,
//!   `non-mitotic figure`, `NonMitoticFigure`) is ignored.
//! * Detections CSV from the report (`detections.csv`): header `x_px,y_px,x_um,y_um,...,
//!   class,...`; rows of class "mitotic figure" count. A CSV with neither `kind` nor
//!   `class` counts every row.
//! * MIDOG-style JSON: `{"type": "Multiple points", "points": [{"point": [x_mm, y_mm, z],
//!   "name": "mitotic figure"}, ...]}` (coordinates in mm, as in the MIDOG challenge);
//!   points named otherwise (e.g. "non-mitotic figure", "hard negative") are ignored.
//!   A point without a name counts.
//! * GeoJSON as QuPath exports it (a FeatureCollection, a Feature or an array of
//!   Features), positions in level-0 px (needs `--mpp`): Points and MultiPoints, and
//!   Polygons / MultiPolygons at the mean of their outer ring; features classed as a
//!   mitosis or not classed count, others (`non-mitotic figure`, `HPF`, the hot spot) do
//!   not. So `detections.geojson`, corrected in QuPath and exported, comes back as truth.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::units::Mpp;

/// Default matching radius (µm): TUPAC16 and MIDOG.
pub const DEFAULT_RADIUS_UM: f64 = 7.5;

/// Largest group of mutually reachable points solved by exact assignment.
pub const MAX_ASSIGNMENT_GROUP: usize = 400;

/// One mitotic figure position, in level-0 µm (and pixels when the file gave them).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Point {
    /// x in µm.
    pub x_um: f64,
    /// y in µm.
    pub y_um: f64,
    /// x in level-0 pixels, when known.
    pub x_px: Option<f64>,
    /// y in level-0 pixels, when known.
    pub y_px: Option<f64>,
    /// 1-based data line (CSV) or point index (JSON) in its file.
    pub line: usize,
}

/// A matched truth/detection pair.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Match {
    /// The ground-truth figure.
    pub truth: Point,
    /// The detection.
    pub detection: Point,
    /// Their distance (µm).
    pub distance_um: f64,
}

/// Counts and lists for one image (or pooled over several).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Evaluation {
    /// Ground-truth file(s).
    pub truth_files: Vec<PathBuf>,
    /// Detection file(s).
    pub detection_files: Vec<PathBuf>,
    /// Matching radius (µm).
    pub radius_um: f64,
    /// Ground-truth mitoses.
    pub truth_count: usize,
    /// Mitotic detections.
    pub detection_count: usize,
    /// True positives (matches).
    pub true_positives: usize,
    /// Detections without a truth.
    pub false_positives: usize,
    /// Truths without a detection.
    pub false_negatives: usize,
    /// TP / detections (1 when there are no detections).
    pub precision: f64,
    /// TP / truths (1 when there are no truths).
    pub recall: f64,
    /// Harmonic mean of precision and recall (`2 TP / (2 TP + FP + FN)`; 1 when both
    /// lists are empty).
    pub f1: f64,
    /// True when some group was matched greedily (see the module documentation).
    pub greedy_fallback: bool,
    /// Matched pairs.
    pub matches: Vec<Match>,
    /// Truths that were missed, with their file.
    pub misses: Vec<(PathBuf, Point)>,
    /// Detections that match nothing, with their file.
    pub false_positive_list: Vec<(PathBuf, Point)>,
}

/// Reads the positive (mitotic figure) points of a ground-truth or detections file: CSV
/// or MIDOG JSON, chosen by the extension (`.json`) or, failing that, by the first
/// non-blank byte (`{` or `[` means JSON). `mpp` converts pixel columns when a CSV has no
/// µm columns.
///
/// # Errors
/// [`Error::Io`] when unreadable; [`Error::Parse`] naming the file and line for a missing
/// column, a bad number or malformed JSON; [`Error::InvalidOption`] naming `--mpp` when the
/// file has only pixel coordinates and no MPP was given.
pub fn read_points(path: &Path, mpp: Option<Mpp>) -> Result<Vec<Point>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let looks_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        || text.trim_start().starts_with(['{', '[']);
    if looks_json {
        read_json(path, &text, mpp)
    } else {
        read_csv(path, &text, mpp)
    }
}

/// True when a label names a mitotic figure (lenient about case, spaces, hyphens and
/// underscores); false for "non-mitotic figure", mimics and hard negatives.
pub fn is_mitotic_label(label: &str) -> bool {
    let norm: String = label
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    matches!(
        norm.as_str(),
        "mitoticfigure" | "mitoticfigures" | "mitosis" | "mitoses" | "mitotic" | "mf" | "1"
    )
}

fn parse_error(path: &Path, reason: impl Into<String>) -> Error {
    Error::Parse {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn read_csv(path: &Path, text: &str, mpp: Option<Mpp>) -> Result<Vec<Point>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| parse_error(path, format!("cannot read the CSV header: {e}")))?
        .clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
    };
    let (x_um, y_um) = (col("x_um"), col("y_um"));
    let (x_px, y_px) = (col("x_px"), col("y_px"));
    let label_col = col("kind")
        .or_else(|| col("class"))
        .or_else(|| col("label"));
    let have_um = x_um.is_some() && y_um.is_some();
    let have_px = x_px.is_some() && y_px.is_some();
    if !have_um && !have_px {
        return Err(parse_error(
            path,
            format!(
                "the CSV header ({}) has neither x_um,y_um nor x_px,y_px columns",
                headers.iter().collect::<Vec<_>>().join(",")
            ),
        ));
    }
    if !have_um && mpp.is_none() {
        return Err(Error::invalid_option(
            "--mpp",
            format!(
                "{} gives positions only in pixels (x_px,y_px); pass the slide's pixel \
                 size with --mpp to compare them in µm",
                path.display()
            ),
        ));
    }
    let mut points = Vec::new();
    for (i, record) in reader.records().enumerate() {
        // Line numbers: header is line 1.
        let line = i + 2;
        let record = record.map_err(|e| parse_error(path, format!("line {line}: {e}")))?;
        if let Some(lc) = label_col {
            if !is_mitotic_label(record.get(lc).unwrap_or("")) {
                continue;
            }
        }
        let num = |c: Option<usize>, name: &str| -> Result<Option<f64>> {
            let Some(c) = c else { return Ok(None) };
            let field = record.get(c).unwrap_or("");
            let v: f64 = field.parse().map_err(|_| {
                parse_error(
                    path,
                    format!("line {line}: {name} = {field:?} is not a number"),
                )
            })?;
            if !v.is_finite() {
                return Err(parse_error(
                    path,
                    format!("line {line}: {name} is not finite"),
                ));
            }
            Ok(Some(v))
        };
        let px = (num(x_px, "x_px")?, num(y_px, "y_px")?);
        let (xu, yu) = match (num(x_um, "x_um")?, num(y_um, "y_um")?) {
            (Some(x), Some(y)) => (x, y),
            _ => match (px, mpp) {
                ((Some(x), Some(y)), Some(m)) => (m.px_to_um(x), m.px_to_um(y)),
                _ => {
                    return Err(parse_error(path, format!("line {line}: no position")));
                }
            },
        };
        points.push(Point {
            x_um: xu,
            y_um: yu,
            x_px: px.0,
            y_px: px.1,
            line,
        });
    }
    Ok(points)
}

fn read_json(path: &Path, text: &str, mpp: Option<Mpp>) -> Result<Vec<Point>> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| parse_error(path, format!("invalid JSON: {e}")))?;
    if is_geojson(&value) {
        return read_geojson(path, &value, mpp);
    }
    let list = match &value {
        serde_json::Value::Object(o) => o.get("points").and_then(|p| p.as_array()),
        serde_json::Value::Array(a) => Some(a),
        _ => None,
    }
    .ok_or_else(|| {
        parse_error(
            path,
            "expected a MIDOG-style object {\"type\": \"Multiple points\", \"points\": \
             [{\"point\": [x_mm, y_mm, z], \"name\": \"mitotic figure\"}]}",
        )
    })?;
    let mut points = Vec::new();
    for (i, p) in list.iter().enumerate() {
        let index = i + 1;
        if let Some(name) = p.get("name").and_then(|n| n.as_str()) {
            if !is_mitotic_label(name) {
                continue;
            }
        }
        let coords = p
            .get("point")
            .and_then(|c| c.as_array())
            .ok_or_else(|| parse_error(path, format!("point {index}: no \"point\" array")))?;
        let get = |k: usize| -> Result<f64> {
            coords
                .get(k)
                .and_then(|v| v.as_f64())
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    parse_error(
                        path,
                        format!("point {index}: coordinate {k} is not a number"),
                    )
                })
        };
        points.push(Point {
            x_um: get(0)? * 1000.0,
            y_um: get(1)? * 1000.0,
            x_px: None,
            y_px: None,
            line: index,
        });
    }
    Ok(points)
}

/// True for a GeoJSON FeatureCollection, a Feature, or an array of Features (as QuPath
/// exports objects).
fn is_geojson(v: &serde_json::Value) -> bool {
    let is_feature = |f: &serde_json::Value| {
        f.get("type").and_then(|t| t.as_str()) == Some("Feature") || f.get("geometry").is_some()
    };
    match v {
        serde_json::Value::Object(o) => {
            matches!(
                o.get("type").and_then(|t| t.as_str()),
                Some("FeatureCollection" | "Feature")
            )
        }
        serde_json::Value::Array(a) => a.first().is_some_and(is_feature),
        _ => false,
    }
}

/// The class name of a GeoJSON feature (QuPath's `properties.classification.name`, or a
/// plain `classification` string), `None` when it has none.
fn geojson_class(f: &serde_json::Value) -> Option<String> {
    let c = f.get("properties")?.get("classification")?;
    c.get("name")
        .and_then(|n| n.as_str())
        .or_else(|| c.as_str())
        .map(str::to_string)
}

/// Reads mitoses from GeoJSON, as QuPath exports annotations or detections: Points and
/// MultiPoints (each point one mitosis) and Polygons / MultiPolygons (each polygon one
/// mitosis, at the mean of its outer ring's vertices), in level-0 px, converted to µm with
/// `mpp`. A feature classed as a mitosis (`mitotic figure`, `Mitosis`, ...) or not classed
/// at all counts; one with another class (`non-mitotic figure`, `HPF`, `Mitotic hot
/// spot`, ...) does not.
fn read_geojson(path: &Path, value: &serde_json::Value, mpp: Option<Mpp>) -> Result<Vec<Point>> {
    let features: Vec<&serde_json::Value> = match value {
        serde_json::Value::Array(a) => a.iter().collect(),
        v if v.get("type").and_then(|t| t.as_str()) == Some("Feature") => vec![v],
        v => v
            .get("features")
            .and_then(|f| f.as_array())
            .map(|a| a.iter().collect())
            .unwrap_or_default(),
    };
    let mpp = mpp.ok_or_else(|| {
        Error::invalid_option(
            "--mpp",
            format!(
                "{} is GeoJSON, whose positions are level-0 pixels; pass the slide's pixel \
                 size with --mpp to compare them in µm",
                path.display()
            ),
        )
    })?;
    let mut points = Vec::new();
    for (i, f) in features.iter().enumerate() {
        let index = i + 1;
        if geojson_class(f).is_some_and(|c| !is_mitotic_label(&c)) {
            continue;
        }
        let Some(geometry) = f.get("geometry").filter(|g| !g.is_null()) else {
            continue;
        };
        let kind = geometry.get("type").and_then(|t| t.as_str()).unwrap_or("");
        let coords = geometry.get("coordinates");
        let xy = |v: &serde_json::Value| -> Option<(f64, f64)> {
            let a = v.as_array()?;
            let (x, y) = (a.first()?.as_f64()?, a.get(1)?.as_f64()?);
            (x.is_finite() && y.is_finite()).then_some((x, y))
        };
        let ring_centre = |ring: &serde_json::Value| -> Option<(f64, f64)> {
            let pts: Vec<(f64, f64)> = ring.as_array()?.iter().filter_map(xy).collect();
            // A closed ring repeats its first vertex last: count it once.
            let n = if pts.len() > 1 && pts.first() == pts.last() {
                pts.len() - 1
            } else {
                pts.len()
            };
            (n > 0).then(|| {
                let (sx, sy) = pts[..n]
                    .iter()
                    .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
                (sx / n as f64, sy / n as f64)
            })
        };
        let bad = || {
            parse_error(
                path,
                format!("feature {index}: malformed {kind} coordinates"),
            )
        };
        let found: Vec<(f64, f64)> = match kind {
            "Point" => vec![coords.and_then(xy).ok_or_else(bad)?],
            "MultiPoint" => coords
                .and_then(|c| c.as_array())
                .ok_or_else(bad)?
                .iter()
                .map(|p| xy(p).ok_or_else(bad))
                .collect::<Result<_>>()?,
            "Polygon" => vec![coords
                .and_then(|c| c.as_array())
                .and_then(|rings| rings.first())
                .and_then(ring_centre)
                .ok_or_else(bad)?],
            "MultiPolygon" => coords
                .and_then(|c| c.as_array())
                .ok_or_else(bad)?
                .iter()
                .map(|poly| {
                    poly.as_array()
                        .and_then(|rings| rings.first())
                        .and_then(ring_centre)
                        .ok_or_else(bad)
                })
                .collect::<Result<_>>()?,
            _ => continue,
        };
        for (x, y) in found {
            points.push(Point {
                x_um: mpp.px_to_um(x),
                y_um: mpp.px_to_um(y),
                x_px: Some(x),
                y_px: Some(y),
                line: index,
            });
        }
    }
    Ok(points)
}

/// Matches `truth` and `detections` of one image one-to-one within `radius_um` (see the
/// module documentation). Returns index pairs `(truth, detection, distance_um)` and
/// whether a greedy fallback was used.
pub fn match_points(
    truth: &[Point],
    detections: &[Point],
    radius_um: f64,
) -> (Vec<(usize, usize, f64)>, bool) {
    let n_t = truth.len();
    let dist =
        |t: &Point, d: &Point| ((t.x_um - d.x_um).powi(2) + (t.y_um - d.y_um).powi(2)).sqrt();
    // Edges within the radius, found by a sweep over detections sorted by x.
    let mut order: Vec<usize> = (0..detections.len()).collect();
    order.sort_by(|&a, &b| detections[a].x_um.total_cmp(&detections[b].x_um));
    let xs: Vec<f64> = order.iter().map(|&i| detections[i].x_um).collect();
    let mut edges: Vec<(usize, usize, f64)> = Vec::new();
    for (ti, t) in truth.iter().enumerate() {
        let start = xs.partition_point(|&x| x < t.x_um - radius_um);
        for &di in &order[start..] {
            let d = &detections[di];
            if d.x_um > t.x_um + radius_um {
                break;
            }
            let dd = dist(t, d);
            if dd <= radius_um {
                edges.push((ti, di, dd));
            }
        }
    }
    // Connected groups by union-find over truth (0..n_t) and detections (n_t..).
    let mut parent: Vec<usize> = (0..n_t + detections.len()).collect();
    fn find(p: &mut [usize], mut i: usize) -> usize {
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    for &(t, d, _) in &edges {
        let (a, b) = (find(&mut parent, t), find(&mut parent, n_t + d));
        if a != b {
            parent[a.max(b)] = a.min(b);
        }
    }
    let mut groups: std::collections::BTreeMap<usize, Vec<(usize, usize, f64)>> =
        std::collections::BTreeMap::new();
    for &e in &edges {
        let root = find(&mut parent, e.0);
        groups.entry(root).or_default().push(e);
    }
    let mut matches = Vec::new();
    let mut greedy = false;
    for (_, group) in groups {
        let mut ts: Vec<usize> = group.iter().map(|e| e.0).collect();
        let mut ds: Vec<usize> = group.iter().map(|e| e.1).collect();
        ts.sort_unstable();
        ts.dedup();
        ds.sort_unstable();
        ds.dedup();
        if ts.len() + ds.len() > MAX_ASSIGNMENT_GROUP {
            greedy = true;
            matches.extend(greedy_match(group));
            continue;
        }
        let n = ts.len().max(ds.len());
        // Cost: distance for an edge; `big` (more than any sum of real distances) for a
        // non-edge, so the assignment maximises the number of real matches first.
        let big = 1.0 + radius_um * (n as f64 + 1.0);
        let mut cost = vec![vec![big; n]; n];
        for &(t, d, dd) in &group {
            let (Ok(r), Ok(c)) = (ts.binary_search(&t), ds.binary_search(&d)) else {
                continue;
            };
            cost[r][c] = dd;
        }
        let assignment = hungarian(&cost);
        for (r, &c) in assignment.iter().enumerate() {
            if r < ts.len() && c < ds.len() && cost[r][c] < big {
                matches.push((ts[r], ds[c], cost[r][c]));
            }
        }
    }
    matches.sort_by_key(|a| a.0);
    (matches, greedy)
}

fn greedy_match(mut edges: Vec<(usize, usize, f64)>) -> Vec<(usize, usize, f64)> {
    edges.sort_by(|a, b| a.2.total_cmp(&b.2).then(a.0.cmp(&b.0)).then(a.1.cmp(&b.1)));
    let mut used_t = std::collections::BTreeSet::new();
    let mut used_d = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for (t, d, dd) in edges {
        if !used_t.contains(&t) && !used_d.contains(&d) {
            used_t.insert(t);
            used_d.insert(d);
            out.push((t, d, dd));
        }
    }
    out
}

/// Minimum-cost perfect assignment of a square cost matrix (Hungarian algorithm with
/// potentials, O(n³)); returns the column of each row.
fn hungarian(cost: &[Vec<f64>]) -> Vec<usize> {
    let n = cost.len();
    // 1-based arrays as in the classic formulation.
    let mut u = vec![0.0f64; n + 1];
    let mut v = vec![0.0f64; n + 1];
    let mut p = vec![0usize; n + 1];
    let mut way = vec![0usize; n + 1];
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0usize;
        let mut minv = vec![f64::INFINITY; n + 1];
        let mut used = vec![false; n + 1];
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let mut delta = f64::INFINITY;
            let mut j1 = 0usize;
            for j in 1..=n {
                if !used[j] {
                    let cur = cost[i0 - 1][j - 1] - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=n {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut row_to_col = vec![0usize; n];
    for j in 1..=n {
        if p[j] > 0 {
            row_to_col[p[j] - 1] = j - 1;
        }
    }
    row_to_col
}

/// One image's files.
#[derive(Debug, Clone)]
pub struct ImagePair {
    /// Ground-truth file.
    pub truth: PathBuf,
    /// Detections file.
    pub detections: PathBuf,
}

/// Evaluates each image's detections against its truth and pools the counts.
///
/// # Errors
/// Whatever [`read_points`] returns; [`Error::InvalidOption`] naming `--radius-um` for a
/// radius that is not a positive number.
pub fn evaluate(images: &[ImagePair], radius_um: f64, mpp: Option<Mpp>) -> Result<Evaluation> {
    if !(radius_um.is_finite() && radius_um > 0.0) {
        return Err(Error::invalid_option(
            "--radius-um",
            format!("must be a positive number of µm, got {radius_um}"),
        ));
    }
    let mut eval = Evaluation {
        truth_files: images.iter().map(|p| p.truth.clone()).collect(),
        detection_files: images.iter().map(|p| p.detections.clone()).collect(),
        radius_um,
        truth_count: 0,
        detection_count: 0,
        true_positives: 0,
        false_positives: 0,
        false_negatives: 0,
        precision: 1.0,
        recall: 1.0,
        f1: 1.0,
        greedy_fallback: false,
        matches: Vec::new(),
        misses: Vec::new(),
        false_positive_list: Vec::new(),
    };
    for pair in images {
        let truth = read_points(&pair.truth, mpp)?;
        let dets = read_points(&pair.detections, mpp)?;
        let (matches, greedy) = match_points(&truth, &dets, radius_um);
        eval.greedy_fallback |= greedy;
        let mut t_used = vec![false; truth.len()];
        let mut d_used = vec![false; dets.len()];
        for &(t, d, dd) in &matches {
            t_used[t] = true;
            d_used[d] = true;
            eval.matches.push(Match {
                truth: truth[t].clone(),
                detection: dets[d].clone(),
                distance_um: dd,
            });
        }
        for (t, used) in truth.iter().zip(&t_used) {
            if !used {
                eval.misses.push((pair.truth.clone(), t.clone()));
            }
        }
        for (d, used) in dets.iter().zip(&d_used) {
            if !used {
                eval.false_positive_list
                    .push((pair.detections.clone(), d.clone()));
            }
        }
        eval.truth_count += truth.len();
        eval.detection_count += dets.len();
        eval.true_positives += matches.len();
    }
    let tp = eval.true_positives as f64;
    eval.false_positives = eval.detection_count - eval.true_positives;
    eval.false_negatives = eval.truth_count - eval.true_positives;
    if eval.detection_count > 0 {
        eval.precision = tp / eval.detection_count as f64;
    }
    if eval.truth_count > 0 {
        eval.recall = tp / eval.truth_count as f64;
    }
    let denom = 2.0 * tp + (eval.false_positives + eval.false_negatives) as f64;
    if denom > 0.0 {
        eval.f1 = 2.0 * tp / denom;
    }
    Ok(eval)
}

impl Evaluation {
    /// The report as text: the numbers, then the misses and false positives with their
    /// coordinates (µm and, when known, level-0 pixels).
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "matching radius {:.2} µm (one-to-one, optimal assignment{})",
            self.radius_um,
            if self.greedy_fallback {
                "; some large groups matched greedily"
            } else {
                ""
            }
        );
        let _ = writeln!(
            s,
            "truth {}  detections {}  TP {}  FP {}  FN {}",
            self.truth_count,
            self.detection_count,
            self.true_positives,
            self.false_positives,
            self.false_negatives
        );
        let _ = writeln!(
            s,
            "precision {:.4}  recall {:.4}  F1 {:.4}",
            self.precision, self.recall, self.f1
        );
        let fmt_point = |p: &Point| match (p.x_px, p.y_px) {
            (Some(x), Some(y)) => format!(
                "x_um {:.1} y_um {:.1} (x_px {:.0} y_px {:.0}, line {})",
                p.x_um, p.y_um, x, y, p.line
            ),
            _ => format!("x_um {:.1} y_um {:.1} (item {})", p.x_um, p.y_um, p.line),
        };
        let _ = writeln!(s, "misses ({}):", self.misses.len());
        for (f, p) in &self.misses {
            let _ = writeln!(s, "  {}: {}", f.display(), fmt_point(p));
        }
        let _ = writeln!(s, "false positives ({}):", self.false_positive_list.len());
        for (f, p) in &self.false_positive_list {
            let _ = writeln!(s, "  {}: {}", f.display(), fmt_point(p));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(x: f64, y: f64) -> Point {
        Point {
            x_um: x,
            y_um: y,
            x_px: None,
            y_px: None,
            line: 0,
        }
    }

    #[test]
    fn assignment_beats_greedy_on_a_shared_detection() {
        // Detection 0 lies between both truths, closest to truth 0; detection 1 reaches
        // only truth 0. Greedy would match (t0, d0) and lose t1; the assignment gets two.
        let truth = [p(0.0, 0.0), p(10.0, 0.0)];
        let dets = [p(4.0, 0.0), p(-5.0, 0.0)];
        let (m, greedy) = match_points(&truth, &dets, 7.5);
        assert!(!greedy);
        assert_eq!(m.len(), 2);
        assert_eq!((m[0].0, m[0].1), (0, 1));
        assert_eq!((m[1].0, m[1].1), (1, 0));
    }

    #[test]
    fn one_to_one_and_radius_is_inclusive() {
        let truth = [p(0.0, 0.0)];
        let dets = [p(7.5, 0.0), p(1.0, 0.0), p(100.0, 0.0)];
        let (m, _) = match_points(&truth, &dets, 7.5);
        assert_eq!(m, vec![(0, 1, 1.0)]);
        let (m, _) = match_points(&truth, &dets[..1], 7.5);
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn labels_are_read_leniently() {
        for yes in [
            "mitotic figure",
            "MitoticFigure",
            "mitotic_figure",
            " Mitosis ",
        ] {
            assert!(is_mitotic_label(yes), "{yes}");
        }
        for no in [
            "non-mitotic figure",
            "NonMitoticFigure",
            "lymphocyte",
            "pyknotic",
            "hard negative",
        ] {
            assert!(!is_mitotic_label(no), "{no}");
        }
    }

    #[test]
    fn hungarian_finds_the_minimum() {
        let cost = vec![
            vec![4.0, 1.0, 3.0],
            vec![2.0, 0.0, 5.0],
            vec![3.0, 2.0, 2.0],
        ];
        let a = hungarian(&cost);
        let total: f64 = a.iter().enumerate().map(|(r, &c)| cost[r][c]).sum();
        assert_eq!(total, 5.0);
    }
}
