//! Convolutions with kernels 3 wide by Winograd's minimal filtering along each row: the
//! same-size convolution by F(2, 3) ([`image`]: two neighbouring outputs of a kernel row's
//! three taps from four products instead of six), and the weight's gradient by its transpose
//! F(3, 2) ([`grad_entry`]: a kernel row's three outputs from four products per pair of
//! columns instead of six). Both transform the input's rows the same way ([`transform_rows`]).
//!
//! For inputs d₀..d₃ and taps g₀, g₁, g₂, the outputs `y₀ = d₀g₀ + d₁g₁ + d₂g₂` and
//! `y₁ = d₁g₀ + d₂g₁ + d₃g₂` are `y₀ = m₀ + m₁ + m₂`, `y₁ = m₁ − m₂ − m₃` with
//! `m₀ = (d₀ − d₂)g₀`, `m₁ = (d₁ + d₂)(g₀ + g₁ + g₂)/2`, `m₂ = (d₂ − d₁)(g₀ − g₁ + g₂)/2`,
//! `m₃ = (d₁ − d₃)g₂`. The weights' four transformed values ([`transform_weights`]) are
//! computed once per call; each padded input row's four transformed rows (`D`, 8 tiles of two
//! output columns to a vector) once per batch entry; then every (input channel, kernel row)
//! adds four products per tile into `m`, summed over all of them before the outputs are formed.
//! A tile of 4 output channels × 8 tiles (16 columns) keeps its 16 accumulators in registers.
//! Multiply-adds per output: 4 per two columns instead of 6 (two thirds); the sums are
//! rounded in another order than the direct kernel's, so results agree with it to rounding.
//! The transforms subtract neighbouring inputs, so an infinite input can give ∞ − ∞ = NaN
//! where the direct sum is ±∞: an entry with a NaN output is convolved again by the direct
//! kernel (the caller's), which keeps non-finite inputs' values those of the reference.
//! Measurements: `docs/performance.md`.

#[cfg(target_arch = "x86_64")]
use super::{LANES, Lanes, NARROW, Narrow, Wide, operands::zero};
use super::{Sizes, SmallDims};
use crate::error::Result;
use crate::tensor_data::zeroed;
use std::cell::Cell;
use std::mem::MaybeUninit;

/// Output channels per tile.
const CHANNELS: usize = 4;
/// Tiles (of two output columns) per vector.
pub(super) const TILES: usize = 8;

/// The transformed weights from the direct kernel's table `wt` ([c][i][j][o]: `rows` = Cin·KH
/// kernel rows of 3 taps, `coutp` channels each): [c][i][k][o], k = 0..4 as in the module's
/// formulas.
pub(super) fn transform_weights(wt: &[f64], rows: usize, coutp: usize) -> Result<Vec<f64>> {
    assert_eq!(wt.len(), rows * 3 * coutp);
    let mut u = zeroed("conv2d", rows * 4 * coutp, &[rows, 4, coutp])?;
    for (taps, out) in wt
        .chunks_exact(3 * coutp)
        .zip(u.chunks_exact_mut(4 * coutp))
    {
        let (g0, rest) = taps.split_at(coutp);
        let (g1, g2) = rest.split_at(coutp);
        for o in 0..coutp {
            out[o] = g0[o];
            out[coutp + o] = (g0[o] + g1[o] + g2[o]) / 2.0;
            out[2 * coutp + o] = (g0[o] - g1[o] + g2[o]) / 2.0;
            out[3 * coutp + o] = g2[o];
        }
    }
    Ok(u)
}

thread_local! {
    /// One entry's transformed input rows, reused from call to call on each thread.
    static ROWS: Cell<Vec<f64>> = const { Cell::new(Vec::new()) };
}

