//! The hot spot against brute force: random point sets, with and without tissue masks with
//! holes. Two references:
//!
//! - `exhaustive`: every cell of the arrangement (all breakpoints of points and mask-pixel
//!   centres, and every midpoint between consecutive breakpoints), evaluated directly. This
//!   is the exact maximum over continuous placements; the sweep must equal it.
//! - `grid_and_canonical`: a fine grid of positions plus every canonical position (a point
//!   on the left edge, a point on the top edge), as SlideRunner-style scans do. The sweep
//!   must be at least as good.
//!
//! In both, every returned window is checked directly: inside the slide, tissue fraction
//! reached, and exactly `count` points inside.

use mitocount::hotspot::{find_hotspot, Hotspot, HotspotOptions};
use mitocount::tiling::TissueMask;
use mitocount::units::{Mpp, UM2_PER_MM2};
use ndarray::Array2;
use proptest::prelude::*;

#[derive(Debug)]
struct Case {
    points: Vec<[f64; 2]>,
    slide: (u64, u64),
    tissue: TissueMask,
    mpp: Mpp,
    opts: HotspotOptions,
}

impl Case {
    /// Window size in px, computed exactly as `find_hotspot` does.
    fn window_px(&self) -> (f64, f64) {
        let (w_um, h_um) = self.opts.window_size_um();
        (self.mpp.um_to_px(w_um), self.mpp.um_to_px(h_um))
    }

    fn count(&self, x: f64, y: f64) -> usize {
        let (w, h) = self.window_px();
        self.points
            .iter()
            .filter(|p| x <= p[0] && p[0] < x + w && y <= p[1] && p[1] < y + h)
            .count()
    }

    fn allowed(&self, x: f64, y: f64) -> bool {
        let (w, h) = self.window_px();
        let inside =
            x >= 0.0 && y >= 0.0 && x + w <= self.slide.0 as f64 && y + h <= self.slide.1 as f64;
        inside
            && (self.opts.min_tissue_fraction <= 0.0
                || self.tissue.tissue_fraction(x, y, x + w, y + h) >= self.opts.min_tissue_fraction)
    }

    /// Largest count over the given positions (each axis independently), `None` when no
    /// position is allowed.
    fn best_over(&self, xs: &[f64], ys: &[f64]) -> Option<usize> {
        let mut best = None;
        for &x in xs {
            for &y in ys {
                if self.allowed(x, y) {
                    let c = self.count(x, y);
                    best = Some(best.map_or(c, |b: usize| b.max(c)));
                }
            }
        }
        best
    }

    /// Every breakpoint of one axis and every midpoint between consecutive ones.
    fn axis_candidates(&self, coords: &[f64], extent: f64, max: f64) -> Vec<f64> {
        let d = self.tissue.downsample();
        let mut b: Vec<f64> = vec![0.0, max];
        for &c in coords {
            b.extend([c, c - extent]);
        }
        let mut k = 0.0;
        while (k + 0.5) * d <= max + extent + d {
            b.extend([(k + 0.5) * d, (k + 0.5) * d - extent]);
            k += 1.0;
        }
        b.retain(|&v| (0.0..=max).contains(&v));
        b.sort_by(f64::total_cmp);
        b.dedup();
        let mids: Vec<f64> = b.windows(2).map(|p| 0.5 * (p[0] + p[1])).collect();
        b.extend(mids);
        b
    }

    fn exhaustive(&self) -> Option<usize> {
        let (w, h) = self.window_px();
        let (x_max, y_max) = (self.slide.0 as f64 - w, self.slide.1 as f64 - h);
        if x_max < 0.0 || y_max < 0.0 {
            return None;
        }
        let px: Vec<f64> = self.points.iter().map(|p| p[0]).collect();
        let py: Vec<f64> = self.points.iter().map(|p| p[1]).collect();
        self.best_over(
            &self.axis_candidates(&px, w, x_max),
            &self.axis_candidates(&py, h, y_max),
        )
    }

    fn grid_and_canonical(&self, steps: usize) -> Option<usize> {
        let (w, h) = self.window_px();
        let (x_max, y_max) = (self.slide.0 as f64 - w, self.slide.1 as f64 - h);
        if x_max < 0.0 || y_max < 0.0 {
            return None;
        }
        let axis = |max: f64, coords: Vec<f64>| -> Vec<f64> {
            let mut v: Vec<f64> = (0..=steps).map(|i| max * i as f64 / steps as f64).collect();
            v.extend(coords.into_iter().map(|c| c.clamp(0.0, max)));
            v
        };
        self.best_over(
            &axis(x_max, self.points.iter().map(|p| p[0]).collect()),
            &axis(y_max, self.points.iter().map(|p| p[1]).collect()),
        )
    }

    fn run(&self) -> Option<Hotspot> {
        find_hotspot(&self.points, &self.tissue, self.slide, self.mpp, &self.opts).unwrap()
    }

