//! Element-wise ops on transposed operands, 8 × 8 values at a time.
//!
//! When every strided operand of a map or zip is read transposed (a tile's 8 output rows start
//! at consecutive positions of it), a block of 8 output rows × 8 columns is 8 source lines of 8
//! neighbouring values. [`fill_tile`] reads the block as those 8 lines, applies the op to them
//! as they lie (the op is element-wise, so the order does not matter and the loop vectorises),
//! transposes the 8 × 8 results in registers and writes them as 8 pieces of output rows: whole
//! cache lines in and out, and the shuffles of one transpose instead of one per operand.
//!
//! The loop is compiled twice: with AVX-512 (the transpose is 24 register shuffles), chosen at
//! run time when the CPU has it, and portable (the transpose is a plain index swap). The op's
//! closure is inlined into whichever runs, so it gets the wide registers too. The measurements
//! are in `docs/performance.md`.

use std::mem::MaybeUninit;

/// Values per block side: 8 f64 fill a cache line.
pub(super) const SIDE: usize = 8;

/// Columns ahead whose lines are asked for: a transposed operand's next lines are a whole
/// row apart, too far for the hardware prefetcher.
const AHEAD: usize = 32;

/// 8 lines of 8 values.
type Block = [[f64; SIDE]; SIDE];

/// Writes 8 × 8 values, given as 8 lines, transposed into 8 rows of a tile.
trait Transpose: Copy {
    /// `tile[k · n + jj] = block[jj][k]` for the 8 × 8 cells; `tile` holds 8 rows of `n`.
    fn write(self, block: &Block, tile: &mut [MaybeUninit<f64>], n: usize);
}

/// The index swap, for any CPU.
#[derive(Clone, Copy)]
struct Portable;

impl Transpose for Portable {
    #[inline(always)]
    fn write(self, block: &Block, tile: &mut [MaybeUninit<f64>], n: usize) {
        for k in 0..SIDE {
            for (jj, o) in tile[k * n..][..SIDE].iter_mut().enumerate() {
                o.write(block[jj][k]);
            }
        }
    }
}

/// Register shuffles. Only made by [`fill_tile`] after it detected AVX-512F, so a value of this
/// type means the CPU has it.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct Avx512(());

#[cfg(target_arch = "x86_64")]
impl Transpose for Avx512 {
    #[inline(always)]
    fn write(self, block: &Block, tile: &mut [MaybeUninit<f64>], n: usize) {
        use std::arch::x86_64::*;
        // SAFETY: an `Avx512` exists only where the CPU has AVX-512F (see the type); each load
        // reads one line of `block`.
        let rows = unsafe {
            let mut lines = [_mm512_setzero_pd(); SIDE];
            for (v, line) in lines.iter_mut().zip(block) {
                *v = _mm512_loadu_pd(line.as_ptr());
            }
            transpose_avx512(lines)
        };
        for (k, row) in rows.into_iter().enumerate() {
            let cells = &mut tile[k * n..][..SIDE];
            // SAFETY: AVX-512F as above; the store writes the 8 cells of `cells`.
            unsafe { _mm512_storeu_pd(cells.as_mut_ptr().cast(), row) };
        }
    }
}

/// 8 × 8 transposition in three rounds of shuffles: pairs of lines, pairs of 128-bit lanes,
/// halves.
///
/// # Safety
/// The CPU must have AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
pub(super) unsafe fn transpose_avx512(
    r: [std::arch::x86_64::__m512d; SIDE],
) -> [std::arch::x86_64::__m512d; SIDE] {
    use std::arch::x86_64::*;
    // (Written out: `array::from_fn` here was not inlined, leaving a call per vector.)
    let t = [
        _mm512_unpacklo_pd(r[0], r[1]),
        _mm512_unpackhi_pd(r[0], r[1]),
        _mm512_unpacklo_pd(r[2], r[3]),
        _mm512_unpackhi_pd(r[2], r[3]),
        _mm512_unpacklo_pd(r[4], r[5]),
        _mm512_unpackhi_pd(r[4], r[5]),
        _mm512_unpacklo_pd(r[6], r[7]),
        _mm512_unpackhi_pd(r[6], r[7]),
    ];
    let low = _mm512_set_epi64(13, 12, 5, 4, 9, 8, 1, 0);
    let high = _mm512_set_epi64(15, 14, 7, 6, 11, 10, 3, 2);
    let u = [
        _mm512_permutex2var_pd(t[0], low, t[2]),
        _mm512_permutex2var_pd(t[1], low, t[3]),
        _mm512_permutex2var_pd(t[0], high, t[2]),
        _mm512_permutex2var_pd(t[1], high, t[3]),
        _mm512_permutex2var_pd(t[4], low, t[6]),
        _mm512_permutex2var_pd(t[5], low, t[7]),
        _mm512_permutex2var_pd(t[4], high, t[6]),
        _mm512_permutex2var_pd(t[5], high, t[7]),
    ];
    let first = _mm512_set_epi64(11, 10, 9, 8, 3, 2, 1, 0);
    let second = _mm512_set_epi64(15, 14, 13, 12, 7, 6, 5, 4);
    [
        _mm512_permutex2var_pd(u[0], first, u[4]),
        _mm512_permutex2var_pd(u[1], first, u[5]),
        _mm512_permutex2var_pd(u[2], first, u[6]),
        _mm512_permutex2var_pd(u[3], first, u[7]),
        _mm512_permutex2var_pd(u[0], second, u[4]),
        _mm512_permutex2var_pd(u[1], second, u[5]),
        _mm512_permutex2var_pd(u[2], second, u[6]),
        _mm512_permutex2var_pd(u[3], second, u[7]),
    ]
}

