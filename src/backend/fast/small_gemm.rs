//! Register-tiled AVX-512 kernels for small products, read straight from the operands' memory.
//!
//! A general GEMM (the `gemm` crate) first copies ("packs") both operands into cache-sized
//! panels. For a large product that copy is paid back many times over; for the training sizes
//! (a (10, 100) batch times a (100, 100) weight) the packing costs about as much as the
//! arithmetic. These kernels skip it. Two shapes of kernel cover the three products of a linear
//! layer's forward and backward pass:
//!
//! | kernel | needs (stride 1 between…) | covers | inner step |
//! |---|---|---|---|
//! | [`axpy_tile`] | neighbouring columns of `b` (`b` row-major) | `x @ W`, `xᵀ @ g` | broadcast one `a`, multiply a row of `b` |
//! | [`dot_tile`] | neighbouring `k` of `a` and of `b` (`a` row-major, `b` transposed) | `g @ Wᵀ` | 8-wide dot products along `k` |
//!
//! Both keep a tile of the output in registers for the whole `k` loop and write it once, so the
//! output needs no zeroing. A tile starts from zero or from a bias row ([`Start`]): that is how
//! a linear layer's `x @ W + b` becomes one kernel (which sums as `b + Σ`, where the reference
//! computes `Σ + b`: equal to rounding). Anything else (other strides, or products
//! big enough for packing to pay) goes to `gemm`.
//!
//! The measurements against `gemm` are in `docs/performance.md`.

use std::arch::x86_64::*;

/// Rows of the output per [`axpy_tile`]: 6 rows × 4 vectors = 24 accumulators of the 32
/// AVX-512 registers, and one broadcast per 4 multiply-adds.
const AXPY_ROWS: usize = 6;
/// Vectors of 8 columns per [`axpy_tile`].
const AXPY_VECTORS: usize = 4;
/// Rows and columns of the output per [`dot_tile`] (16 accumulators).
const DOT_TILE: usize = 4;

/// An operand: base pointer and element strides along its two dimensions.
#[derive(Clone, Copy)]
pub(super) struct Operand {
    ptr: *const f64,
    /// Step between rows.
    rows: isize,
    /// Step between columns.
    cols: isize,
}

impl Operand {
    /// The matrix at the start of `data` with the given row and column strides.
    pub(super) fn new(data: &[f64], rows: usize, cols: usize) -> Operand {
        Operand {
            ptr: data.as_ptr(),
            rows: rows as isize,
            cols: cols as isize,
        }
    }
}

/// What a tile of the output starts from before the products are added to it.
#[derive(Clone, Copy)]
pub(super) enum Start {
    /// Zero (a plain product).
    Zero,
    /// A bias row: column `j` starts from `ptr[j · step]`, `step` 0 or 1.
    Row { ptr: *const f64, step: usize },
}

impl Start {
    /// The same start for the output's columns from `j` on.
    fn at_column(self, j: usize) -> Start {
        match self {
            Start::Row { ptr, step } => Start::Row {
                ptr: ptr.wrapping_add(j * step),
                step,
            },
            zero => zero,
        }
    }
}

/// True when one of the kernels reads `a @ b` (`n` columns) with these strides: `b`
/// unit-stride along its columns, or `a` along its rows and `b` along its columns, or — for
/// one column — `a` along its columns (the product is then computed as `(bᵀ @ aᵀ)ᵀ`).
pub(super) fn suits(a: Operand, b: Operand, n: usize) -> bool {
    b.cols == 1 || (a.cols == 1 && b.rows == 1) || (n == 1 && a.rows == 1)
}

/// True when this CPU runs the kernels of this module.
pub(super) fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
}

/// One product `c = start + a @ b` for `a` (m, k) and `b` (k, n).
#[derive(Clone, Copy)]
pub(super) struct Product {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a: Operand,
    pub b: Operand,
    pub start: Start,
    /// Clamp the output at 0 (`operators::relu`) as each tile is stored.
    pub relu: bool,
}

impl Product {
    /// The same product with `a` read from `a_by` and `b` from `b_by` elements further on.
    fn moved(self, a_by: isize, b_by: isize) -> Product {
        Product {
            a: Operand {
                ptr: self.a.ptr.wrapping_offset(a_by),
                ..self.a
            },
            b: Operand {
                ptr: self.b.ptr.wrapping_offset(b_by),
                ..self.b
            },
            ..self
        }
    }

    /// The part of the product from output cell (i, j) on: `a` from row i, `b` and the bias
    /// from column j.
    fn at_cell(self, i: usize, j: usize) -> Product {
        Product {
            start: self.start.at_column(j),
            ..self.moved(i as isize * self.a.rows, j as isize * self.b.cols)
        }
    }

