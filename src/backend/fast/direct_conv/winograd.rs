//! Convolutions with kernels 3 wide by Winograd's minimal filtering along each row: the
//! same-size convolution by F(4, 3) ([`image`]: four neighbouring outputs of a kernel row's
//! three taps from six products instead of twelve), and the weight's gradient by F(3, 2)
//! ([`grad_entry`]: a kernel row's three outputs from four products per pair of the
//! gradient's columns instead of six). (The gradient by F(3, 4), six products per four
//! columns, measured 72.5 µs against 77.6 for MNIST's conv 4 → 8, but its sums of thousands
//! of products mix each output's terms with the others' at factors up to 8 and 1/24, and
//! came out up to 5 × 10⁻⁹ relative from the reference where the terms cancel: not worth the
//! looser tolerance the tests would need.)
//!
//! F(4, 3): for inputs d₀..d₅ and taps g₀, g₁, g₂, the outputs `y_r = d_r g₀ + d_{r+1} g₁ +
//! d_{r+2} g₂` (r = 0..4) are, with `m_k = D_k U_k` for the transformed inputs `D`
//! ([`transform_quads`]) and weights `U` ([`transform_weights`]),
//! `y₀ = m₀ + m₁ + m₂ + m₃ + m₄`, `y₁ = m₁ − m₂ + 2(m₃ − m₄)`, `y₂ = m₁ + m₂ + 4(m₃ + m₄)`,
//! `y₃ = m₁ − m₂ + 8(m₃ − m₄) + m₅` (Lavin and Gray's matrices, points 0, ±1, ±2, ∞). The
//! weights' six transformed values are computed once per call; each padded input row's six
//! transformed rows (8 tiles of four output columns to a vector) once per batch entry; then
//! every (input channel, kernel row) adds six products per tile into `m`, summed over all of
//! them before the outputs are formed. A tile of 4 output channels × 8 tiles (32 columns)
//! keeps its 24 accumulators in registers. Multiply-adds per output: 1.5 instead of 3 (half;
//! F(2, 3)'s two per output, before, measured 71 µs against 63 for MNIST's conv 4 → 8).
//!
//! The sums are rounded in another order than the direct kernel's, through transforms with
//! factors up to 8, so results agree with it to rounding (the tests' 10⁻⁹ relative). The
//! transforms subtract neighbouring inputs, so an infinite input can give ∞ − ∞ = NaN where
//! the direct sum is ±∞: an entry with a NaN output is convolved again by the direct kernel
//! (the caller's), which keeps non-finite inputs' values those of the reference.
//! Measurements: `docs/performance.md`.

#[cfg(target_arch = "x86_64")]
use super::small_output::{Lanes, Narrow, Wide};
#[cfg(target_arch = "x86_64")]
use super::{LANES, NARROW, operands::zero};
use super::{Sizes, small_output::SmallDims};
use crate::error::Result;
use crate::tensor_data::zeroed;
use std::cell::Cell;
use std::mem::MaybeUninit;

/// Output channels per tile.
const CHANNELS: usize = 4;
/// Tiles (of four output columns for F(4, 3), of two columns for F(3, 2)) per vector.
pub(super) const TILES: usize = 8;

thread_local! {
    /// One entry's transformed input rows, reused from call to call on each thread.
    static ROWS: Cell<Vec<f64>> = const { Cell::new(Vec::new()) };
}

