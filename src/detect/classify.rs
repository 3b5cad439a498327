//! Mitosis score and class of each candidate, judged against the slide's own nuclei, and
//! merging of anaphase/telophase pairs.

use super::model;
use super::{Candidate, Class, DetectOptions, Features, NucleusStats, Pairing};

/// Number of model inputs.
pub const INPUTS: usize = 33;

/// The model inputs' names, in the order of [`inputs`]. Darkness is judged against the
/// slide's typical nucleus (`rel`, see [`Typical`]) and against the candidate's own
/// neighbourhood (`context`, `dark_neighbours`); the rest are shape, texture and
/// surroundings, as ratios that do not depend on stain intensity. The colour of the
/// chromatin itself (eosin or residual over haematoxylin) is deliberately not an input:
/// it varies with the lab and scanner more than with the cell cycle.
pub const INPUT_NAMES: [&str; INPUTS] = [
    "ln_rel_mean_h",
    "ln_rel_max_h",
    "ln_rel_core_h",
    "ln_mean_h_over_context_p90",
    "ln_mean_h_over_context_p50",
    "ln_core_over_context_p90",
    "context_darker_fraction",
    "ln_area_um2",
    "solidity",
    "boundary_irregularity",
    "ln_elongation",
    "texture_h_cv",
    "granularity",
    "edge_sharpness",
    "rel_blob_response",
    "ln_blob_radius_um",
    "ring_h_over_h",
    "rel_ring_total",
    "ln_outer_area_ratio",
    "membrane_ratio",
    "clipped",
    "ln_outer_area_um2",
    "ln_outer_elongation",
    "outer_solidity",
    "outer_irregularity",
    "dark_neighbours",
    "fine_roughness",
    "fine_solidity",
    "fine_radial_cv",
    "fine_halo_ratio",
    "ln_fine_area_um2",
    "ln_mean_h_over_slide_p90",
    "ln_max_h_over_slide_p90",
];

/// One node of a regression tree.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Node {
    /// Go to node `left` when input `input` is below `threshold`, else to `right`.
    Split {
        /// Index into the inputs.
        input: u8,
        /// Split value.
        threshold: f64,
        /// Node index when below.
        left: u16,
        /// Node index otherwise.
        right: u16,
    },
    /// A leaf: the tree's contribution to the log-odds (before the learning rate).
    Leaf(f64),
}

/// A regression tree: its nodes, root first.
pub type Tree = &'static [Node];

/// One boosted-trees ensemble (Friedman 2001, "Greedy function approximation: a gradient
/// boosting machine", Ann Stat 29(5):1189-1232): its log-odds are `base + rate * sum of
/// leaves`; it passes when they reach `threshold_logit`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ensemble {
    /// Initial log-odds.
    pub base_log_odds: f64,
    /// Shrinkage of every tree.
    pub learning_rate: f64,
    /// Log-odds at which the stage passes.
    pub threshold_logit: f64,
    /// The trees.
    pub trees: &'static [Tree],
}

impl Ensemble {
    /// Log-odds of `inputs`. A malformed tree (a node index out of range) counts as 0
    /// rather than panicking.
    pub fn log_odds(&self, inputs: &[f64; INPUTS]) -> f64 {
        let mut z = self.base_log_odds;
        for tree in self.trees {
            z += self.learning_rate * tree_value(tree, inputs);
        }
        z
    }
}

/// The two-stage mitosis model trained by `scripts/real_mitoses/train_two_stage.py` (see
/// `model.rs` for the provenance). Stage A judges a candidate against the real nuclei
/// around it (trained on real tissue only); stage B against the mimics a pathologist
/// rejects at a glance (lymphocytes, pyknotic and hyperchromatic nuclei, ordinary nuclei;
/// trained on real and synthetic mitotic figures against synthetic mimics). The score is
/// `1 / (1 + exp(-m))` with `m = min(zA - tA, zB - tB)`: 0.5 exactly where the weaker
/// stage reaches its threshold, so the default score threshold is 0.5 and raising it
/// asks more of both stages. Scores rank candidates; they are not calibrated
/// probabilities.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Model {
    /// Mitosis against its real neighbours.
    pub stage_a: Ensemble,
    /// Mitotic figure against mimics.
    pub stage_b: Ensemble,
    /// Default score threshold for a mitotic figure (0.5: both stages pass).
    pub threshold: f64,
}

