//! Direct convolution kernels for the fast backend: register tiles of output cells, computed
//! straight from a zero-padded copy of the input, with no im2col matrix.
//!
//! The fast backend's [`conv2d`](super::conv) calls come in two forms, and each has a kernel:
//!
//! - **Same size** (every forward pass and the input's gradient): `out (B, Cout, H, W)`.
//!   [`same_size`] pads the input with zeros on the bottom and right (forward; on the top and
//!   left with the kernel flipped for `reverse`, since `in[y−i]·w[i] = in[y+i'−(KH−1)]·w[KH−1−i']`),
//!   so every read is in bounds and needs no test. A tile is 4 output channels × 32 output
//!   columns of one row: 16 AVX-512 accumulators, each tap adds one broadcast weight times 32
//!   shifted input values per channel. A row's last tile of at most 28 columns computes its last
//!   vector 256 bits wide (half the FMA work on AMD's cores, which split 512-bit ones).
//!   With a 3-wide kernel and at least 4 input channels, [`winograd`] computes each four
//!   neighbouring output columns from six products per kernel row instead of twelve, by
//!   F(4, 3) (`MINITORCH_CONV=direct` keeps the direct tiles, to compare the two).
//! - **Small output** (the weight's gradient, whose "kernel" is a whole image and whose output
//!   is the kernel's KH × KW): [`small_output`](fn@small_output) copies that "kernel" channel-last, so that a
//!   vector holds 8 output channels at one position (4, in a 256-bit vector, when there are
//!   at most 4), and keeps one vector accumulator per output cell (at most
//!   5 × 5): each input value, broadcast, is multiplied into the channels of every cell that
//!   reads it. Outputs 3 wide (a 3-wide kernel's gradient) of more than 4 channels take
//!   [`winograd`]'s F(3, 2): four products per pair of the "kernel"'s columns instead of six.
//!
//! Each thread pads the batch entries it convolves itself, into a scratch buffer of its own,
//! and writes their output cells once ([`operands`]). The forward kernel can start each
//! output channel from a bias (`conv2d_add`, a convolution layer's forward pass).
//!
//! Both need AVX-512F and FMA (checked at run time by [`available`]); elsewhere the backend
//! uses im2col. They sum in a different order from the reference backend, so results agree
//! to rounding (tests compare to 1e-9 relative). Measurements: `docs/performance.md`.

/// Four vectors a, b, c, d of 8 lanes (an array) interleaved by lane into groups of four:
/// the first vector holds [a₀, b₀, c₀, d₀, a₁, b₁, c₁, d₁], the next lanes 2 and 3, and so on
/// (two rounds of `vpermt2pd`: pairs, then the pairs' pairs). Winograd's four outputs per tile
/// become columns this way, and four channels' rows become channel-last groups. (A macro, not
/// a function: called from functions with AVX-512 enabled, whose vectors it must not send
/// through memory; as a function it measured 3 µs slower in the reverse convolution.)
#[cfg(target_arch = "x86_64")]
macro_rules! interleave4 {
    ($v:expr) => {{
        use std::arch::x86_64::*;
        let [a, b, c, d] = $v;
        let pair = [
            _mm512_set_epi64(11, 3, 10, 2, 9, 1, 8, 0),
            _mm512_set_epi64(15, 7, 14, 6, 13, 5, 12, 4),
        ];
        let quad = [
            _mm512_set_epi64(11, 10, 3, 2, 9, 8, 1, 0),
            _mm512_set_epi64(15, 14, 7, 6, 13, 12, 5, 4),
        ];
        let (ab, cd) = (
            [
                _mm512_permutex2var_pd(a, pair[0], b),
                _mm512_permutex2var_pd(a, pair[1], b),
            ],
            [
                _mm512_permutex2var_pd(c, pair[0], d),
                _mm512_permutex2var_pd(c, pair[1], d),
            ],
        );
        [
            _mm512_permutex2var_pd(ab[0], quad[0], cd[0]),
            _mm512_permutex2var_pd(ab[0], quad[1], cd[0]),
            _mm512_permutex2var_pd(ab[1], quad[0], cd[1]),
            _mm512_permutex2var_pd(ab[1], quad[1], cd[1]),
        ]
    }};
}