    /// The returned window is real: inside, tissue reached, count and indices exact.
    fn check_window(&self, hs: &Hotspot) {
        let (w, h) = self.window_px();
        assert_eq!((hs.width_px, hs.height_px), (w, h));
        assert!(self.allowed(hs.x_px, hs.y_px), "window not allowed: {hs:?}");
        assert_eq!(hs.count, self.count(hs.x_px, hs.y_px), "{hs:?}");
        let inside: Vec<usize> = (0..self.points.len())
            .filter(|&i| hs.contains(self.points[i]))
            .collect();
        assert_eq!(hs.point_indices, inside);
        if self.opts.min_tissue_fraction > 0.0 {
            assert!(hs.tissue_fraction >= self.opts.min_tissue_fraction);
        }
    }
}

/// A mask over the slide with rectangular holes (background), possibly not covering the
/// whole slide.
fn mask_with_holes(
    slide: (u64, u64),
    d: f64,
    holes: &[(f64, f64, f64, f64)],
    coverage: f64,
) -> TissueMask {
    let cols = ((slide.0 as f64 * coverage / d).ceil() as usize).max(1);
    let rows = ((slide.1 as f64 * coverage / d).ceil() as usize).max(1);
    let mut m = Array2::from_elem((rows, cols), true);
    for &(fx, fy, fw, fh) in holes {
        let c0 = (fx * cols as f64) as usize;
        let r0 = (fy * rows as f64) as usize;
        let c1 = ((fx + fw) * cols as f64).ceil().min(cols as f64) as usize;
        let r1 = ((fy + fh) * rows as f64).ceil().min(rows as f64) as usize;
        for r in r0..r1 {
            for c in c0..c1 {
                m[[r, c]] = false;
            }
        }
    }
    TissueMask::new(m, d)
}

fn points_strategy(max_n: usize) -> impl Strategy<Value = Vec<[f64; 2]>> {
    // Unit-square coordinates; some cases snap them to a coarse lattice so that exact ties
    // between points and window edges occur.
    (
        prop::collection::vec((0.0f64..1.0, 0.0f64..1.0), 0..max_n),
        prop::bool::ANY,
        // A cluster centre and spread, so that dense spots exist.
        (0.0f64..1.0, 0.0f64..1.0, 0.02f64..0.2),
        0usize..12,
    )
        .prop_map(|(pts, snap, (cx, cy, s), n_cluster)| {
            let mut v: Vec<[f64; 2]> = pts.into_iter().map(|(x, y)| [x, y]).collect();
            for i in 0..n_cluster {
                // Deterministic spread around the cluster centre.
                let a = i as f64 * 2.399_963;
                let r = s * ((i as f64 + 0.5) / 12.0).sqrt();
                v.push([
                    (cx + r * a.cos()).clamp(0.0, 1.0),
                    (cy + r * a.sin()).clamp(0.0, 1.0),
                ]);
            }
            if snap {
                for p in &mut v {
                    p[0] = (p[0] * 40.0).round() / 40.0;
                    p[1] = (p[1] * 40.0).round() / 40.0;
                }
            }
            v
        })
}

fn case_strategy(with_mask: bool) -> impl Strategy<Value = Case> {
    (
        points_strategy(30),
        (150u64..500, 150u64..500),
        (
            prop::sample::select(vec![0.25f64, 0.5, 1.0]),
            30.0f64..120.0,
            0.5f64..2.0,
        ),
        prop::sample::select(vec![7.0f64, 10.0, 16.0, 25.0]),
        prop::collection::vec((0.0f64..0.9, 0.0f64..0.9, 0.05f64..0.4, 0.05f64..0.4), 0..4),
        prop::sample::select(vec![0.0f64, 0.5, 0.8, 0.95, 1.0]),
        prop::sample::select(vec![1.0f64, 0.8]),
    )
        .prop_map(
            move |(pts, slide, (mpp_um, side_um, aspect), d, holes, min_tissue, coverage)| {
                let mpp = Mpp::new(mpp_um).unwrap();
                let points = pts
                    .into_iter()
                    .map(|p| [p[0] * slide.0 as f64, p[1] * slide.1 as f64])
                    .collect();
                // Window of about side^2 px (30..120 px a side), i.e. side * mpp µm.
                let side_um = side_um * mpp_um;
                let opts = HotspotOptions {
                    window_area_mm2: side_um * side_um / UM2_PER_MM2,
                    aspect_width: aspect,
                    aspect_height: 1.0,
                    min_tissue_fraction: if with_mask { min_tissue } else { 0.95 },
                };
                let tissue = if with_mask {
                    mask_with_holes(slide, d, &holes, coverage)
                } else {
                    TissueMask::all_tissue(slide.0, slide.1, d)
                };
                Case {
                    points,
                    slide,
                    tissue,
                    mpp,
                    opts,
                }
            },
        )
}