/// The model in use (see `model.rs`).
pub const MODEL: Model = Model {
    stage_a: model::STAGE_A,
    stage_b: model::STAGE_B,
    threshold: 0.5,
};

/// The slide's typical nucleus used to normalise darkness.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Typical {
    /// Median mean H OD of the slide's nucleus-like blobs.
    pub mean_h_od: f64,
    /// Median peak H OD.
    pub max_h_od: f64,
    /// 90th percentile of the mean H OD: the slide's darker nuclei.
    pub mean_h_p90_od: f64,
    /// 90th percentile of the peak H OD.
    pub max_h_p90_od: f64,
}

/// Fallback when a slide has no nuclei at all (OD of an ordinary nucleus with the default
/// stain vectors); only used so that an empty slide still gets scores.
const FALLBACK: Typical = Typical {
    mean_h_od: 0.4,
    max_h_od: 0.5,
    mean_h_p90_od: 0.3,
    max_h_p90_od: 0.45,
};

impl Typical {
    /// The median blob of `stats`, or a fixed fallback for an empty summary.
    pub fn from_stats(stats: &NucleusStats) -> Typical {
        match (stats.mean_h_quantile(0.5), stats.max_h_quantile(0.5)) {
            (Some(mean_h_od), Some(max_h_od)) => Typical {
                mean_h_od: mean_h_od.max(0.02),
                max_h_od: max_h_od.max(0.02),
                mean_h_p90_od: stats.mean_h_quantile(0.9).unwrap_or(FALLBACK.mean_h_p90_od),
                max_h_p90_od: stats.max_h_quantile(0.9).unwrap_or(FALLBACK.max_h_p90_od),
            },
            _ => FALLBACK,
        }
    }
}

/// The model inputs of one candidate judged against the slide's `stats` (see
/// [`INPUT_NAMES`]).
pub fn model_inputs(f: &Features, stats: &NucleusStats) -> [f64; INPUTS] {
    inputs(f, &Typical::from_stats(stats))
}

/// The model inputs of one candidate given the slide's typical nucleus, in the order of
/// [`INPUT_NAMES`]. Ratios use floors (0.001 or 0.02 OD) so that no input is infinite.
pub fn inputs(f: &Features, typical: &Typical) -> [f64; INPUTS] {
    let ln = |v: f64, floor: f64| v.max(floor).ln();
    let per_h = |v: f64| v / f.mean_h_od.max(0.02);
    [
        ln(f.mean_h_od, 1e-3) - typical.mean_h_od.ln(),
        ln(f.max_h_od, 1e-3) - typical.max_h_od.ln(),
        ln(f.core_h_od, 1e-3) - typical.max_h_od.ln(),
        ln(f.mean_h_od, 1e-3) - ln(f.context_h_p90_od, 0.02),
        ln(f.mean_h_od, 1e-3) - ln(f.context_h_p50_od, 0.02),
        ln(f.core_h_od, 1e-3) - ln(f.context_h_p90_od, 0.02),
        f.context_darker_fraction,
        ln(f.area_um2, 0.1),
        f.solidity,
        f.boundary_irregularity.min(3.0),
        ln(f.elongation, 1.0),
        f.texture_h_cv.min(2.0),
        f.granularity.min(5.0),
        per_h(f.edge_gradient_od_per_um),
        f.blob_response_od / typical.mean_h_od,
        ln(f.blob_radius_um, 0.1),
        per_h(f.ring_h_od),
        (f.ring_h_od + f.ring_e_od) / typical.mean_h_od,
        ln(f.outer_area_ratio, 1.0),
        f.membrane_ratio.min(3.0),
        f.clipped,
        ln(f.outer_area_um2, 0.1),
        ln(f.outer_elongation, 1.0),
        f.outer_solidity,
        f.outer_irregularity.min(3.0),
        f.dark_neighbours.min(20.0),
        f.fine_roughness.min(3.0),
        f.fine_solidity,
        f.fine_radial_cv.min(2.0),
        f.fine_halo_ratio.min(3.0),
        ln(f.fine_area_um2, 0.1),
        ln(f.mean_h_od, 1e-3) - ln(typical.mean_h_p90_od, 0.02),
        ln(f.max_h_od, 1e-3) - ln(typical.max_h_p90_od, 0.02),
    ]
}