/// A small-output tile's accumulators (`acc`, `I × J` vectors of channels) stored into `out`,
/// the tile's `out.len() / (I·J)` channels of `I × J` cells each (a macro for the reason
/// [`interleave4`]'s is one).
#[cfg(target_arch = "x86_64")]
macro_rules! store_tile {
    ($acc:expr, $out:expr, $i:expr, $j:expr) => {{
        let out: &mut [f64] = $out;
        let channels = out.len() / ($i * $j);
        for (i, acc_i) in $acc.iter().enumerate() {
            for (j, a) in acc_i.iter().enumerate() {
                let mut lanes = [0.0; LANES];
                // SAFETY: `lanes` holds LANES ≥ V::N values; the vector's instructions are
                // the calling function's.
                unsafe { a.store(lanes.as_mut_ptr()) };
                for (o, &v) in lanes.iter().enumerate().take(channels) {
                    out[(o * $i + i) * $j + j] = v;
                }
            }
        }
    }};
}

mod operands;
mod small_output;
mod winograd;

pub(super) use small_output::small_output;

use super::conv::Sizes;
use crate::error::Result;
use crate::tensor_data::{TensorData, zeroed};
use operands::for_each_entry;
use std::mem::MaybeUninit;

/// f64 lanes of an AVX-512 vector.
pub(super) const LANES: usize = 8;
/// f64 lanes of an AVX2 vector: a weight gradient of at most this many output channels
/// ([`small_output`](fn@small_output)) runs on these, so that no lane is wasted on padding.
pub(super) const NARROW: usize = 4;

/// The lanes of [`small_output`](fn@small_output)'s channel-last groups for `outs` output channels: one
/// [`NARROW`] vector for at most 4, else whole [`LANES`] vectors.
pub(super) fn group_lanes(outs: usize) -> usize {
    if outs <= NARROW {
        NARROW
    } else {
        outs.next_multiple_of(LANES)
    }
}
/// Output columns per [`same_size`] tile.
const COLUMNS: usize = 4 * LANES;
/// Output channels per [`same_size`] tile.
const CHANNELS: usize = 4;
/// Widest kernel [`same_size`] handles.
pub(super) const MAX_WIDTH: usize = 7;
/// Largest output height and width [`small_output`](fn@small_output) handles.
pub(super) const MAX_SMALL: usize = 5;
/// Multiply-adds from which a convolution splits its batch across the team's threads (about
/// 7 µs of work; MNIST's conv 1→4 at batch 16 is 4.5 × 10⁵). It was 2²¹ while the input was
/// padded and the output zeroed on the calling thread before the split, which left the second
/// core little to gain on small layers (`docs/performance.md`).
pub(super) const PARALLEL_MACS: usize = 1 << 18;

