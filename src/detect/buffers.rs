//! Per-thread reuse of the large `f32` buffers of [`super::detect_field`] (planes of a
//! few megabytes each). Allocating them afresh for every field costs page faults and the
//! kernel's zeroing of every page, about a fifth of a field's time on a 40x field; a
//! small pool per thread (the pipeline's worker threads process field after field) keeps
//! them mapped. At most [`MAX_POOLED`] buffers are kept per thread.

use std::cell::RefCell;

/// Buffers kept per thread (a field needs about a dozen at once).
pub const MAX_POOLED: usize = 16;

thread_local! {
    static POOL: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
}

/// A vector of `len` zeros, in a buffer from this thread's pool when there is one (the
/// smallest that fits, else the largest, grown).
pub fn zeros(len: usize) -> Vec<f32> {
    let reused = POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        let fit = pool
            .iter()
            .enumerate()
            .filter(|(_, v)| v.capacity() >= len)
            .min_by_key(|(_, v)| v.capacity())
            .or_else(|| pool.iter().enumerate().max_by_key(|(_, v)| v.capacity()))
            .map(|(i, _)| i);
        fit.map(|i| pool.swap_remove(i))
    });
    match reused {
        Some(mut v) => {
            v.clear();
            v.resize(len, 0.0);
            v
        }
        None => vec![0.0; len],
    }
}

/// A vector of `len` floats with unspecified values (left from earlier use; zeros where
/// the buffer grew), for callers that write every element: no clearing pass.
pub fn for_overwrite(len: usize) -> Vec<f32> {
    let reused = POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        let fit = pool
            .iter()
            .enumerate()
            .filter(|(_, v)| v.len() >= len)
            .min_by_key(|(_, v)| v.len())
            .map(|(i, _)| i);
        fit.map(|i| pool.swap_remove(i))
    });
    match reused {
        Some(mut v) => {
            v.truncate(len);
            v
        }
        None => zeros(len),
    }
}

/// Returns a buffer to this thread's pool (dropped when the pool is full).
pub fn recycle(v: Vec<f32>) {
    if v.capacity() == 0 {
        return;
    }
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.len() < MAX_POOLED {
            pool.push(v);
        }
    });
}

/// Fills this thread's pool with buffers of garbage, so that a test shows whether code
/// relying on [`for_overwrite`] really writes every element.
#[cfg(test)]
pub fn pollute() {
    POOL.with(|pool| pool.borrow_mut().clear());
    for k in 0..MAX_POOLED {
        recycle(vec![1e30; 50_000 + k]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_zeroed_and_reused() {
        let mut a = zeros(1000);
        a.iter_mut().for_each(|v| *v = 7.0);
        let ptr = a.as_ptr();
        recycle(a);
        let b = zeros(800);
        assert_eq!(b.as_ptr(), ptr, "the pooled buffer is reused");
        assert!(b.len() == 800 && b.iter().all(|&v| v == 0.0));
        recycle(b);
        let c = zeros(5000);
        assert!(c.len() == 5000 && c.iter().all(|&v| v == 0.0));
        let d = for_overwrite(4000);
        assert_eq!(d.len(), 4000);
        recycle(d);
        recycle(c);
        for _ in 0..2 * MAX_POOLED {
            recycle(vec![1.0; 10]);
        }
        POOL.with(|p| assert_eq!(p.borrow().len(), MAX_POOLED));
    }
}