/// One batch entry of the same-size convolution with a 3-wide kernel: `image` the padded
/// (Cin, rows, cols) planes (as for the direct kernel, at least `width` rounded up to 16,
/// plus 2, wide), `u` the transformed weights ([`transform_weights`], output channels padded
/// to 4), `start` each padded output channel's bias (or 0), `out` (Cout, H, W), every cell of
/// which it writes. Returns false when an output came out NaN: the transforms subtract
/// neighbouring inputs, so an infinite input can give ∞ − ∞ = NaN where the direct sum gives
/// ±∞ (the caller then convolves the entry directly, so non-finite inputs give the direct
/// kernel's values).
///
/// # Safety
/// The CPU must support AVX-512F and FMA (`super::available`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
pub(super) unsafe fn image(
    image: &[f64],
    (u, start, relu): (&[f64], &[f64], bool),
    out: &mut [MaybeUninit<f64>],
    s: Sizes,
    (rows, cols): (usize, usize),
) -> bool {
    use std::arch::x86_64::*;
    let Sizes {
        cin,
        h,
        w: width,
        cout,
        kh,
        ..
    } = s;
    let coutp = cout.next_multiple_of(CHANNELS);
    // Vectors of 8 tiles (16 output columns) per row.
    let vectors = width.div_ceil(2 * TILES);
    let row_len = 4 * vectors * TILES;
    assert!(out.len() == cout * h * width && image.len() == cin * rows * cols);
    assert!(rows >= h + kh - 1 && cols >= 2 * TILES * vectors + 2);
    assert!(u.len() == cin * kh * 4 * coutp && start.len() == coutp && coutp > 0);
    let mut d = ROWS.take();
    // SAFETY: AVX-512F (this function's contract); every row of `image` is `cols` ≥
    // 16·vectors + 2 long (asserted above).
    unsafe { transform_rows(image, cols, vectors, &mut d) };
    // Output columns 16v..16v + 16 from the two halves of the interleaved y₀, y₁.
    let low = _mm512_set_epi64(11, 3, 10, 2, 9, 1, 8, 0);
    let high = _mm512_set_epi64(15, 7, 14, 6, 13, 5, 12, 4);
    // Lanes of the outputs (before the ReLU, in padding columns too) found NaN.
    let mut nan: __mmask8 = 0;
    for ob in (0..cout).step_by(CHANNELS) {
        for y in 0..h {
            for v in 0..vectors {
                let mut m = [[_mm512_setzero_pd(); 4]; CHANNELS];
                // SAFETY: for c < cin and i < kh, row c·rows + y + i of `d` exists (rows ≥
                // h + kh − 1, asserted) and its values 4·TILES·v + k·TILES .. + TILES (k < 4)
                // lie inside its row_len = 4·TILES·vectors (v < vectors); `u` holds
                // (c·kh + i)·4·coutp + k·coutp + ob + o for o < 4 (ob + 4 ≤ coutp, asserted
                // lengths).
                unsafe {
                    let (d_base, u_base) = (d.as_ptr(), u.as_ptr());
                    for c in 0..cin {
                        let dc = d_base.add((c * rows + y) * row_len + 4 * TILES * v);
                        let uc = u_base.add(c * kh * 4 * coutp + ob);
                        for i in 0..kh {
                            let (dr, ur) = (dc.add(i * row_len), uc.add(i * 4 * coutp));
                            let dk = [
                                _mm512_loadu_pd(dr),
                                _mm512_loadu_pd(dr.add(TILES)),
                                _mm512_loadu_pd(dr.add(2 * TILES)),
                                _mm512_loadu_pd(dr.add(3 * TILES)),
                            ];
                            for (o, mo) in m.iter_mut().enumerate() {
                                for (k, (mk, &dk)) in mo.iter_mut().zip(&dk).enumerate() {
                                    let w = _mm512_set1_pd(*ur.add(k * coutp + o));
                                    *mk = _mm512_fmadd_pd(dk, w, *mk);
                                }
                            }
                        }
                    }
                }
                for (o, mo) in m.iter().enumerate().take(cout - ob) {
                    let bias = _mm512_set1_pd(start[ob + o]);
                    let y0 = _mm512_add_pd(_mm512_add_pd(_mm512_add_pd(mo[0], mo[1]), mo[2]), bias);
                    let y1 = _mm512_add_pd(_mm512_sub_pd(_mm512_sub_pd(mo[1], mo[2]), mo[3]), bias);
                    nan |= _mm512_cmp_pd_mask::<_CMP_UNORD_Q>(y0, y1);
                    let halves = [
                        _mm512_permutex2var_pd(y0, low, y1),
                        _mm512_permutex2var_pd(y0, high, y1),
                    ];
                    let dst = &mut out[((ob + o) * h + y) * width..][..width];
                    for (half, z) in halves.into_iter().enumerate() {
                        let first = 2 * TILES * v + TILES * half;
                        let lanes = width.saturating_sub(first).min(TILES);
                        if lanes == 0 {
                            continue;
                        }
                        // `max(z, 0)` is 0 for NaN and −0, as `operators::relu` (see the
                        // direct kernel).
                        let z = if relu {
                            _mm512_max_pd(z, _mm512_setzero_pd())
                        } else {
                            z
                        };
                        let mask = ((1u16 << lanes) - 1) as __mmask8;
                        // SAFETY: the mask enables columns first + l < width = dst.len() only.
                        unsafe {
                            _mm512_mask_storeu_pd(
                                dst.as_mut_ptr().cast::<f64>().add(first),
                                mask,
                                z,
                            )
                        };
                    }
                }
            }
        }
    }
    ROWS.set(d);
    nan == 0
}