/// True when this CPU runs the kernels of this module.
pub(super) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The same-size convolution: `x` (B, Cin, H, W) in any layout, `w` packed
/// (Cout, Cin, KH, KW), output packed (B, Cout, H, W); with `bias` = (one value per output
/// channel, relu), each channel starts from its value and, when relu, each tile is clamped at
/// 0 as it is stored. Call only when [`available`].
pub(super) fn same_size(
    x: &TensorData,
    w: &[f64],
    s: Sizes,
    reverse: bool,
    bias: Option<(&[f64], bool)>,
) -> Result<Vec<f64>> {
    let Sizes {
        batch,
        cin,
        h,
        w: width,
        cout,
        kh,
        kw,
        ..
    } = s;
    // Padded planes: every tile reads COLUMNS + KW − 1 values from each of KH rows.
    let rows = h + kh - 1;
    let cols = width.next_multiple_of(COLUMNS) + kw - 1;
    let corner = if reverse { (kh - 1, kw - 1) } else { (0, 0) };
    // The weight as [c][i][j][o], o padded to whole tiles (zeros), flipped for reverse.
    let coutp = cout.next_multiple_of(CHANNELS);
    let mut wt = zeroed("conv2d", cin * kh * kw * coutp, &[cin, kh, kw, coutp])?;
    for o in 0..cout {
        for c in 0..cin {
            for i in 0..kh {
                for j in 0..kw {
                    let (si, sj) = if reverse {
                        (kh - 1 - i, kw - 1 - j)
                    } else {
                        (i, j)
                    };
                    wt[((c * kh + i) * kw + j) * coutp + o] =
                        w[((o * cin + c) * kh + si) * kw + sj];
                }
            }
        }
    }
    // Each output channel's starting value (its bias, or 0), padded to whole tiles.
    let mut start = vec![0.0; coutp];
    if let Some((bias, _)) = bias {
        start[..cout].copy_from_slice(&bias[..cout]);
    }
    let relu = bias.is_some_and(|(_, relu)| relu);
    let plane = h * width;
    let n = batch * cout * plane;
    let sizes = (n, &[batch, cout, h, width][..], cout * plane, s.macs());
    // Winograd's rows for 3-wide kernels from 4 input channels on: with fewer, its per-entry
    // transform and per-tile outputs cost as much as the multiply-adds it saves (conv 1 → 4
    // forward by F(4, 3): 18.6 and 17.8 µs against 18.3 and 18.3 direct; `docs/performance.md`).
    // (`MINITORCH_CONV=direct` keeps the direct tiles, to compare the two.)
    if kw == 3 && cin >= 4 && super::conv::forced() != super::conv::Forced::Direct {
        let u = winograd::transform_weights(&wt, cin * kh, coutp)?;
        let work = |image: &[f64], _, out_b: &mut [MaybeUninit<f64>]| {
            // SAFETY: `available()` was checked by the caller (as below); `cols` is the
            // width rounded up to 32, plus 2, as `same_size_image` needs too.
            unsafe {
                if !winograd::image(image, (&u, &start, relu), out_b, s, (rows, cols)) {
                    // A NaN (from an infinite input, or a NaN one): the direct kernel's values.
                    same_size_image::<3>(image, (&wt, &start, relu), out_b, s, (rows, cols));
                }
            }
        };
        // SAFETY: `winograd::image` writes every cell of `out_b` (see its comment).
        return unsafe { for_each_entry(x, (rows, cols), corner, sizes, work) };
    }
    let work = |image: &[f64], _, out_b: &mut [MaybeUninit<f64>]| {
        macro_rules! dispatch {
            ($($kw:literal)*) => {
                match kw {
                    // SAFETY: `available()` was checked by the caller (the only way into this
                    // module's kernels is through `conv::conv2d`, which checks it first).
                    $($kw => unsafe { same_size_image::<$kw>(image, (&wt, &start, relu), out_b, s, (rows, cols)) },)*
                    _ => unreachable!("same_size is called for kernels up to MAX_WIDTH wide"),
                }
            };
        }
        dispatch!(1 2 3 4 5 6 7);
    };
    // SAFETY: `same_size_image` writes every cell of `out_b` (see its comment).
    unsafe { for_each_entry(x, (rows, cols), corner, sizes, work) }
}