/// F(4, 3)'s transformed weights from the direct kernel's table `wt` (`[c][i][j][o]`: `rows` =
/// Cin·KH kernel rows of 3 taps, `coutp` channels each): `[c][i][k][o]`, k = 0..6:
/// (g₀/4, −(g₀ + g₁ + g₂)/6, −(g₀ − g₁ + g₂)/6, g₀/24 + g₁/12 + g₂/6, g₀/24 − g₁/12 + g₂/6, g₂).
pub(super) fn transform_weights(wt: &[f64], rows: usize, coutp: usize) -> Result<Vec<f64>> {
    assert_eq!(wt.len(), rows * 3 * coutp);
    let mut u = zeroed("conv2d", rows * 6 * coutp, &[rows, 6, coutp])?;
    for (taps, out) in wt
        .chunks_exact(3 * coutp)
        .zip(u.chunks_exact_mut(6 * coutp))
    {
        let (g0, rest) = taps.split_at(coutp);
        let (g1, g2) = rest.split_at(coutp);
        for o in 0..coutp {
            let (g0, g1, g2) = (g0[o], g1[o], g2[o]);
            let values = [
                g0 / 4.0,
                -(g0 + g1 + g2) / 6.0,
                -(g0 - g1 + g2) / 6.0,
                g0 / 24.0 + g1 / 12.0 + g2 / 6.0,
                g0 / 24.0 - g1 / 12.0 + g2 / 6.0,
                g2,
            ];
            for (k, v) in values.into_iter().enumerate() {
                out[k * coutp + o] = v;
            }
        }
    }
    Ok(u)
}

/// Every `cols`-long row of `image` transformed for F(4, 3) into `d` (resized, each value
/// written): `D[r][v][k][l]`, k = 0..6, for tile t = 8v + l (t < 8·`vectors`) and its inputs
/// d = row[4t..4t + 6]: (4d₀ − 5d₂ + d₄, −4(d₁ + d₂) + d₃ + d₄, 4(d₁ − d₂) + d₄ − d₃,
/// 2(d₃ − d₁) + d₄ − d₂, 2(d₁ − d₃) + d₄ − d₂, 4d₁ − 5d₃ + d₅), 8 tiles to a vector (every
/// fourth column picked with `vpermt2pd`), a group's six vectors together.
///
/// # Safety
/// The CPU must support AVX-512F and FMA. (`cols` ≥ 32·`vectors` + 2, so that each row holds
/// the inputs of all its tiles, is checked.)
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
unsafe fn transform_quads(image: &[f64], cols: usize, vectors: usize, d: &mut Vec<f64>) {
    use std::arch::x86_64::*;
    assert!(cols >= 4 * TILES * vectors + 2 && image.len().is_multiple_of(cols));
    let row_len = 6 * TILES * vectors;
    // Only a longer buffer is zeroed (its new part); a same-sized one keeps the last call's
    // values until they are overwritten, all of them, below.
    d.resize(image.len() / cols * row_len, 0.0);
    // Lane t of column group m: column 4t + m of 32, the low four lanes from the first two
    // vectors, the high four from the last two.
    // (Macros and loops, no closures: a closure is not compiled with this function's target
    // features, and its vectors then go through memory.)
    let mut index = [_mm512_setzero_si512(); 4];
    for (m, index) in index.iter_mut().enumerate() {
        let m = m as i64;
        *index = _mm512_set_epi64(12 + m, 8 + m, 4 + m, m, 12 + m, 8 + m, 4 + m, m);
    }
    macro_rules! gather {
        ($x:expr, $m:expr) => {
            _mm512_mask_blend_pd(
                0xF0,
                _mm512_permutex2var_pd($x[0], index[$m], $x[1]),
                _mm512_permutex2var_pd($x[2], index[$m], $x[3]),
            )
        };
    }
    let (two, four, five) = (
        _mm512_set1_pd(2.0),
        _mm512_set1_pd(4.0),
        _mm512_set1_pd(-5.0),
    );
    for (row, dst) in image.chunks_exact(cols).zip(d.chunks_exact_mut(row_len)) {
        for v in 0..vectors {
            // SAFETY: the loads read row[32v .. 32v + 34] (the last one masked to 6 lanes),
            // inside the row (the assertion on `cols`); the stores write 8 values at
            // 48v + 8k of `dst` (row_len long).
            unsafe {
                let p = row.as_ptr().add(4 * TILES * v);
                let a = [
                    _mm512_loadu_pd(p),
                    _mm512_loadu_pd(p.add(8)),
                    _mm512_loadu_pd(p.add(16)),
                    _mm512_loadu_pd(p.add(24)),
                ];
                let b = [
                    _mm512_loadu_pd(p.add(4)),
                    _mm512_loadu_pd(p.add(12)),
                    _mm512_loadu_pd(p.add(20)),
                    _mm512_maskz_loadu_pd(0x3F, p.add(28)),
                ];
                let (d0, d1, d2, d3) = (gather!(a, 0), gather!(a, 1), gather!(a, 2), gather!(a, 3));
                let (d4, d5) = (gather!(b, 0), gather!(b, 1));
                let values = [
                    _mm512_fmadd_pd(four, d0, _mm512_fmadd_pd(five, d2, d4)),
                    _mm512_fnmadd_pd(four, _mm512_add_pd(d1, d2), _mm512_add_pd(d3, d4)),
                    _mm512_fmadd_pd(four, _mm512_sub_pd(d1, d2), _mm512_sub_pd(d4, d3)),
                    _mm512_fmadd_pd(two, _mm512_sub_pd(d3, d1), _mm512_sub_pd(d4, d2)),
                    _mm512_fmadd_pd(two, _mm512_sub_pd(d1, d3), _mm512_sub_pd(d4, d2)),
                    _mm512_fmadd_pd(four, d1, _mm512_fmadd_pd(five, d3, d5)),
                ];
                let q = dst.as_mut_ptr().add(6 * TILES * v);
                for (k, value) in values.into_iter().enumerate() {
                    _mm512_storeu_pd(q.add(k * TILES), value);
                }
            }
        }
    }
}

