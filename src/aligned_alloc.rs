//! A global allocator wrapper that starts every big block on a cache line.
//!
//! A tensor's values live in a `Vec<f64>`, which asks the allocator for 8-byte alignment only;
//! big blocks then often start 16 bytes into a cache line (glibc and mimalloc both do). Kernels
//! that read 8 neighbouring values as one line (the fast backend's transposed map and zip read a
//! whole line per output column) then touch two lines for every one they use. Wrapping the
//! program's allocator in [`CacheAligned`] makes every block of 4 KiB or more start on a 64-byte
//! boundary; small blocks (handles, shapes) are passed through unchanged.
//!
//! ```no_run
//! #[global_allocator]
//! static GLOBAL: minitorch::aligned_alloc::CacheAligned<std::alloc::System> =
//!     minitorch::aligned_alloc::CacheAligned(std::alloc::System);
//! ```
//!
//! The `minitorch` program and the benches use it around mimalloc; the measurement is in
//! `docs/performance.md`.

use std::alloc::{GlobalAlloc, Layout};

/// Blocks of at least this many bytes are aligned to [`LINE`].
pub const BIG: usize = 4096;

/// A cache line, in bytes.
pub const LINE: usize = 64;

/// Wraps an allocator `A`, aligning blocks of [`BIG`] bytes or more to [`LINE`] bytes.
pub struct CacheAligned<A>(pub A);

/// The layout actually asked of the inner allocator for `layout`: the same function in every
/// method, so a block is always freed with the layout it was allocated with.
fn widen(layout: Layout) -> Layout {
    if layout.size() >= BIG && layout.align() < LINE {
        layout.align_to(LINE).unwrap_or(layout)
    } else {
        layout
    }
}

// SAFETY: every method forwards to `A` with `widen(layout)`, a valid layout of the same size
// and an alignment at least the caller's, so the blocks `A` returns satisfy the caller's
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
            // block it returns has the layout `new` that `dealloc` will pass back.
            return unsafe { self.0.realloc(ptr, old, new_size) };
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
    /// growing and shrinking across `BIG`.
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
            let r = a.realloc(q, big, 100);
            assert!((0..100).all(|i| *r.add(i) == i as u8));
            a.dealloc(r, Layout::from_size_align(100, 8).unwrap());
            for size in [BIG, 10 * BIG + 8, 1 << 20] {
                let layout = Layout::from_size_align(size, 8).unwrap();
                let p = a.alloc_zeroed(layout);
                assert_eq!(p as usize % LINE, 0, "{size} bytes");
                assert_eq!(*p.add(size - 1), 0);
                a.dealloc(p, layout);
            }
        }
    }
}