    /// The block of rows `i..i + m` and columns `j..j + n` of the product (rows of `a`,
    /// columns of `b` and the bias): how a big product is shared between threads. The caller
    /// offsets the output to cell (i, j) too.
    pub(super) fn block(self, i: usize, j: usize, m: usize, n: usize) -> Product {
        debug_assert!(i + m <= self.m && j + n <= self.n);
        Product {
            m,
            n,
            ..self.at_cell(i, j)
        }
    }

    /// The part of the product over `k0..k0 + k` of the inner dimension (columns of `a`, rows
    /// of `b`), starting from `start`: a partial sum, for splitting a product along `k`, never
    /// clamped (the caller clamps the sum of the parts).
    pub(super) fn inner(self, k0: usize, k: usize, start: Start) -> Product {
        debug_assert!(k0 + k <= self.k);
        Product {
            k,
            start,
            relu: false,
            ..self.moved(k0 as isize * self.a.cols, k0 as isize * self.b.rows)
        }
    }

    /// Whether `k` is the outer (larger-stride) dimension of the bigger operand's memory.
    pub(super) fn inner_is_outer(&self) -> bool {
        if self.k * self.n >= self.m * self.k {
            self.b.rows > self.b.cols
        } else {
            self.a.cols > self.a.rows
        }
    }
}

/// Computes `p` into `c`, row-major (m, n) with rows `ldc` apart.
///
/// # Safety
/// The CPU must support AVX-512F ([`available`]) and the strides must [`suit`](suits) a
/// kernel; every `a` position `i·rows + j·cols` for i < m, j < k must be readable (likewise
/// `b` for i < k, j < n), a bias row readable for n values, and `c` writable for m rows of n
/// values `ldc` apart — `ldc` 1 for a one-column product that suits only transposed (a whole
/// product's rows are its n columns apart; blocks of wider products suit untransposed).
pub(super) unsafe fn gemm(p: Product, c: *mut f64, ldc: usize) {
    debug_assert!(
        suits(p.a, p.b, p.n),
        "small_gemm::gemm called with unsuited strides"
    );
    // A one-column `b` is unit-stride both ways. Axpy would use one lane of each vector; dot
    // products fill their vectors along k (when `a` is row-major too).
    let dot_fits = p.a.cols == 1 && p.b.rows == 1;
    // SAFETY: forwarded from the caller.
    unsafe {
        if p.b.cols == 1 && !(dot_fits && p.n == 1) {
            axpy(p, c, ldc);
        } else if dot_fits {
            dot(p, c, ldc);
        } else {
            // One column, `a` unit-stride along its columns (the `(k, m)ᵀ` of a weight's
            // gradient `xᵀ @ g` for a one-unit layer): the m cells are the one row of
            // `bᵀ @ aᵀ`, whose `aᵀ` is unit-stride along its columns: axpy, every cell
            // starting from the bias's one value.
            debug_assert!(p.n == 1 && p.a.rows == 1 && ldc == 1);
            let transposed = Product {
                m: 1,
                n: p.m,
                k: p.k,
                a: Operand {
                    ptr: p.b.ptr,
                    rows: 0,
                    cols: p.b.rows,
                },
                b: Operand {
                    ptr: p.a.ptr,
                    rows: p.a.cols,
                    cols: p.a.rows,
                },
                start: match p.start {
                    Start::Row { ptr, .. } => Start::Row { ptr, step: 0 },
                    zero => zero,
                },
                relu: p.relu,
            };
            axpy(transposed, c, ldc);
        }
    }
}

/// Lane mask for the first `w` of 8 lanes.
fn lanes(w: usize) -> __mmask8 {
    (((1u16) << w.min(8)) - 1) as __mmask8
}

/// [`gemm`](fn@gemm) by [`axpy_tile`]s, 32 columns by up to 6 rows at a time.
///
/// # Safety
/// [`gemm`](fn@gemm)'s contract, with `b` unit-stride along its columns (`b.cols == 1`).
#[target_feature(enable = "avx512f")]
unsafe fn axpy(p: Product, c: *mut f64, ldc: usize) {
    for j in (0..p.n).step_by(8 * AXPY_VECTORS) {
        let w = (p.n - j).min(8 * AXPY_VECTORS);
        let masks: [__mmask8; AXPY_VECTORS] =
            std::array::from_fn(|v| lanes(w.saturating_sub(8 * v)));
        for i in (0..p.m).step_by(AXPY_ROWS) {
            let h = (p.m - i).min(AXPY_ROWS);
            let tile = p.at_cell(i, j);
            // SAFETY: rows i..i+h and columns j..j+w are inside the operands and output.
            unsafe {
                let c = c.add(i * ldc + j);
                // One monomorphised tile per height and width (in vectors).
                macro_rules! tiles {
                    ($($h:literal)*) => {
                        match h {
                            $($h => match w.div_ceil(8) {
                                1 => axpy_tile::<$h, 1>(tile, c, ldc, masks),
                                2 => axpy_tile::<$h, 2>(tile, c, ldc, masks),
                                3 => axpy_tile::<$h, 3>(tile, c, ldc, masks),
                                _ => axpy_tile::<$h, 4>(tile, c, ldc, masks),
                            },)*
                            _ => unreachable!("tile height is 1..=AXPY_ROWS"),
                        }
                    };
                }
                tiles!(1 2 3 4 5 6);
            }
        }
    }
}