/// One batch entry of [`same_size`] for kernels `KW` wide: `image` the padded (Cin, rows,
/// cols) planes, `out` (Cout, H, W), every cell of which it writes (each tile of 4 channels ×
/// 32 columns of one row is stored once, its lanes past the row's end masked off).
///
/// # Safety
/// The CPU must support AVX-512F and FMA ([`available`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
unsafe fn same_size_image<const KW: usize>(
    image: &[f64],
    (wt, start, relu): (&[f64], &[f64], bool),
    out: &mut [MaybeUninit<f64>],
    s: Sizes,
    (rows, cols): (usize, usize),
) {
    use std::arch::x86_64::*;
    const V: usize = COLUMNS / LANES;
    let Sizes {
        cin,
        h,
        w: width,
        cout,
        kh,
        ..
    } = s;
    let coutp = cout.next_multiple_of(CHANNELS);
    assert!(out.len() == cout * h * width && image.len() == cin * rows * cols);
    assert!(start.len() == coutp);
    for ob in (0..cout).step_by(CHANNELS) {
        for y in 0..h {
            for x0 in (0..width).step_by(COLUMNS) {
                let n = COLUMNS.min(width - x0);
                // The tile's accumulators: 4 channels × V vectors of 8 columns, the last one
                // computed 256 bits wide when `$half` (its upper 4 lanes, past the row's end, are
                // left undefined and never stored).
                macro_rules! tile {
                    ($half:literal) => {{
                        let mut acc = [[_mm512_setzero_pd(); V]; CHANNELS];
                        for (o, a) in acc.iter_mut().enumerate() {
                            *a = [_mm512_set1_pd(start[ob + o]); V];
                        }
                        for c in 0..cin {
                            for i in 0..kh {
                                let row =
                                    &image[(c * rows + y + i) * cols + x0..][..COLUMNS + KW - 1];
                                let taps = &wt[(c * kh + i) * KW * coutp + ob..]
                                    [..(KW - 1) * coutp + CHANNELS];
                                let (row, taps) = (row.as_ptr(), taps.as_ptr());
                                for j in 0..KW {
                                    let mut x = [_mm512_setzero_pd(); V];
                                    let mut wts = [0.0; CHANNELS];
                                    // SAFETY: `row` holds COLUMNS + KW − 1 values, so j + COLUMNS
                                    // of them are readable; `taps` holds (KW − 1)·coutp +
                                    // CHANNELS, so j·coutp + CHANNELS are. (Plain loops: closures
                                    // would not be inlined into this AVX-512 function.)
                                    unsafe {
                                        for (v, x) in x.iter_mut().enumerate() {
                                            let at = row.add(j + v * LANES);
                                            *x = if $half && v == V - 1 {
                                                _mm512_castpd256_pd512(_mm256_loadu_pd(at))
                                            } else {
                                                _mm512_loadu_pd(at)
                                            };
                                        }
                                        for (o, w) in wts.iter_mut().enumerate() {
                                            *w = *taps.add(j * coutp + o);
                                        }
                                    }
                                    for (a, &wv) in acc.iter_mut().zip(&wts) {
                                        let wv = _mm512_set1_pd(wv);
                                        for (v, (a, &x)) in a.iter_mut().zip(&x).enumerate() {
                                            *a = if $half && v == V - 1 {
                                                _mm512_castpd256_pd512(_mm256_fmadd_pd(
                                                    _mm512_castpd512_pd256(x),
                                                    _mm512_castpd512_pd256(wv),
                                                    _mm512_castpd512_pd256(*a),
                                                ))
                                            } else {
                                                _mm512_fmadd_pd(x, wv, *a)
                                            };
                                        }
                                    }
                                }
                            }
                        }
                        acc
                    }};
                }
                // A last vector of at most 4 columns (a row of 28: MNIST's) in a 256-bit
                // register: AMD's cores run a 512-bit FMA as two 256-bit halves, so the half
                // that would only fill lanes past the row's end is not computed.
                let acc = if n <= COLUMNS - LANES / 2 {
                    tile!(true)
                } else {
                    tile!(false)
                };
                for (o, a) in acc.iter().enumerate().take(cout - ob) {
                    let dst = &mut out[((ob + o) * h + y) * width + x0..][..n];
                    for (v, &a) in a.iter().enumerate() {
                        let lanes = n.saturating_sub(v * LANES).min(LANES);
                        let mask = ((1u16 << lanes) - 1) as __mmask8;
                        // `max(a, 0)` is 0 for NaN and −0 (the second operand whenever a > 0
                        // fails), as `operators::relu`. (Applied here, at the store: a loop
                        // over the accumulators before it sent them to the stack, in the
                        // reverse convolution too, and doubled both.)
                        let a = if relu {
                            _mm512_max_pd(a, _mm512_setzero_pd())
                        } else {
                            a
                        };
                        // SAFETY: the mask enables lanes v·LANES + l < n = dst.len() only.
                        unsafe {
                            _mm512_mask_storeu_pd(
                                dst.as_mut_ptr().cast::<f64>().wrapping_add(v * LANES),
                                mask,
                                a,
                            )
                        };
                    }
                }
            }
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn same_size_image<const KW: usize>(
    _: &[f64],
    _: (&[f64], &[f64], bool),
    _: &mut [MaybeUninit<f64>],
    _: Sizes,
    _: (usize, usize),
) {
    unreachable!("available() is false off x86_64")
}