fn check_case(case: &Case) {
    let exact = case.exhaustive();
    let scan = case.grid_and_canonical(60);
    let found = case.run();
    match (&found, exact) {
        (None, None) => {}
        (Some(hs), Some(e)) => {
            case.check_window(hs);
            assert_eq!(hs.count, e, "sweep {hs:?} vs exhaustive {e}");
            assert!(
                hs.count >= scan.unwrap_or(0),
                "scan found more: {scan:?} > {hs:?}"
            );
        }
        (f, e) => panic!("sweep {f:?} but exhaustive {e:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn matches_brute_force_without_tissue_constraint(case in case_strategy(false)) {
        check_case(&case);
        // Without a mask the classical canonical enumeration is exact too.
        let (w, h) = case.window_px();
        let (x_max, y_max) = (case.slide.0 as f64 - w, case.slide.1 as f64 - h);
        let canon = |max: f64, c: Vec<f64>| -> Vec<f64> {
            let mut v: Vec<f64> = c.into_iter().filter(|&c| c <= max).collect();
            v.push(max);
            v
        };
        let canonical = case.best_over(
            &canon(x_max, case.points.iter().map(|p| p[0]).collect()),
            &canon(y_max, case.points.iter().map(|p| p[1]).collect()),
        );
        prop_assert_eq!(case.run().map(|h| h.count), canonical);
    }

    #[test]
    fn matches_brute_force_with_tissue_holes(case in case_strategy(true)) {
        check_case(&case);
    }
}

/// A planted dense cluster next to a tissue hole: every canonical placement (a cluster
/// point on the left edge) reaches into the hole, so the answer needs a window shifted left
/// of every point.
#[test]
fn dense_spot_beside_a_hole_is_found_by_shifting() {
    let mpp = Mpp::new(0.25).unwrap();
    let slide = (40_000u64, 30_000u64);
    let opts = HotspotOptions {
        min_tissue_fraction: 1.0,
        ..HotspotOptions::default() // 7110 x 5333 px at 0.25 µm/px
    };
    // Hole: x >= 20_000 is background.
    let d = 64.0;
    let cols = (slide.0 as f64 / d).ceil() as usize;
    let rows = (slide.1 as f64 / d).ceil() as usize;
    let mut m = Array2::from_elem((rows, cols), true);
    for r in 0..rows {
        for c in (20_000.0 / d) as usize..cols {
            m[[r, c]] = false;
        }
    }
    let tissue = TissueMask::new(m, d);
    // 20 mitoses over x 14_000..19_700, y 8000..12000; 30 sparse ones elsewhere in tissue.
    let mut pts = Vec::new();
    for i in 0..20 {
        pts.push([14_000.0 + 300.0 * i as f64, 8_000.0 + 200.0 * i as f64]);
    }
    for i in 0..30 {
        pts.push([
            500.0 + (i as f64 * 7919.0) % 12_000.0,
            1_000.0 + (i as f64 * 104_729.0) % 28_000.0,
        ]);
    }
    let case = Case {
        points: pts,
        slide,
        tissue,
        mpp,
        opts,
    };
    let hs = case.run().unwrap();
    case.check_window(&hs);
    assert!((0..20).all(|i| hs.point_indices.contains(&i)), "{hs:?}");
    assert!(
        hs.x_px < 14_000.0,
        "window should start left of the cluster: {hs:?}"
    );
    assert!(hs.x_px + hs.width_px <= 20_000.0, "{hs:?}");
    // Canonical placements alone cannot hold the cluster.
    let (w, _) = case.window_px();
    let xs: Vec<f64> = case.points.iter().map(|p| p[0].min(40_000.0 - w)).collect();
    let ys: Vec<f64> = case.points.iter().map(|p| p[1]).collect();
    let canonical = case.best_over(&xs, &ys).unwrap_or(0);
    assert!(canonical < hs.count, "canonical {canonical} vs {hs:?}");
    assert_eq!(Some(hs.count), case.exhaustive());
}

/// The window always lies inside the slide, even for points on the slide's border.
#[test]
fn window_stays_inside_slide_for_border_points() {
    let mpp = Mpp::new(1.0).unwrap();
    let slide = (300u64, 200u64);
    let opts = HotspotOptions {
        window_area_mm2: 100.0 * 75.0 / UM2_PER_MM2,
        aspect_width: 4.0,
        aspect_height: 3.0,
        min_tissue_fraction: 0.95,
    };
    let pts = vec![[299.9, 199.9], [299.0, 199.0], [298.0, 150.0], [0.0, 0.0]];
    let case = Case {
        points: pts,
        slide,
        tissue: TissueMask::all_tissue(slide.0, slide.1, 8.0),
        mpp,
        opts,
    };
    let hs = case.run().unwrap();
    case.check_window(&hs);
    assert_eq!(hs.count, 3);
    assert!(hs.x_px + hs.width_px <= 300.0 && hs.y_px + hs.height_px <= 200.0);
}

#[test]
fn empty_input_gives_zero_count_window() {
    let case = Case {
        points: vec![],
        slide: (1000, 1000),
        tissue: TissueMask::all_tissue(1000, 1000, 10.0),
        mpp: Mpp::new(1.0).unwrap(),
        opts: HotspotOptions {
            window_area_mm2: 0.01,
            aspect_width: 1.0,
            aspect_height: 1.0,
            min_tissue_fraction: 0.95,
        },
    };
    let hs = case.run().unwrap();
    assert_eq!(hs.count, 0);
    assert_eq!((hs.x_px, hs.y_px), (0.0, 0.0));
    case.check_window(&hs);
}
