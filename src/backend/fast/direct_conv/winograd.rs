//! The same-size convolution for kernels 3 wide by Winograd's minimal filtering F(2, 3) along
//! each row: two neighbouring outputs of a kernel row's three taps from four products instead
//! of six.
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

use super::Sizes;
use crate::error::Result;
use crate::tensor_data::zeroed;
use std::cell::Cell;
use std::mem::MaybeUninit;

/// Output channels per tile.
const CHANNELS: usize = 4;
/// Tiles (of two output columns) per vector.
const TILES: usize = 8;

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
    // D[c][r][k][t]: for tile t of input row r, d = row[2t..2t + 4] transformed.
    // Every value is written below before it is read: only a longer buffer is zeroed (its
    // new part), a same-sized one keeps the last entry's values until they are overwritten.
    let mut d = ROWS.take();
    d.resize(cin * rows * row_len, 0.0);
    let even = _mm512_set_epi64(14, 12, 10, 8, 6, 4, 2, 0);
    let odd = _mm512_set_epi64(15, 13, 11, 9, 7, 5, 3, 1);
    for (row, dst) in image.chunks_exact(cols).zip(d.chunks_exact_mut(row_len)) {
        for v in 0..vectors {
            let at = 2 * TILES * v;
            // SAFETY: the loads read row[at..at + 18], inside the row (the assertion on
            // `cols`); the stores write 8 values at k·vectors·8 + 8v of `dst` (row_len long).
            unsafe {
                let p = row.as_ptr().add(at);
                let (a, b) = (_mm512_loadu_pd(p), _mm512_loadu_pd(p.add(TILES)));
                let (a2, b2) = (_mm512_loadu_pd(p.add(2)), _mm512_loadu_pd(p.add(TILES + 2)));
                // d₀ = row[2t], d₁ = row[2t + 1], d₂ = row[2t + 2], d₃ = row[2t + 3].
                let d0 = _mm512_permutex2var_pd(a, even, b);
                let d1 = _mm512_permutex2var_pd(a, odd, b);
                let d2 = _mm512_permutex2var_pd(a2, even, b2);
                let d3 = _mm512_permutex2var_pd(a2, odd, b2);
                let q = dst.as_mut_ptr().add(TILES * v);
                let k = vectors * TILES;
                _mm512_storeu_pd(q, _mm512_sub_pd(d0, d2));
                _mm512_storeu_pd(q.add(k), _mm512_add_pd(d1, d2));
                _mm512_storeu_pd(q.add(2 * k), _mm512_sub_pd(d2, d1));
                _mm512_storeu_pd(q.add(3 * k), _mm512_sub_pd(d1, d3));
            }
        }
    }
    // Output columns 16v..16v + 16 from the two halves of the interleaved y₀, y₁.
    let low = _mm512_set_epi64(11, 3, 10, 2, 9, 1, 8, 0);
    let high = _mm512_set_epi64(15, 7, 14, 6, 13, 5, 12, 4);
    let k_step = vectors * TILES;
    // Lanes of the outputs (before the ReLU, in padding columns too) found NaN.
    let mut nan: __mmask8 = 0;
    for ob in (0..cout).step_by(CHANNELS) {
        for y in 0..h {
            for v in 0..vectors {
                let mut m = [[_mm512_setzero_pd(); 4]; CHANNELS];
                // SAFETY: for c < cin and i < kh, row c·rows + y + i of `d` exists (rows ≥
                // h + kh − 1, asserted) and its values TILES·v + k·k_step .. + TILES (k < 4) lie
                // inside its row_len = 4·k_step (v < vectors); `u` holds (c·kh + i)·4·coutp +
                // k·coutp + ob + o for o < 4 (ob + 4 ≤ coutp, asserted lengths).
                unsafe {
                    let (d_base, u_base) = (d.as_ptr(), u.as_ptr());
                    for c in 0..cin {
                        let dc = d_base.add((c * rows + y) * row_len + TILES * v);
                        let uc = u_base.add(c * kh * 4 * coutp + ob);
                        for i in 0..kh {
                            let (dr, ur) = (dc.add(i * row_len), uc.add(i * 4 * coutp));
                            let dk = [
                                _mm512_loadu_pd(dr),
                                _mm512_loadu_pd(dr.add(k_step)),
                                _mm512_loadu_pd(dr.add(2 * k_step)),
                                _mm512_loadu_pd(dr.add(3 * k_step)),
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
