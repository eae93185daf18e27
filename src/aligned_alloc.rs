//! A global allocator wrapper that starts every big block on a cache line and leaves a gap
//! after every very big one.
//!
//! A tensor's values live in a `Vec<f64>`, which asks the allocator for 8-byte alignment only;
//! big blocks then often start 16 bytes into a cache line (glibc and mimalloc both do). Kernels
//! that read 8 neighbouring values as one line (the fast backend's transposed map and zip read a
//! whole line per output column) then touch two lines for every one they use. Wrapping the
//! program's allocator in [`CacheAligned`] makes every block of 4 KiB or more start on a 64-byte
//! boundary; small blocks (handles, shapes) are passed through unchanged.
//!
//! Blocks of [`GAP_FROM`] bytes or more also get [`GAP`] unused bytes after them. mimalloc packs
//! big blocks end to end, so a weight could start a few KiB after the end of its own gradient;
//! the fast backend splits both between the two cores at the same row, so the end of the
//! gradient is written by one core and the start of the weight updated by the other. With the
//! blocks that close, the SGD update of the course network's (200, 200) weight took 8 µs in
//! training instead of 5 (the calling thread's half only; the helper's was unaffected), and with
//! the gap it takes 5 whatever the placement (`docs/performance.md`). Our reading: the store
//! stream at the end of the gradient runs the core's prefetcher into the next block's first
//! lines, which then belong to the other core.
//!
//! ```no_run
//! #[global_allocator]
//! static GLOBAL: minitorch::aligned_alloc::CacheAligned<std::alloc::System> =
//!     minitorch::aligned_alloc::CacheAligned(std::alloc::System);
//! ```
//!
//! The `minitorch` program and the benches use it around mimalloc; the measurements are in
//! `docs/performance.md`.

use std::alloc::{GlobalAlloc, Layout};

/// Blocks of at least this many bytes are aligned to [`LINE`].
pub const BIG: usize = 4096;

/// A cache line, in bytes.
pub const LINE: usize = 64;

/// Blocks of at least this many bytes are followed by [`GAP`] unused bytes.
pub const GAP_FROM: usize = 64 << 10;

/// The unused bytes after a block of [`GAP_FROM`] bytes or more.
pub const GAP: usize = 16 << 10;

/// Wraps an allocator `A`, aligning blocks of [`BIG`] bytes or more to [`LINE`] bytes and
/// leaving [`GAP`] bytes after blocks of [`GAP_FROM`] bytes or more.
pub struct CacheAligned<A>(pub A);

/// The layout actually asked of the inner allocator for `layout`: the same function in every
/// method, so a block is always freed with the layout it was allocated with.
fn widen(layout: Layout) -> Layout {
    let aligned = if layout.size() >= BIG && layout.align() < LINE {
        layout.align_to(LINE).unwrap_or(layout)
    } else {
        layout
    };
    if layout.size() < GAP_FROM {
        return aligned;
    }
    // A size too close to `isize::MAX` for the gap keeps its own (the allocation then fails
    // or succeeds as it would have).
    Layout::from_size_align(aligned.size().saturating_add(GAP), aligned.align()).unwrap_or(aligned)
}

// SAFETY: every method forwards to `A` with `widen(layout)`, a valid layout of at least the
// same size and an alignment at least the caller's, so the blocks `A` returns satisfy the caller's
// layout; a block is returned to `A` with the `widen` of the layout it was allocated with
// (the caller hands back the layout it allocated with, and `widen` is a pure function of it).
unsafe impl<A: GlobalAlloc> GlobalAlloc for CacheAligned<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: `widen` keeps the size (non-zero by the caller's contract).
        unsafe { self.0.alloc(widen(layout)) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        unsafe { self.0.alloc_zeroed(widen(layout)) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `A` with `widen(layout)` (see the impl's comment).
        unsafe { self.0.dealloc(ptr, widen(layout)) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let (old, new) = (
            widen(layout),
            // The caller guarantees this layout is valid (`realloc`'s contract).
            Layout::from_size_align(new_size, layout.align()).unwrap_or(layout),
        );
        let new = widen(new);
        if old.align() == new.align() {
            // SAFETY: `ptr` came from `A` with `old`; `A` keeps `old`'s alignment, so the
            // block it returns (of `new`'s size, gap included) has the layout `new` that
            // `dealloc` will pass back.
            return unsafe { self.0.realloc(ptr, old, new.size()) };
        }
        // The block crosses `BIG`: a new block with the other alignment, then the values.
        // SAFETY: `new` has a non-zero size; the copy stays inside both blocks (the smaller
        // size), which do not overlap; `ptr` is freed with the layout it came with.
        unsafe {
            let fresh = self.0.alloc(new);
            if !fresh.is_null() {
                std::ptr::copy_nonoverlapping(ptr, fresh, layout.size().min(new_size));
                self.0.dealloc(ptr, old);
            }
            fresh
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::System;

    /// Big blocks start on a line, small ones keep their own alignment, and values survive
    /// growing and shrinking across `BIG` and `GAP_FROM`.
    #[test]
    fn big_blocks_are_line_aligned_and_realloc_keeps_values() {
        let a = CacheAligned(System);
        let small = Layout::from_size_align(BIG / 2, 8).unwrap();
        // SAFETY: non-zero layouts; every block is freed once, with its current layout.
        unsafe {
            let p = a.alloc(small);
            assert!(!p.is_null());
            for i in 0..small.size() {
                *p.add(i) = i as u8;
            }
            let q = a.realloc(p, small, 3 * BIG);
            assert_eq!(q as usize % LINE, 0, "grown past BIG");
            assert!((0..small.size()).all(|i| *q.add(i) == i as u8));
            let big = Layout::from_size_align(3 * BIG, 8).unwrap();
            // Across GAP_FROM (the inner block gains the gap) and back.
            let q = a.realloc(q, big, 2 * GAP_FROM);
            assert_eq!(q as usize % LINE, 0, "grown past GAP_FROM");
            assert!((0..small.size()).all(|i| *q.add(i) == i as u8));
            *q.add(2 * GAP_FROM - 1) = 7;
            let huge = Layout::from_size_align(2 * GAP_FROM, 8).unwrap();
            let q = a.realloc(q, huge, 3 * BIG);
            assert!((0..small.size()).all(|i| *q.add(i) == i as u8));
            let r = a.realloc(q, big, 100);
            assert!((0..100).all(|i| *r.add(i) == i as u8));
            a.dealloc(r, Layout::from_size_align(100, 8).unwrap());
            for size in [BIG, 10 * BIG + 8, GAP_FROM - 8, GAP_FROM, 1 << 20] {
                let layout = Layout::from_size_align(size, 8).unwrap();
                let p = a.alloc_zeroed(layout);
                assert_eq!(p as usize % LINE, 0, "{size} bytes");
                assert_eq!(*p.add(size - 1), 0);
                a.dealloc(p, layout);
            }
        }
    }
}