/// An `H`-row, `V`×8-column tile of `c`: for each `p < k`, broadcast `a[i][p]` and multiply it
/// into row `p` of `b`. Lanes past the output's edge are masked off.
///
/// # Safety
/// AVX-512F; `p` is the product from this tile's top-left cell on (`Product::at_cell`), with
/// at least `H` rows of `a` and of `c` and, along `b`'s and the bias row's columns, at least
/// the lanes `masks` enable readable (`b.cols == 1`); `c` writable there, rows `ldc` apart.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn axpy_tile<const H: usize, const V: usize>(
    p: Product,
    c: *mut f64,
    ldc: usize,
    masks: [__mmask8; AXPY_VECTORS],
) {
    let Product {
        k,
        a,
        b,
        start,
        relu,
        ..
    } = p;
    let mut first = [_mm512_setzero_pd(); V];
    if let Start::Row { ptr, step } = start {
        for (v, x) in first.iter_mut().enumerate() {
            // SAFETY: the bias row holds the tile's columns (masked to the output's width).
            *x = unsafe {
                match step {
                    0 => _mm512_set1_pd(*ptr),
                    _ => _mm512_maskz_loadu_pd(masks[v], ptr.add(8 * v)),
                }
            };
        }
    }
    let mut acc = [first; H];
    for p in 0..k {
        // SAFETY: p < k and the lanes read are masked to the output's width.
        unsafe {
            let bp = b.ptr.offset(p as isize * b.rows);
            let mut bv = [_mm512_setzero_pd(); V];
            for (v, x) in bv.iter_mut().enumerate() {
                *x = _mm512_maskz_loadu_pd(masks[v], bp.add(8 * v));
            }
            let ap = a.ptr.offset(p as isize * a.cols);
            for (r, row) in acc.iter_mut().enumerate() {
                let x = _mm512_set1_pd(*ap.offset(r as isize * a.rows));
                for v in 0..V {
                    row[v] = _mm512_fmadd_pd(x, bv[v], row[v]);
                }
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        for (v, &x) in row.iter().enumerate() {
            let x = if relu { clamp(x) } else { x };
            // SAFETY: row r < H of the tile, lanes masked to the output's width.
            unsafe { _mm512_mask_storeu_pd(c.add(r * ldc + 8 * v), masks[v], x) };
        }
    }
}

/// `operators::relu` on 8 lanes: `max(x, 0)` returns its second operand, 0, whenever
/// `x > 0` fails (NaN and −0 included).
#[target_feature(enable = "avx512f")]
#[inline]
fn clamp(x: __m512d) -> __m512d {
    _mm512_max_pd(x, _mm512_setzero_pd())
}

/// [`gemm`](fn@gemm) by [`dot_tile`]s of up to 4 × 4 cells.
///
/// # Safety
/// [`gemm`](fn@gemm)'s contract, with `a` unit-stride along its columns and `b` along its rows
/// (`a.cols == 1 && b.rows == 1`).
#[target_feature(enable = "avx512f")]
unsafe fn dot(p: Product, c: *mut f64, ldc: usize) {
    let tail = lanes(p.k % 8);
    for j in (0..p.n).step_by(DOT_TILE) {
        let w = (p.n - j).min(DOT_TILE);
        for i in (0..p.m).step_by(DOT_TILE) {
            let h = (p.m - i).min(DOT_TILE);
            let tile = p.at_cell(i, j);
            // SAFETY: rows i..i+h of a, columns j..j+w of b, inside the operands and output.
            unsafe {
                let c = c.add(i * ldc + j);
                // One monomorphised tile per height and width.
                macro_rules! tiles {
                    ($($h:literal)*) => {
                        match h {
                            $($h => match w {
                                1 => dot_tile::<$h, 1>(tile, c, ldc, tail),
                                2 => dot_tile::<$h, 2>(tile, c, ldc, tail),
                                3 => dot_tile::<$h, 3>(tile, c, ldc, tail),
                                _ => dot_tile::<$h, 4>(tile, c, ldc, tail),
                            },)*
                            _ => unreachable!("tile height is 1..=DOT_TILE"),
                        }
                    };
                }
                tiles!(1 2 3 4);
            }
        }
    }
}

/// An `H`×`W` tile of `c` as dot products of rows of `a` with columns of `b`, both read 8
/// values at a time along `k` (the last, partial group masked), summed across lanes at the end.
///
/// # Safety
/// AVX-512F; `p` is the product from this tile's top-left cell on, with `H` rows of `a` and `W`
/// columns of `b` readable for `k` values each at unit stride, `W` bias values when the start
/// is a row with step 1, and `c` writable for `H` rows of `W` cells, `ldc` apart; `tail`
/// enables exactly the lanes of the last, partial group of 8 along `k`.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn dot_tile<const H: usize, const W: usize>(
    p: Product,
    c: *mut f64,
    ldc: usize,
    tail: __mmask8,
) {
    let Product {
        k,
        a,
        b,
        start,
        relu,
        ..
    } = p;
    let mut acc = [[_mm512_setzero_pd(); W]; H];
    for p in (0..k).step_by(8) {
        let mask = if p + 8 <= k { 0xff } else { tail };
        // SAFETY: lanes p..p+8 are below k, or masked to k.
        unsafe {
            let mut bv = [_mm512_setzero_pd(); W];
            for (j, x) in bv.iter_mut().enumerate() {
                *x = _mm512_maskz_loadu_pd(mask, b.ptr.offset(j as isize * b.cols).add(p));
            }
            for (r, row) in acc.iter_mut().enumerate() {
                let x = _mm512_maskz_loadu_pd(mask, a.ptr.offset(r as isize * a.rows).add(p));
                for j in 0..W {
                    row[j] = _mm512_fmadd_pd(x, bv[j], row[j]);
                }
            }
        }
    }
    if W == 4 {
        // SAFETY: H rows of 4 cells inside the output, columns inside the bias row.
        unsafe { store_sums_rows(acc.as_flattened(), (start, relu), c, ldc) };
        return;
    }
    for (r, row) in acc.iter().enumerate() {
        for (j, x) in row.iter().enumerate() {
            // SAFETY: cell (r, j) of the tile is inside the output, column j in the bias row.
            unsafe {
                let first = match start {
                    Start::Zero => 0.0,
                    Start::Row { ptr, step } => *ptr.add(j * step),
                };
                let sum = first + _mm512_reduce_add_pd(*x);
                *c.add(r * ldc + j) = if relu {
                    crate::operators::relu(sum)
                } else {
                    sum
                };
            }
        }
    }
}

/// Writes the lane sums of a tile's accumulators, rows of 4 (`v[4r + j]` for cell (r, j)),
/// to its rows of `c`, plus the bias row, clamped at 0 when `relu`. Each accumulator's two
/// 256-bit halves are added first; then per row a tree of pairwise shuffles and adds turns
/// its 4 half-vectors into one vector of its 4 sums — all on 256-bit registers, which this
/// CPU's 256-bit units shuffle and add in one pass where 512-bit ones take two (and about half
/// the work of 4 separate horizontal sums).
///
/// # Safety
/// AVX-512F; `v` holds 4 accumulators per row; `c` is writable for `v.len() / 4` rows of 4
/// cells, `ldc` apart; a start row with step 1 holds 4 readable values.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn store_sums_rows(v: &[__m512d], (start, relu): (Start, bool), c: *mut f64, ldc: usize) {
    let fold =
        |x: __m512d| _mm256_add_pd(_mm512_castpd512_pd256(x), _mm512_extractf64x4_pd::<1>(x));
    // (x₀+x₁, y₀+y₁, x₂+x₃, y₂+y₃) of two 4-lane vectors.
    let pairs =
        |x: __m256d, y: __m256d| _mm256_add_pd(_mm256_unpacklo_pd(x, y), _mm256_unpackhi_pd(x, y));
    // SAFETY: the caller's tile: rows of 4 cells, `ldc` apart; 4 bias values when step is 1.
    unsafe {
        let bias = match start {
            Start::Zero => _mm256_setzero_pd(),
            Start::Row { ptr, step: 0 } => _mm256_set1_pd(*ptr),
            Start::Row { ptr, .. } => _mm256_loadu_pd(ptr),
        };
        for (r, row) in v.chunks_exact(4).enumerate() {
            let (p01, p23) = (
                pairs(fold(row[0]), fold(row[1])),
                pairs(fold(row[2]), fold(row[3])),
            );
            // Lanes 0–1 of each pair plus lanes 2–3: the row's 4 sums in cell order.
            let sums = _mm256_add_pd(
                _mm256_permute2f128_pd::<0x20>(p01, p23),
                _mm256_permute2f128_pd::<0x31>(p01, p23),
            );
            let sums = _mm256_add_pd(bias, sums);
            // As `clamp`, on 4 lanes.
            let sums = if relu {
                _mm256_max_pd(sums, _mm256_setzero_pd())
            } else {
                sums
            };
            _mm256_storeu_pd(c.add(r * ldc), sums);
        }
    }
}