/// One batch entry of the same-size convolution with a 3-wide kernel by F(4, 3): `image` the
/// padded (Cin, rows, cols) planes (as for the direct kernel, at least `width` rounded up to
/// 32, plus 2, wide), `u` the transformed weights ([`transform_weights`], output channels
/// padded to 4), `start` each padded output channel's bias (or 0), `out` (Cout, H, W), every
/// cell of which it writes. Returns false when an output came out NaN: the transforms subtract
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
    // Vectors of 8 tiles (32 output columns) per row.
    let vectors = width.div_ceil(4 * TILES);
    let row_len = 6 * vectors * TILES;
    assert!(out.len() == cout * h * width && image.len() == cin * rows * cols);
    assert!(rows >= h + kh - 1 && cols >= 4 * TILES * vectors + 2);
    assert!(u.len() == cin * kh * 6 * coutp && start.len() == coutp && coutp > 0);
    let mut d = ROWS.take();
    // SAFETY: AVX-512F and FMA (this function's contract); every row of `image` is `cols` ≥
    // 32·vectors + 2 long (asserted above).
    unsafe { transform_quads(image, cols, vectors, &mut d) };
    let (two, four, eight) = (
        _mm512_set1_pd(2.0),
        _mm512_set1_pd(4.0),
        _mm512_set1_pd(8.0),
    );
    // Lanes of the outputs (before the ReLU, in padding columns too) found NaN.
    let mut nan: __mmask8 = 0;
    for ob in (0..cout).step_by(CHANNELS) {
        for y in 0..h {
            for v in 0..vectors {
                let mut m = [[_mm512_setzero_pd(); 6]; CHANNELS];
                // SAFETY: for c < cin and i < kh, row c·rows + y + i of `d` exists (rows ≥
                // h + kh − 1, asserted) and its values 48v + 8k .. + 8 (k < 6) lie inside its
                // row_len = 48·vectors (v < vectors); `u` holds (c·kh + i)·6·coutp + k·coutp +
                // ob + o for o < 4 (ob + 4 ≤ coutp, asserted lengths).
                unsafe {
                    let (d_base, u_base) = (d.as_ptr(), u.as_ptr());
                    for c in 0..cin {
                        let dc = d_base.add((c * rows + y) * row_len + 6 * TILES * v);
                        let uc = u_base.add(c * kh * 6 * coutp + ob);
                        for i in 0..kh {
                            let (dr, ur) = (dc.add(i * row_len), uc.add(i * 6 * coutp));
                            let mut dk = [_mm512_setzero_pd(); 6];
                            for (k, dk) in dk.iter_mut().enumerate() {
                                *dk = _mm512_loadu_pd(dr.add(k * TILES));
                            }
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
                    let (s12, d12) = (_mm512_add_pd(mo[1], mo[2]), _mm512_sub_pd(mo[1], mo[2]));
                    let (s34, d34) = (_mm512_add_pd(mo[3], mo[4]), _mm512_sub_pd(mo[3], mo[4]));
                    let z = [
                        _mm512_add_pd(_mm512_add_pd(mo[0], _mm512_add_pd(s12, s34)), bias),
                        _mm512_add_pd(_mm512_fmadd_pd(two, d34, d12), bias),
                        _mm512_add_pd(_mm512_fmadd_pd(four, s34, s12), bias),
                        _mm512_add_pd(_mm512_add_pd(_mm512_fmadd_pd(eight, d34, d12), mo[5]), bias),
                    ];
                    nan |= _mm512_cmp_pd_mask::<_CMP_UNORD_Q>(z[0], z[1])
                        | _mm512_cmp_pd_mask::<_CMP_UNORD_Q>(z[2], z[3]);
                    // Lane t of z₀..z₃ into columns 4t..4t + 4.
                    let columns = interleave4!(z);
                    let dst = &mut out[((ob + o) * h + y) * width..][..width];
                    for (part, z) in columns.into_iter().enumerate() {
                        let first = 4 * TILES * v + TILES * part;
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

/// Every `cols`-long row of `image` transformed for F(3, 2) into `d` (resized, each value
/// written): `D[r][v][k][l]`, k = 0..4, for tile t = 8v + l (t < 8·`vectors`) and its inputs
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
unsafe fn transform_pairs(image: &[f64], cols: usize, vectors: usize, d: &mut Vec<f64>) {
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

/// One entry of the small-output convolution (a weight's gradient) with output rows 3 wide,
/// by F(3, 2), F(2, 3)'s transpose: `image` the entry's padded (C, rows, cols) planes (cols at
/// least `gw` rounded up to 16, plus 2), `kernel` the channel-last (C, GH, GW, lanes) kernel,
/// `out` the entry's `outs` × OH × 3 cells, every one of which it writes. For each pair of
/// kernel columns g₀, g₁ (a channel vector each) and the four inputs d₀..d₃ they meet, the
/// three outputs `z_j = g₀d_j + g₁d_{j+1}` gather, summed over every pair, row and channel,
/// `m₀ += g₀(d₀ − d₂)`, `m₁ += (g₀ + g₁)(d₁ + d₂)`, `m₂ += (g₀ − g₁)(d₂ − d₁)`,
/// `m₃ −= g₁(d₁ − d₃)`: four multiply-adds per pair instead of six, and then
/// `z₀ = m₀ + (m₁ + m₂)/2`, `z₁ = (m₁ − m₂)/2`, `z₂ = (m₁ + m₂)/2 + m₃`. The input's
/// transforms are [`transform_pairs`]'; an odd kernel's last column adds directly. Returns false when an output came out NaN (as [`image`], the caller then
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
    // SAFETY: AVX-512F (this function's contract); `transform_pairs` checks that `cols` holds
    // the tiles' inputs.
    unsafe { transform_pairs(image, d.cols, vectors, &mut rows) };
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
/// transformed rows ([`transform_pairs`] of `image`, `vectors` of 8 tiles each), `kernel` from
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
    store_tile!(acc, out, I, J);
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