impl Model {
    /// Score in [0, 1] of `inputs` (see [`Model`]).
    pub fn score(&self, inputs: &[f64; INPUTS]) -> f64 {
        let a = self.stage_a.log_odds(inputs) - self.stage_a.threshold_logit;
        let b = self.stage_b.log_odds(inputs) - self.stage_b.threshold_logit;
        1.0 / (1.0 + (-a.min(b)).exp())
    }
}

fn tree_value(tree: &[Node], inputs: &[f64; INPUTS]) -> f64 {
    let mut k = 0usize;
    // A tree of n nodes is at most n deep.
    for _ in 0..=tree.len() {
        match tree.get(k) {
            Some(Node::Leaf(v)) => return *v,
            Some(Node::Split {
                input,
                threshold,
                left,
                right,
            }) => {
                let x = inputs.get(usize::from(*input)).copied().unwrap_or(0.0);
                k = usize::from(if x < *threshold { *left } else { *right });
            }
            None => return 0.0,
        }
    }
    0.0
}

/// Scores every candidate against the slide's typical nucleus from `stats`, sets its class
/// (mitotic figure when `score >= opts.score_threshold`), then merges pairs: two mitotic
/// candidates within `opts.pair_merge_um` whose mean H OD differ by at most
/// `opts.pair_max_od_ratio`, or any two within `opts.pair_always_merge_um`, are one
/// dividing cell, counted once at their midpoint (the
/// higher-scoring one is kept and moved; the other becomes [`Pairing::Absorbed`] and
/// non-mitotic). Pairs are merged greedily by increasing distance; ties are broken by
/// position, so the result does not depend on the order of `candidates`.
pub fn classify(candidates: &mut [Candidate], stats: &NucleusStats, opts: &DetectOptions) {
    let typical = Typical::from_stats(stats);
    count_dark_neighbours(candidates, opts);
    for c in candidates.iter_mut() {
        c.score = MODEL.score(&inputs(&c.features, &typical));
        c.class = if c.score >= opts.score_threshold {
            Class::MitoticFigure
        } else {
            Class::NonMitoticFigure
        };
        c.pairing = Pairing::Single;
    }
    merge_pairs(candidates, opts);
}

