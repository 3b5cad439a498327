//! A segment tree over `n` leaves with range add, global max and leftmost argmax.
//!
//! Each node stores the maximum of its subtree including the additions made to whole
//! subtrees at or below it (`max`), and the addition pending on its whole subtree
//! (`add`), so no lazy value ever needs pushing down: `max[node] = add[node] +
//! max(max[left], max[right])`.

/// Range-add / max / leftmost-argmax tree over leaves `0..n`, all starting at 0.
pub(crate) struct MaxAddTree {
    n: usize,
    max: Vec<i64>,
    add: Vec<i64>,
}

impl MaxAddTree {
    /// A tree over `n` leaves (at least one leaf is kept so queries are defined).
    pub(crate) fn new(n: usize) -> Self {
        let n = n.max(1);
        let size = 4 * n;
        MaxAddTree {
            n,
            max: vec![0; size],
            add: vec![0; size],
        }
    }

    /// Adds `v` to leaves `[a, b)`; empty ranges are ignored.
    pub(crate) fn add(&mut self, a: usize, b: usize, v: i64) {
        let b = b.min(self.n);
        if a < b {
            self.add_rec(1, 0, self.n, a, b, v);
        }
    }

    fn add_rec(&mut self, node: usize, lo: usize, hi: usize, a: usize, b: usize, v: i64) {
        if a <= lo && hi <= b {
            self.max[node] += v;
            self.add[node] += v;
            return;
        }
        let mid = lo + (hi - lo) / 2;
        if a < mid {
            self.add_rec(2 * node, lo, mid, a, b, v);
        }
        if b > mid {
            self.add_rec(2 * node + 1, mid, hi, a, b, v);
        }
        self.max[node] = self.add[node] + self.max[2 * node].max(self.max[2 * node + 1]);
    }

    /// The largest leaf value.
    pub(crate) fn max(&self) -> i64 {
        self.max[1]
    }

    /// The smallest leaf index holding the largest value.
    pub(crate) fn leftmost_argmax(&self) -> usize {
        let (mut node, mut lo, mut hi) = (1usize, 0usize, self.n);
        // `target` is the max of the current subtree without the additions above it.
        let mut target = self.max[1];
        while hi - lo > 1 {
            target -= self.add[node];
            let mid = lo + (hi - lo) / 2;
            if self.max[2 * node] == target {
                node *= 2;
                hi = mid;
            } else {
                node = 2 * node + 1;
                lo = mid;
            }
        }
        lo
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random range adds checked against a plain array.
    #[test]
    fn matches_naive_array() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |m: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % m as u64) as usize
        };
        for n in [1usize, 2, 3, 7, 16, 33] {
            let mut tree = MaxAddTree::new(n);
            let mut naive = vec![0i64; n];
            for _ in 0..500 {
                let a = next(n);
                let b = a + 1 + next(n - a);
                let v = next(7) as i64 - 3;
                tree.add(a, b, v);
                for x in &mut naive[a..b] {
                    *x += v;
                }
                let m = *naive.iter().max().unwrap();
                assert_eq!(tree.max(), m);
                let arg = naive.iter().position(|&x| x == m).unwrap();
                assert_eq!(tree.leftmost_argmax(), arg);
            }
        }
    }
}
