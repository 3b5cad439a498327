//! Eigen-decomposition of a symmetric 3x3 matrix by the cyclic Jacobi method.
//!
//! Written by hand rather than pulling in a linear-algebra crate: Macenko estimation needs
//! exactly one 3x3 symmetric decomposition per slide, and Jacobi rotations are simple,
//! unconditionally convergent for symmetric matrices and accurate to machine precision
//! (Golub & Van Loan, *Matrix Computations*, 4th ed., §8.5). A dependency such as
//! `nalgebra` would add far more code than these sixty lines.

/// Eigenvalues and unit eigenvectors of a symmetric 3x3 matrix.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SymmetricEigen3 {
    /// Eigenvalues in decreasing order.
    pub values: [f64; 3],
    /// `vectors[k]` is the unit eigenvector of `values[k]`.
    pub vectors: [[f64; 3]; 3],
}

/// Decomposes the symmetric matrix `m` (only its upper triangle is read).
///
/// Returns `None` when `m` holds a non-finite number. Sweeps until the off-diagonal mass is
/// negligible next to the diagonal (relative 1e-30 in squares), at most 50 sweeps; a 3x3
/// matrix converges quadratically and needs fewer than ten in practice.
pub(crate) fn symmetric_eigen3(m: [[f64; 3]; 3]) -> Option<SymmetricEigen3> {
    if m.iter().flatten().any(|v| !v.is_finite()) {
        return None;
    }
    // Work on a symmetrised copy so a slightly asymmetric input cannot mislead the sweep.
    let mut a = [[0.0f64; 3]; 3];
    for (i, row) in a.iter_mut().enumerate() {
        for (j, cell) in row.iter_mut().enumerate() {
            *cell = if i <= j { m[i][j] } else { m[j][i] };
        }
    }
    // Columns of `v` accumulate the rotations: A = V D Vᵀ.
    let mut v = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    for _sweep in 0..50 {
        let off = a[0][1] * a[0][1] + a[0][2] * a[0][2] + a[1][2] * a[1][2];
        let diag = a[0][0] * a[0][0] + a[1][1] * a[1][1] + a[2][2] * a[2][2];
        if off <= 1e-30 * diag || off == 0.0 {
            break;
        }
        for (p, q) in [(0usize, 1usize), (0, 2), (1, 2)] {
            if a[p][q] == 0.0 {
                continue;
            }
            // Rotation angle that zeroes a[p][q] (Golub & Van Loan, Algorithm 8.5.1).
            let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
            let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
            let c = 1.0 / (t * t + 1.0).sqrt();
            let s = t * c;
            // A <- Jᵀ A J, applied to rows and columns p and q.
            for row in a.iter_mut() {
                let akp = row[p];
                let akq = row[q];
                row[p] = c * akp - s * akq;
                row[q] = s * akp + c * akq;
            }
            let (rp, rq) = (a[p], a[q]);
            a[p] = [0, 1, 2].map(|k| c * rp[k] - s * rq[k]);
            a[q] = [0, 1, 2].map(|k| s * rp[k] + c * rq[k]);
            for row in v.iter_mut() {
                let vp = row[p];
                let vq = row[q];
                row[p] = c * vp - s * vq;
                row[q] = s * vp + c * vq;
            }
        }
    }
    let mut order = [0usize, 1, 2];
    order.sort_by(|&i, &j| a[j][j].total_cmp(&a[i][i]));
    let values = order.map(|k| a[k][k]);
    let vectors = order.map(|k| [v[0][k], v[1][k], v[2][k]]);
    if values
        .iter()
        .chain(vectors.iter().flatten())
        .any(|x| !x.is_finite())
    {
        return None;
    }
    Some(SymmetricEigen3 { values, vectors })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mat_vec(m: [[f64; 3]; 3], x: [f64; 3]) -> [f64; 3] {
        [0, 1, 2].map(|i| m[i][0] * x[0] + m[i][1] * x[1] + m[i][2] * x[2])
    }

    fn check(m: [[f64; 3]; 3]) {
        let e = symmetric_eigen3(m).unwrap();
        assert!(e.values[0] >= e.values[1] && e.values[1] >= e.values[2]);
        for k in 0..3 {
            let av = mat_vec(m, e.vectors[k]);
            for i in 0..3 {
                assert!(
                    (av[i] - e.values[k] * e.vectors[k][i]).abs() < 1e-12,
                    "A v != λ v for k={k}: {av:?} vs {:?}",
                    e.values[k]
                );
            }
            for j in 0..3 {
                let dot: f64 = (0..3).map(|i| e.vectors[k][i] * e.vectors[j][i]).sum();
                let want = if j == k { 1.0 } else { 0.0 };
                assert!((dot - want).abs() < 1e-12, "not orthonormal");
            }
        }
    }

    #[test]
    fn diagonal_matrix_is_sorted() {
        let e = symmetric_eigen3([[1.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 2.0]]).unwrap();
        assert_eq!(e.values, [3.0, 2.0, 1.0]);
        assert_eq!(e.vectors[0].map(f64::abs), [0.0, 1.0, 0.0]);
    }

    #[test]
    fn known_spectrum() {
        // [[2,1,0],[1,2,0],[0,0,5]] has eigenvalues 5, 3, 1.
        let e = symmetric_eigen3([[2.0, 1.0, 0.0], [1.0, 2.0, 0.0], [0.0, 0.0, 5.0]]).unwrap();
        for (got, want) in e.values.iter().zip([5.0, 3.0, 1.0]) {
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        }
        check([[2.0, 1.0, 0.0], [1.0, 2.0, 0.0], [0.0, 0.0, 5.0]]);
    }

    #[test]
    fn dense_and_degenerate_matrices() {
        check([[4.0, -2.0, 1.0], [-2.0, 3.0, 0.5], [1.0, 0.5, 7.0]]);
        check([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]); // rank 1
        check([[0.0; 3]; 3]);
        check([
            [1e-9, 2e-10, 0.0],
            [2e-10, 3e-9, 1e-10],
            [0.0, 1e-10, 5e-10],
        ]);
        // An OD second-moment matrix of H and E stains.
        let h = [0.65, 0.70, 0.29];
        let e = [0.07, 0.99, 0.11];
        let mut m = [[0.0; 3]; 3];
        for i in 0..3 {
            for j in 0..3 {
                m[i][j] = 0.8 * h[i] * h[j] + 0.5 * e[i] * e[j];
            }
        }
        check(m);
    }

    #[test]
    fn non_finite_is_none() {
        assert!(symmetric_eigen3([[f64::NAN, 0.0, 0.0], [0.0; 3], [0.0; 3]]).is_none());
    }
}