/// Sets [`Features::dark_neighbours`]: how many other candidates within
/// `opts.neighbour_radius_um` have a mean H OD at least `opts.neighbour_darkness` times
/// this one's. Mitotic figures are scattered among lighter nuclei; lymphocytes and other
/// small dark nuclei come in crowds. A sweep over candidates sorted by x; the count does
/// not depend on the order of `candidates`.
pub fn count_dark_neighbours(candidates: &mut [Candidate], opts: &DetectOptions) {
    let r = opts.neighbour_radius_um;
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    order.sort_by(|&a, &b| candidates[a].x_um.total_cmp(&candidates[b].x_um));
    let mut counts = vec![0u32; candidates.len()];
    for (oi, &a) in order.iter().enumerate() {
        let ca = &candidates[a];
        let limit = opts.neighbour_darkness * ca.features.mean_h_od;
        let mut n = 0u32;
        // Neighbours to the left, then to the right, within r in x.
        for &b in order[..oi].iter().rev() {
            let cb = &candidates[b];
            if ca.x_um - cb.x_um > r {
                break;
            }
            let d2 = (ca.x_um - cb.x_um).powi(2) + (ca.y_um - cb.y_um).powi(2);
            n += u32::from(d2 <= r * r && cb.features.mean_h_od >= limit);
        }
        for &b in &order[oi + 1..] {
            let cb = &candidates[b];
            if cb.x_um - ca.x_um > r {
                break;
            }
            let d2 = (ca.x_um - cb.x_um).powi(2) + (ca.y_um - cb.y_um).powi(2);
            n += u32::from(d2 <= r * r && cb.features.mean_h_od >= limit);
        }
        counts[a] = n;
    }
    for (c, n) in candidates.iter_mut().zip(counts) {
        c.features.dark_neighbours = f64::from(n);
    }
}

/// Merges pairs of mitotic calls (see [`classify`]), then, in at most two more rounds, a
/// merged pair with a single call by the same rule: the third and fourth pieces of a
/// multipolar (atypical) figure, counted once. Two merged pairs are never merged with
/// each other, so neighbouring figures do not chain into one.
fn merge_pairs(candidates: &mut [Candidate], opts: &DetectOptions) {
    if merge_round(candidates, opts, Round::Pairs) {
        for _ in 0..2 {
            if !merge_round(candidates, opts, Round::PairWithSingle) {
                break;
            }
        }
    }
}

/// Which calls a merging round may join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Round {
    /// Any two calls.
    Pairs,
    /// A merged pair and a single call.
    PairWithSingle,
}

