//! Order statistics exact to the bit: keys whose unsigned order is
//! [`f32::total_cmp`]'s (so that percentiles are selections of plain integers), and the
//! mean of a region's darkest core, summed in a defined order.
//!
//! May use: nothing but `std`.

/// A key whose unsigned order is [`f32::total_cmp`]'s order of the values.
#[inline(always)]
pub(super) fn order_key(v: f32) -> u32 {
    let b = v.to_bits();
    b ^ (((b as i32 >> 31) as u32) | 0x8000_0000)
}

/// The value of an [`order_key`].
#[inline(always)]
pub(super) fn from_order_key(k: u32) -> f32 {
    f32::from_bits(if k & 0x8000_0000 != 0 {
        k ^ 0x8000_0000
    } else {
        !k
    })
}

/// Mean of the `core_px` largest of `values` (all of them if fewer; `h_max` is their
/// maximum): the mean raw H of the region's darkest core.
///
/// Defined as the mean of the first `core_px` values after
/// `select_nth_unstable_by(core_px - 1, descending total order)` of `values` in raster
/// order, summed in that order. When the sum is exact in any order (every value at
/// least the `core_px`-th largest `v_k > 0`, so a multiple of the f32 ulp of `v_k`, and
/// `core_px * max <= v_k * 2^29` keeps every partial sum below 2^53 such ulps), it is
/// taken without reordering `values`; otherwise exactly as defined.
pub(super) fn core_mean(
    values: &mut [f32],
    core_px: usize,
    h_max: f32,
    keys: &mut Vec<u32>,
) -> f64 {
    let core_n = core_px.clamp(1, values.len());
    keys.clear();
    keys.extend(values.iter().map(|&v| order_key(v)));
    let at = keys.len() - core_n;
    let kth = from_order_key(*keys.select_nth_unstable(at).1);
    let exact = kth > 0.0
        && h_max.is_finite()
        && f64::from(h_max) * core_n as f64 <= f64::from(kth) * (1u64 << 29) as f64;
    if exact {
        let (mut sum, mut above) = (0.0f64, 0usize);
        for &v in values.iter().filter(|&&v| v > kth) {
            sum += f64::from(v);
            above += 1;
        }
        for _ in above..core_n {
            sum += f64::from(kth);
        }
        return sum / core_n as f64;
    }
    values.select_nth_unstable_by(core_n - 1, |a, b| b.total_cmp(a));
    values[..core_n].iter().map(|&v| f64::from(v)).sum::<f64>() / core_n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_mean_is_the_selection_summed_in_its_order() {
        let mut state = 0xDEAD_BEEF_CAFE_F00Du64;
        let mut next = |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        let (mut exact, mut fallback) = (0, 0);
        let mut keys = Vec::new();
        for case in 0..3000 {
            let n = 1 + next(60) as usize;
            let values: Vec<f32> = (0..n)
                .map(|_| match next(10) {
                    0 => 0.0,
                    1 if case % 4 == 0 => 1e-9 * next(1000) as f32,
                    // 2^-53: two of them change a sum of 1.0, one does not (ties to even),
                    // so their order matters; 2^-60 below them.
                    2 if case % 3 == 0 => f32::from_bits((127 - 53) << 23),
                    3 if case % 3 == 0 => f32::from_bits((127 - 60) << 23),
                    4 => 1.0,
                    _ => next(3000) as f32 / 997.0,
                })
                .collect();
            let core_px = 1 + next(30) as usize;
            let core_n = core_px.clamp(1, n);
            let mut defined = values.clone();
            defined.select_nth_unstable_by(core_n - 1, |a, b| b.total_cmp(a));
            let want = defined[..core_n].iter().map(|&v| f64::from(v)).sum::<f64>() / core_n as f64;
            let max = values.iter().fold(0.0f32, |m, &v| m.max(v));
            let got = core_mean(&mut values.clone(), core_px, max, &mut keys);
            assert_eq!(
                got.to_bits(),
                want.to_bits(),
                "case {case}: {values:?}, {core_px}"
            );
            let kth = defined[core_n - 1];
            if kth > 0.0 && f64::from(max) * core_n as f64 <= f64::from(kth) * (1u64 << 29) as f64 {
                exact += 1;
            } else {
                fallback += 1;
            }
        }
        assert!(exact > 1000 && fallback > 100, "{exact} {fallback}");
        // Order-dependent sums: 1 + 2^-53 rounds back to 1, 2^-53 + 2^-53 + 1 does not;
        // every order of the four values.
        let (t53, t60) = (
            f32::from_bits((127 - 53) << 23),
            f32::from_bits((127 - 60) << 23),
        );
        let base = [t53, t53, 1.0, t60];
        let mut sums = std::collections::BTreeSet::new();
        for perm in 0..24usize {
            let mut rest = base.to_vec();
            let mut values = Vec::new();
            let mut code = perm;
            for k in (1..=4).rev() {
                values.push(rest.remove(code % k));
                code /= k;
            }
            let mut defined = values.clone();
            defined.select_nth_unstable_by(3, |a, b| b.total_cmp(a));
            let want = defined.iter().map(|&v| f64::from(v)).sum::<f64>() / 4.0;
            sums.insert(want.to_bits());
            let got = core_mean(&mut values.clone(), 4, 1.0, &mut keys);
            assert_eq!(got.to_bits(), want.to_bits(), "{values:?}");
        }
        assert_eq!(sums.len(), 2, "both sums occur");
    }
}