/// Fills the first `n / 8 · 8` columns of `tile` (8 output rows of `n` cells) block by block:
/// `line(j)` gives the op's values for output column `j` and the tile's 8 rows (one source
/// line, computed as it lies), and `ahead(j)` asks the cache for column `j`'s lines (called
/// 32 columns early; it must accept any `j`). Returns the first column left unfilled.
#[inline(always)]
pub(super) fn fill_tile(
    tile: &mut [MaybeUninit<f64>],
    n: usize,
    line: impl Fn(usize) -> [f64; SIDE],
    ahead: impl Fn(usize),
) -> usize {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: AVX-512F detected just above.
        return unsafe { fill_tile_avx512(tile, n, line, ahead) };
    }
    blocks(Portable, tile, n, line, ahead)
}

/// [`blocks`] compiled for AVX-512, with the register transpose.
///
/// # Safety
/// The CPU must have AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn fill_tile_avx512(
    tile: &mut [MaybeUninit<f64>],
    n: usize,
    line: impl Fn(usize) -> [f64; SIDE],
    ahead: impl Fn(usize),
) -> usize {
    blocks(Avx512(()), tile, n, line, ahead)
}

/// [`fill_tile`]'s loop, for one transposition.
#[inline(always)]
fn blocks(
    transpose: impl Transpose,
    tile: &mut [MaybeUninit<f64>],
    n: usize,
    line: impl Fn(usize) -> [f64; SIDE],
    ahead: impl Fn(usize),
) -> usize {
    debug_assert_eq!(tile.len(), SIDE * n);
    let mut j = 0;
    while j + SIDE <= n {
        // A loop, not `array::from_fn` (whose closures were left out of line: a call per
        // line, compiled without AVX-512); the callers' `line` closures use plain loops for the
        // same reason. (Unrolled by hand, the loop measured slower.)
        let mut block: Block = [[0.0; SIDE]; SIDE];
        for (jj, values) in block.iter_mut().enumerate() {
            ahead(j + jj + AHEAD);
            *values = line(j + jj);
        }
        transpose.write(&block, &mut tile[j..], n);
        j += SIDE;
    }
    j
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both transpositions against the definition, on a block of distinct values.
    #[test]
    fn transpositions_swap_lines_and_values() {
        let block: Block = std::array::from_fn(|i| std::array::from_fn(|j| (10 * i + j) as f64));
        let n = 11;
        let check = |write: &dyn Fn(&mut [MaybeUninit<f64>])| {
            let mut tile = vec![MaybeUninit::new(-1.0); SIDE * n];
            write(&mut tile[2..]);
            for k in 0..SIDE {
                for j in 0..n {
                    // SAFETY: every cell was initialised (to -1 or by the write).
                    let v = unsafe { tile[k * n + j].assume_init() };
                    let want = if (2..2 + SIDE).contains(&j) {
                        (10 * (j - 2) + k) as f64
                    } else {
                        -1.0
                    };
                    assert_eq!(v, want, "row {k} column {j}");
                }
            }
        };
        check(&|tile| Portable.write(&block, tile, n));
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            check(&|tile| Avx512(()).write(&block, tile, n));
        }
    }

    /// A tile of 8 rows × 19 columns: 16 columns filled from the lines, 16 returned.
    #[test]
    fn fill_tile_writes_whole_blocks_in_row_order() {
        let n = 19;
        let mut tile = vec![MaybeUninit::new(-1.0); SIDE * n];
        let filled = fill_tile(
            &mut tile,
            n,
            |j| std::array::from_fn(|k| (100 * j + k) as f64),
            |_| {},
        );
        assert_eq!(filled, 16);
        for k in 0..SIDE {
            for j in 0..n {
                // SAFETY: every cell was initialised (to -1 or by the tile).
                let v = unsafe { tile[k * n + j].assume_init() };
                let want = if j < 16 { (100 * j + k) as f64 } else { -1.0 };
                assert_eq!(v, want, "row {k} column {j}");
            }
        }
    }
}