/// One round of pair merging among the current mitotic calls; true when a pair was merged.
fn merge_round(candidates: &mut [Candidate], opts: &DetectOptions, round: Round) -> bool {
    let limit_um = opts.pair_merge_um;
    if limit_um <= 0.0 {
        return false;
    }
    let mut mitotic: Vec<usize> = (0..candidates.len())
        .filter(|&i| candidates[i].class == Class::MitoticFigure)
        .collect();
    let key = |c: &Candidate| (c.x_um, c.y_um);
    mitotic.sort_by(|&a, &b| {
        let (ka, kb) = (key(&candidates[a]), key(&candidates[b]));
        ka.0.total_cmp(&kb.0).then(ka.1.total_cmp(&kb.1))
    });
    // Sweep in x: only neighbours within limit_um in x can pair.
    let mut pairs: Vec<(f64, usize, usize)> = Vec::new();
    for (ai, &a) in mitotic.iter().enumerate() {
        for &b in &mitotic[ai + 1..] {
            let (ca, cb) = (&candidates[a], &candidates[b]);
            if cb.x_um - ca.x_um > limit_um {
                break;
            }
            let d = ((cb.x_um - ca.x_um).powi(2) + (cb.y_um - ca.y_um).powi(2)).sqrt();
            let (lo, hi) = if ca.features.mean_h_od <= cb.features.mean_h_od {
                (ca.features.mean_h_od, cb.features.mean_h_od)
            } else {
                (cb.features.mean_h_od, ca.features.mean_h_od)
            };
            let similar = hi <= opts.pair_max_od_ratio * lo.max(1e-6);
            let merged = |c: &Candidate| matches!(c.pairing, Pairing::Merged { .. });
            let allowed = match round {
                Round::Pairs => true,
                Round::PairWithSingle => merged(ca) != merged(cb),
            };
            if allowed && d <= limit_um && (similar || d <= opts.pair_always_merge_um) {
                pairs.push((d, a, b));
            }
        }
    }
    let order = |i: usize| key(&candidates[i]);
    pairs.sort_by(|p, q| {
        p.0.total_cmp(&q.0)
            .then(order(p.1).0.total_cmp(&order(q.1).0))
            .then(order(p.1).1.total_cmp(&order(q.1).1))
            .then(order(p.2).0.total_cmp(&order(q.2).0))
            .then(order(p.2).1.total_cmp(&order(q.2).1))
    });
    let mut used = vec![false; candidates.len()];
    let mut merged_any = false;
    for (_, a, b) in pairs {
        if used[a] || used[b] {
            continue;
        }
        used[a] = true;
        used[b] = true;
        merged_any = true;
        // Keep the higher score; on a tie the first in (x, y) order (a, by construction).
        let (keep, other) = if candidates[b].score > candidates[a].score {
            (b, a)
        } else {
            (a, b)
        };
        let o = candidates[other];
        let k = candidates[keep];
        let mid = |p: f64, q: f64| 0.5 * (p + q);
        let merged = Candidate {
            x_px: mid(k.x_px, o.x_px),
            y_px: mid(k.y_px, o.y_px),
            x_um: mid(k.x_um, o.x_um),
            y_um: mid(k.y_um, o.y_um),
            pairing: Pairing::Merged {
                partner_x_px: o.x_px,
                partner_y_px: o.y_px,
            },
            ..k
        };
        candidates[other].class = Class::NonMitoticFigure;
        candidates[other].pairing = Pairing::Absorbed {
            x_px: merged.x_px,
            y_px: merged.y_px,
        };
        candidates[keep] = merged;
    }
    merged_any
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(x_um: f64, y_um: f64, mean_h_od: f64) -> Candidate {
        Candidate {
            x_px: x_um * 4.0,
            y_px: y_um * 4.0,
            x_um,
            y_um,
            features: Features {
                mean_h_od,
                ..Features::default()
            },
            score: 0.9,
            class: Class::MitoticFigure,
            pairing: Pairing::Single,
        }
    }

    #[test]
    fn close_similar_pair_is_counted_once_at_its_midpoint() {
        let opts = DetectOptions::default();
        let mut cs = vec![
            candidate(100.0, 100.0, 0.8),
            candidate(106.0, 100.0, 0.9),
            // Far away: stays single.
            candidate(200.0, 100.0, 0.8),
            // Near the third but much fainter, beyond pair_always_merge_um: not a pair.
            candidate(209.0, 100.0, 0.3),
        ];
        cs[1].score = 0.95;
        merge_pairs(&mut cs, &opts);
        let mitotic: Vec<_> = cs
            .iter()
            .filter(|c| c.class == Class::MitoticFigure)
            .collect();
        assert_eq!(mitotic.len(), 3);
        assert_eq!((cs[1].x_um, cs[1].y_um), (103.0, 100.0));
        assert_eq!((cs[1].x_px, cs[1].y_px), (412.0, 400.0));
        assert_eq!(
            cs[1].pairing,
            Pairing::Merged {
                partner_x_px: 400.0,
                partner_y_px: 400.0
            }
        );
        assert_eq!(
            cs[0].pairing,
            Pairing::Absorbed {
                x_px: 412.0,
                y_px: 400.0
            }
        );
        assert_eq!(cs[0].class, Class::NonMitoticFigure);
        assert_eq!(cs[2].pairing, Pairing::Single);
        assert_eq!(cs[3].pairing, Pairing::Single);
    }

    #[test]
    fn merging_does_not_depend_on_input_order() {
        let opts = DetectOptions::default();
        // Three pieces of one multipolar figure within 9 µm: counted once, at the midpoint
        // of the closest pair's midpoint and the third piece, whatever the input order.
        let base = vec![
            candidate(0.0, 0.0, 0.8),
            candidate(5.0, 0.0, 0.8),
            candidate(9.0, 0.0, 0.8),
        ];
        let mut a = base.clone();
        merge_pairs(&mut a, &opts);
        let mut b: Vec<_> = base.iter().rev().copied().collect();
        merge_pairs(&mut b, &opts);
        b.reverse();
        assert_eq!(a, b);
        let mitotic: Vec<_> = a
            .iter()
            .filter(|c| c.class == Class::MitoticFigure)
            .collect();
        assert_eq!(mitotic.len(), 1);
        assert_eq!((mitotic[0].x_um, mitotic[0].y_um), (3.5, 0.0));
    }

    #[test]
    fn a_faint_piece_within_always_merge_distance_joins_and_pairs_do_not_chain() {
        let opts = DetectOptions::default();
        let mut cs = vec![
            candidate(0.0, 0.0, 0.9),
            // Much fainter but 4 µm away: a fragment of the same figure.
            candidate(4.0, 0.0, 0.3),
            // Two further pairs 10 µm apart each, their midpoints 11 µm apart: two merged
            // pairs never merge with each other.
            candidate(100.0, 0.0, 0.8),
            candidate(104.0, 0.0, 0.8),
            candidate(111.0, 0.0, 0.8),
            candidate(115.0, 0.0, 0.8),
        ];
        merge_pairs(&mut cs, &opts);
        let mitotic: Vec<_> = cs
            .iter()
            .filter(|c| c.class == Class::MitoticFigure)
            .collect();
        assert_eq!(mitotic.len(), 3, "{mitotic:?}");
    }

    #[test]
    fn generated_model_matches_the_inputs() {
        assert_eq!(model::TRAINED_INPUT_NAMES, INPUT_NAMES);
        for tree in MODEL.stage_a.trees.iter().chain(MODEL.stage_b.trees) {
            for node in *tree {
                if let Node::Split {
                    input, left, right, ..
                } = node
                {
                    assert!(usize::from(*input) < INPUTS);
                    assert!(usize::from(*left) < tree.len() && usize::from(*right) < tree.len());
                }
            }
        }
        assert!((0.0..=1.0).contains(&MODEL.threshold));
    }

    #[test]
    fn malformed_tree_does_not_panic() {
        let bad: &[Node] = &[Node::Split {
            input: 200,
            threshold: 0.0,
            left: 7,
            right: 0,
        }];
        let x = [0.0; INPUTS];
        assert_eq!(tree_value(bad, &x), 0.0);
        let cyclic: &[Node] = &[Node::Split {
            input: 0,
            threshold: 1.0,
            left: 0,
            right: 0,
        }];
        assert_eq!(tree_value(cyclic, &x), 0.0);
    }

    #[test]
    fn darker_than_the_slide_scores_higher() {
        let mut stats = NucleusStats::default();
        for _ in 0..50 {
            stats.add(0.3, 0.45);
        }
        let t = Typical::from_stats(&stats);
        // A compact, dark, membrane-less figure in clear cytoplasm, at two darknesses.
        let f = |m: f64| Features {
            mean_h_od: m,
            max_h_od: 1.2 * m,
            core_h_od: 1.2 * m,
            context_h_p50_od: 0.15,
            context_h_p90_od: 0.35,
            area_um2: 20.0,
            solidity: 0.95,
            boundary_irregularity: 1.0,
            elongation: 1.8,
            texture_h_cv: 0.2,
            granularity: 0.5,
            edge_gradient_od_per_um: 0.5 * m,
            blob_response_od: 0.6 * m,
            blob_radius_um: 3.0,
            ring_h_od: 0.1,
            ring_e_od: 0.1,
            mean_e_od: 0.3 * m,
            residual_od: 0.05,
            outer_area_ratio: 1.2,
            membrane_ratio: 0.8,
            fine_roughness: 1.1,
            fine_solidity: 0.8,
            fine_radial_cv: 0.2,
            fine_halo_ratio: 0.12,
            fine_area_um2: 15.0,
            ..Features::default()
        };
        let s1 = MODEL.score(&inputs(&f(0.3), &t));
        let s2 = MODEL.score(&inputs(&f(0.9), &t));
        assert!(s2 > s1 && (0.0..=1.0).contains(&s1) && s2 <= 1.0);
    }
}