/// Every `cols`-long row of `image` transformed into `d` (resized, each value written):
/// D[r][v][k][l], k = 0..4, for tile t = 8v + l (t < 8·`vectors`) and its inputs
/// d = row[2t..2t + 4]: (d₀ − d₂, d₁ + d₂, d₂ − d₁, d₁ − d₃), 8 tiles to a vector (even and
/// odd columns picked with `vpermt2pd`), a group of 8 tiles' four vectors together (so that
/// the kernels find them at fixed distances). Each row's transform is `4·8·vectors` values
/// long.
///
/// # Safety
/// The CPU must support AVX-512F. (`cols` ≥ 16·`vectors` + 2, so that each row holds the
/// inputs of all its tiles, is checked.)
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn transform_rows(image: &[f64], cols: usize, vectors: usize, d: &mut Vec<f64>) {
    use std::arch::x86_64::*;
    assert!(cols >= 2 * TILES * vectors + 2 && image.len().is_multiple_of(cols));
    let row_len = 4 * vectors * TILES;
    // Only a longer buffer is zeroed (its new part); a same-sized one keeps the last call's
    // values until they are overwritten, all of them, below.
    d.resize(image.len() / cols * row_len, 0.0);
    let even = _mm512_set_epi64(14, 12, 10, 8, 6, 4, 2, 0);
    let odd = _mm512_set_epi64(15, 13, 11, 9, 7, 5, 3, 1);
    for (row, dst) in image.chunks_exact(cols).zip(d.chunks_exact_mut(row_len)) {
        for v in 0..vectors {
            let at = 2 * TILES * v;
            // SAFETY: the loads read row[at..at + 18], inside the row (the assertion on
            // `cols`); the stores write 8 values at 32v + 8k of `dst` (row_len long).
            unsafe {
                let p = row.as_ptr().add(at);
                let (a, b) = (_mm512_loadu_pd(p), _mm512_loadu_pd(p.add(TILES)));
                let (a2, b2) = (_mm512_loadu_pd(p.add(2)), _mm512_loadu_pd(p.add(TILES + 2)));
                // d₀ = row[2t], d₁ = row[2t + 1], d₂ = row[2t + 2], d₃ = row[2t + 3].
                let d0 = _mm512_permutex2var_pd(a, even, b);
                let d1 = _mm512_permutex2var_pd(a, odd, b);
                let d2 = _mm512_permutex2var_pd(a2, even, b2);
                let d3 = _mm512_permutex2var_pd(a2, odd, b2);
                let q = dst.as_mut_ptr().add(4 * TILES * v);
                _mm512_storeu_pd(q, _mm512_sub_pd(d0, d2));
                _mm512_storeu_pd(q.add(TILES), _mm512_add_pd(d1, d2));
                _mm512_storeu_pd(q.add(2 * TILES), _mm512_sub_pd(d2, d1));
                _mm512_storeu_pd(q.add(3 * TILES), _mm512_sub_pd(d1, d3));
            }
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
pub(super) unsafe fn image(
    _: &[f64],
    _: (&[f64], &[f64], bool),
    _: &mut [MaybeUninit<f64>],
    _: Sizes,
    _: (usize, usize),
) -> bool {
    unreachable!("available() is false off x86_64")
}

/// One entry of the small-output convolution (a weight's gradient) with output rows 3 wide,
/// by F(3, 2), F(2, 3)'s transpose: `image` the entry's padded (C, rows, cols) planes (cols at
/// least `gw` rounded up to 16, plus 2), `kernel` the channel-last (C, GH, GW, lanes) kernel,
/// `out` the entry's `outs` × OH × 3 cells, every one of which it writes. For each pair of
/// kernel columns g₀, g₁ (a channel vector each) and the four inputs d₀..d₃ they meet, the
/// three outputs `z_j = g₀d_j + g₁d_{j+1}` gather, summed over every pair, row and channel,
/// `m₀ += g₀(d₀ − d₂)`, `m₁ += (g₀ + g₁)(d₁ + d₂)`, `m₂ += (g₀ − g₁)(d₂ − d₁)`,
/// `m₃ −= g₁(d₁ − d₃)`: four multiply-adds per pair instead of six, and then
/// `z₀ = m₀ + (m₁ + m₂)/2`, `z₁ = (m₁ − m₂)/2`, `z₂ = (m₁ + m₂)/2 + m₃`. The input's
/// transforms are [`transform_rows`]' (the forward kernel's); an odd kernel's last column
/// adds directly. Returns false when an output came out NaN (as [`image`], the caller then
/// computes the entry directly).
///
/// # Safety
/// The CPU must support AVX-512F and FMA (`super::available`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
pub(super) unsafe fn grad_entry(
    image: &[f64],
    kernel: &[f64],
    out: &mut [MaybeUninit<f64>],
    (d, outs, oh): (SmallDims, usize, usize),
) -> bool {
    let vectors = d.gw.div_ceil(2 * TILES);
    let mut rows = ROWS.take();
    // SAFETY: AVX-512F (this function's contract); `transform_rows` checks that `cols` holds
    // the tiles' inputs.
    unsafe { transform_rows(image, d.cols, vectors, &mut rows) };
    let cells = oh * 3;
    assert!(out.len() == outs * cells);
    let out = zero(out);
    for ob in (0..outs).step_by(LANES) {
        let cell = &mut out[ob * cells..(ob + LANES).min(outs) * cells];
        let t = (&rows[..], vectors);
        macro_rules! dispatch {
            ($($i:literal)*) => {
                match (oh, d.lanes) {
                    // SAFETY: AVX-512F and FMA, this function's contract.
                    $(($i, NARROW) => unsafe { grad_tile::<Narrow, $i>(t, image, kernel, cell, d) },
                    ($i, _) => unsafe { grad_tile::<Wide, $i>(t, image, &kernel[ob..], cell, d) },)*
                    _ => unreachable!("small_output is called for outputs up to 5 × 5"),
                }
            };
        }
        dispatch!(1 2 3 4 5);
    }
    ROWS.set(rows);
    !out.iter().any(|v| v.is_nan())
}

/// Up to `V::N` output channels of [`grad_entry`], I × 3 cells each: `rows` the entry's
/// transformed rows ([`transform_rows`] of `image`, `vectors` of 8 tiles each), `kernel` from
/// the group's first channel on.
///
/// # Safety
/// The CPU must support AVX-512F and FMA (`super::available`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
unsafe fn grad_tile<V: Lanes, const I: usize>(
    (rows, vectors): (&[f64], usize),
    image: &[f64],
    kernel: &[f64],
    out: &mut [f64],
    d: SmallDims,
) {
    const J: usize = 3;
    let row_len = 4 * TILES * vectors;
    let pairs = d.gw / 2;
    let plane = d.gh * d.gw * d.lanes;
    assert!(image.len() == d.cin * d.rows * d.cols && rows.len() == d.cin * d.rows * row_len);
    assert!(d.rows >= d.gh + I - 1 && d.cols >= d.gw + J - 1 && pairs <= TILES * vectors);
    assert!(out.len() <= V::N * I * J && out.len().is_multiple_of(I * J) && d.lanes >= V::N);
    // The last read of the kernel is at (cin − 1)·plane + (gh·gw − 1)·lanes, V::N wide.
    assert!(d.gh * d.gw > 0 && d.cin > 0);
    assert!(kernel.len() >= (d.cin - 1) * plane + (d.gh * d.gw - 1) * d.lanes + V::N);
    // SAFETY (of every `Lanes` call here): AVX-512F and FMA, this function's contract.
    let zero = unsafe { V::splat(0.0) };
    let mut m = [[zero; 4]; I];
    for c in 0..d.cin {
        for y in 0..d.gh {
            // SAFETY: row c·rows + y + i (i < I) of `rows` exists (rows ≥ gh + I − 1) and
            // tile p's values 32·(p / 8) + 8k + p % 8 (p < pairs ≤ 8·vectors, k < 4) lie
            // inside its row_len = 32·vectors; the kernel's columns 2p + 1 < gw of row (c, y)
            // hold V::N values (the assertion on its length).
            unsafe {
                let krow = kernel.as_ptr().add((c * d.gh + y) * d.gw * d.lanes);
                let drow = rows.as_ptr().add((c * d.rows + y) * row_len);
                for p in 0..pairs {
                    let g0 = V::load(krow.add(2 * p * d.lanes));
                    let g1 = V::load(krow.add((2 * p + 1) * d.lanes));
                    let (sum, diff) = (V::add(g0, g1), V::sub(g0, g1));
                    let tile = drow.add(4 * TILES * (p / TILES) + p % TILES);
                    for (i, m) in m.iter_mut().enumerate() {
                        let t = tile.add(i * row_len);
                        m[0] = V::fmadd(g0, V::splat(*t), m[0]);
                        m[1] = V::fmadd(sum, V::splat(*t.add(TILES)), m[1]);
                        m[2] = V::fmadd(diff, V::splat(*t.add(2 * TILES)), m[2]);
                        m[3] = V::fnmadd(g1, V::splat(*t.add(3 * TILES)), m[3]);
                    }
                }
            }
        }
    }
    // SAFETY: as above.
    let mut acc = [[zero; J]; I];
    unsafe {
        let half = V::splat(0.5);
        for (a, m) in acc.iter_mut().zip(&m) {
            let (sum, diff) = (V::add(m[1], m[2]), V::sub(m[1], m[2]));
            *a = [
                V::fmadd(sum, half, m[0]),
                V::mul(diff, half),
                V::fmadd(sum, half, m[3]),
            ];
        }
    }
    if d.gw % 2 == 1 {
        // The last column, directly (as `small_tile`).
        let x = d.gw - 1;
        for c in 0..d.cin {
            for y in 0..d.gh {
                let at = (c * d.rows + y) * d.cols + x;
                // SAFETY: the kernel's column x of row (c, y) holds V::N values (its length);
                // image rows c·rows + y + i (i < I) hold columns x + j ≤ gw + 1 < cols.
                unsafe {
                    let g = V::load(kernel.as_ptr().add(((c * d.gh + y) * d.gw + x) * d.lanes));
                    for (i, acc) in acc.iter_mut().enumerate() {
                        let row = &image[at + i * d.cols..][..J];
                        for (a, &v) in acc.iter_mut().zip(row) {
                            *a = V::fmadd(V::splat(v), g, *a);
                        }
                    }
                }
            }
        }
    }
    let channels = out.len() / (I * J);
    for (i, acc_i) in acc.iter().enumerate() {
        for (j, a) in acc_i.iter().enumerate() {
            let mut lanes = [0.0; LANES];
            // SAFETY: `lanes` holds LANES ≥ V::N values.
            unsafe { a.store(lanes.as_mut_ptr()) };
            for (o, &v) in lanes.iter().enumerate().take(channels) {
                out[(o * I + i) * J + j] = v;
            }
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
pub(super) unsafe fn grad_entry(
    _: &[f64],
    _: &[f64],
    _: &mut [MaybeUninit<f64>],
    _: (SmallDims, usize, usize),
) -> bool {
    unreachable!("available() is false off x86_64")
}
