//! The class of each candidate from the learned classifier's probability
//! ([`super::cnn`]), and merging of anaphase/telophase pairs into one call per figure.

use super::{Candidate, Class, DetectOptions, Pairing};

/// Decides each candidate from the learned classifier's probability, which the caller has
/// put in [`Candidate::score`] (see [`super::cnn`]): a mitotic figure when
/// `score >= threshold`. Then merges calls (see `merge_pairs`): two mitotic calls within
/// `opts.pair_merge_um` are one dividing cell (the two halves of an anaphase or telophase,
/// or fragments of one figure), counted once: at their midpoint when at most
/// `opts.pair_midpoint_um` apart, else where the stronger one is. One call per figure.
/// Also sets [`super::Features::dark_neighbours`] for the listing.
pub fn decide(candidates: &mut [Candidate], threshold: f64, opts: &DetectOptions) {
    count_dark_neighbours(candidates, opts);
    for c in candidates.iter_mut() {
        c.class = if c.score >= threshold {
            Class::MitoticFigure
        } else {
            Class::NonMitoticFigure
        };
        c.pairing = Pairing::Single;
    }
    merge_pairs(candidates, opts);
}

/// Sets [`super::Features::dark_neighbours`]: how many other candidates within
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

/// Merges pairs of mitotic calls closer than `opts.pair_merge_um`, the closest first (ties
/// broken by position, so the result does not depend on the order of `candidates`; the
/// higher-scoring call is kept, moved to the midpoint when the two are at most
/// `opts.pair_midpoint_um` apart, and the other becomes
/// [`Pairing::Absorbed`] and non-mitotic), then, in at most two more rounds, a merged pair
/// with a single call by the same rule: the third and fourth pieces of a
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
            let merged = |c: &Candidate| matches!(c.pairing, Pairing::Merged { .. });
            let allowed = match round {
                Round::Pairs => true,
                Round::PairWithSingle => merged(ca) != merged(cb),
            };
            if allowed && d <= limit_um {
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
    for (d, a, b) in pairs {
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
        // Close halves (an anaphase or telophase) are counted at their midpoint; a farther
        // piece joins the stronger call where it is.
        let w = if d <= opts.pair_midpoint_um { 0.5 } else { 0.0 };
        let mid = |p: f64, q: f64| p + w * (q - p);
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
    use crate::detect::Features;

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

    /// The mitotic calls among `cs`.
    fn calls(cs: &[Candidate]) -> Vec<&Candidate> {
        cs.iter()
            .filter(|c| c.class == Class::MitoticFigure)
            .collect()
    }

    #[test]
    fn close_pair_is_counted_once_at_its_midpoint() {
        let opts = DetectOptions::default();
        let mut cs = vec![
            candidate(100.0, 100.0, 0.8),
            candidate(106.0, 100.0, 0.9),
            // Far away: stays single.
            candidate(200.0, 100.0, 0.8),
            // Farther from the third than pair_merge_um: not a pair.
            candidate(200.0 + opts.pair_merge_um + 0.5, 100.0, 0.3),
        ];
        cs[1].score = 0.95;
        merge_pairs(&mut cs, &opts);
        let mitotic = calls(&cs);
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
        let mitotic = calls(&a);
        assert_eq!(mitotic.len(), 1);
        assert_eq!((mitotic[0].x_um, mitotic[0].y_um), (3.5, 0.0));
    }

    #[test]
    fn a_faint_piece_joins_and_pairs_do_not_chain() {
        let opts = DetectOptions {
            pair_merge_um: 12.0,
            ..DetectOptions::default()
        };
        let mut cs = vec![
            candidate(0.0, 0.0, 0.9),
            // Much fainter, 4 µm away: a fragment of the same figure.
            candidate(4.0, 0.0, 0.3),
            // Two further pairs 10 µm apart each, their midpoints 11 µm apart: two merged
            // pairs never merge with each other.
            candidate(100.0, 0.0, 0.8),
            candidate(104.0, 0.0, 0.8),
            candidate(111.0, 0.0, 0.8),
            candidate(115.0, 0.0, 0.8),
        ];
        merge_pairs(&mut cs, &opts);
        let mitotic = calls(&cs);
        assert_eq!(mitotic.len(), 3, "{mitotic:?}");
    }

    #[test]
    fn a_farther_piece_joins_the_stronger_call_where_it_is() {
        let opts = DetectOptions::default();
        assert!(opts.pair_midpoint_um < 15.0 && 15.0 < opts.pair_merge_um);
        let mut cs = vec![candidate(0.0, 0.0, 0.8), candidate(15.0, 0.0, 0.8)];
        cs[1].score = 0.95;
        merge_pairs(&mut cs, &opts);
        let mitotic = calls(&cs);
        assert_eq!(mitotic.len(), 1);
        // Kept where the stronger call is, not moved to the midpoint (7.5 µm).
        assert_eq!((mitotic[0].x_um, mitotic[0].y_um), (15.0, 0.0));
        assert_eq!(
            cs[0].pairing,
            Pairing::Absorbed {
                x_px: 60.0,
                y_px: 0.0
            }
        );
    }
}
