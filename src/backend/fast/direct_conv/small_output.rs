//! The small-output kernel of the direct convolutions (the weight's gradient, whose "kernel"
//! is a whole image and whose output is the kernel's KH × KW; see the parent module): the
//! "kernel" copied channel-last, one vector accumulator per output cell, and the vectors of 8
//! (or, for at most 4 channels, 4) channels it computes on ([`Lanes`], shared with
//! [`super::winograd`]'s F(3, 2)). Measurements: `docs/performance.md`.

use super::operands::{ChannelsLast, PART, Padding, SCRATCH, for_each_entry, part, zero};
use super::{LANES, MAX_SMALL, NARROW, PARALLEL_MACS, Sizes, group_lanes, winograd};
use crate::error::Result;
use crate::tensor_data::{TensorData, reserved, zeroed};
use std::mem::MaybeUninit;

/// The small-output convolution (`out_hw` = (OH, OW), both at most [`MAX_SMALL`], not
/// reversed): `x` (B, C, H, W) and `g` (O, C, GH, GW), the "kernel", in any layouts,
/// `out[b,o,i,j] = Σ_c Σ_y Σ_x g[o,c,y,x] · x[b,c,y+i,x+j]` (0 outside `x`), packed
/// (B, O, OH, OW). Call only when [`available`](super::available).
pub(in crate::backend::fast) fn small_output(
    x: &TensorData,
    g: &TensorData,
    s: Sizes,
) -> Result<Vec<f64>> {
    let Sizes {
        batch,
        cin,
        h,
        w: width,
        cout: outs,
        kh: gh,
        kw: gw,
        oh,
        ow,
    } = s;
    debug_assert!(oh <= MAX_SMALL && ow <= MAX_SMALL && oh > 0 && ow > 0);
    // The input padded so that every read (y + i < GH + OH − 1, x + j < GW + OW − 1) is in
    // bounds; the kernel channel-last, (C, GH, GW, O) with O padded to whole vectors.
    let rows = (gh + oh - 1).max(h);
    // Winograd's F(3, 2) for outputs 3 wide (a 3-wide kernel's gradient): its transforms read
    // the input rows in tiles of 16 columns, plus 2.
    // (With at most 4 output channels, in 256-bit vectors, the transforms cost more than the
    // third of the multiply-adds they save: conv 1 → 4's, 28 µs against 22.5 direct.)
    let winograd_grad = ow == 3
        && gw >= 2
        && outs > NARROW
        && super::super::conv::forced() != super::super::conv::Forced::Direct;
    let cols = if winograd_grad {
        gw.next_multiple_of(2 * winograd::TILES) + 2
    } else {
        gw + ow - 1
    }
    .max(width);
    let lanes = group_lanes(outs);
    let guard = g.storage().read()?;
    // The layout's span lies inside the storage (checked when the tensor was made).
    let kernel_rows = ChannelsLast::new(g, &guard[g.offset()..], lanes);
    let cells = oh * ow;
    let dims = SmallDims {
        cin,
        gh,
        gw,
        lanes,
        rows,
        cols,
    };
    let per = outs * cells;
    // Every entry's output (Cout × OH × OW cells), from its padded planes and the kernel.
    let tiles = |image: &[f64], kernel: &[f64], out: &mut [MaybeUninit<f64>], cin: usize| {
        let dims = SmallDims { cin, ..dims };
        // SAFETY: `available()` was checked by the caller (see `same_size`); `cols` is `gw`
        // rounded up to 16, plus 2, when `winograd_grad`.
        if winograd_grad && unsafe { winograd::grad_entry(image, kernel, out, (dims, outs, oh)) } {
            return;
        }
        // (Else, or when Winograd's sums came out NaN: the direct tiles, which write every
        // cell again.)
        let out = zero(out);
        for ob in (0..outs).step_by(LANES) {
            let cell = &mut out[ob * cells..(ob + LANES).min(outs) * cells];
            macro_rules! dispatch {
                ($($i:literal $j:literal),*) => {
                    match (oh, ow, lanes) {
                        // SAFETY: `available()` was checked by the caller (see `same_size`).
                        $(($i, $j, NARROW) => unsafe { small_tile::<Narrow, $i, $j>(image, kernel, cell, dims) },
                        ($i, $j, _) => unsafe { small_tile::<Wide, $i, $j>(image, &kernel[ob..], cell, dims) },)*
                        _ => unreachable!("small_output is called for outputs up to 5 × 5"),
                    }
                };
            }
            dispatch!(1 1, 1 2, 1 3, 1 4, 1 5, 2 1, 2 2, 2 3, 2 4, 2 5, 3 1, 3 2, 3 3, 3 4, 3 5,
                4 1, 4 2, 4 3, 4 4, 4 5, 5 1, 5 2, 5 3, 5 4, 5 5);
        }
    };
    let parts = rayon::current_num_threads().min(cin);
    if s.macs() < PARALLEL_MACS || parts < 2 {
        let kernel = kernel_rows.all(s.macs())?;
        // SAFETY: `tiles` writes every cell of its output (zeroed first).
        return unsafe {
            for_each_entry(
                x,
                (rows, cols),
                (0, 0),
                (batch * per, &[batch, outs, oh, ow][..], per, s.macs()),
                |image, _, out_b| tiles(image, &kernel, out_b, cin),
            )
        };
    }
    // On the team: the sums split over the kernel's channels (the forward pass's batch), one
    // part per thread, each copying its own channels of the gradient channel-last and padding
    // its own channels of every entry; the parts' partial sums are added below. (Split by
    // entry instead, every thread read the whole gradient, copied channel-last once for all.)
    let guard_x = x.storage().read()?;
    // The layout's span lies inside the storage (checked when the tensor was made).
    let padding = Padding::new(x, &guard_x[x.offset()..], (rows, cols), (0, 0));
    let total = parts * batch * per;
    let mut partial = reserved("conv2d", total, &[parts, batch, outs, oh, ow])?;
    let pieces = &mut partial.spare_capacity_mut()[..total];
    super::super::team::for_each_chunk_mut(pieces, batch * per, |k, piece| {
        let channels = part(cin, parts, k);
        let (mut kernel, mut image) = (PART.take(), SCRATCH.take());
        kernel_rows.collect(channels.start * gh..channels.end * gh, &mut kernel);
        for (b, out_b) in piece.chunks_mut(per).enumerate() {
            padding.entry(b, channels.clone(), &mut image);
            tiles(&image, &kernel, out_b, channels.len());
        }
        PART.set(kernel);
        SCRATCH.set(image);
    });
    // SAFETY: the parts' pieces cover all `total` cells, and `tiles` wrote every cell of each
    // entry's `per` cells in them.
    unsafe { partial.set_len(total) };
    let mut sum = zeroed("conv2d", batch * per, &[batch, outs, oh, ow])?;
    for piece in partial.chunks_exact(batch * per) {
        sum.iter_mut().zip(piece).for_each(|(d, &v)| *d += v);
    }
    Ok(sum)
}

/// Sizes of [`small_output`]'s operands.
#[derive(Clone, Copy)]
pub(super) struct SmallDims {
    pub cin: usize,
    pub gh: usize,
    pub gw: usize,
    pub lanes: usize,
    pub rows: usize,
    pub cols: usize,
}

/// [`small_tile`]'s vectors: 8 lanes, or 4 for at most [`NARROW`] output channels.
#[cfg(target_arch = "x86_64")]
pub(super) type Wide = std::arch::x86_64::__m512d;
#[cfg(target_arch = "x86_64")]
pub(super) type Narrow = std::arch::x86_64::__m256d;
#[cfg(not(target_arch = "x86_64"))]
pub(super) type Wide = ();
#[cfg(not(target_arch = "x86_64"))]
pub(super) type Narrow = ();

/// A vector of f64 lanes for [`small_tile`]: 8 (AVX-512) or, for at most [`NARROW`] output
/// channels, 4 (AVX2).
#[cfg(target_arch = "x86_64")]
pub(super) trait Lanes: Copy {
    /// Lanes per vector.
    const N: usize;
    /// # Safety
    /// The CPU must have the vector's instructions; `p` is readable for `N` values.
    unsafe fn load(p: *const f64) -> Self;
    /// # Safety
    /// As [`Lanes::load`].
    unsafe fn splat(x: f64) -> Self;
    /// `a · b + c`, lane by lane.
    ///
    /// # Safety
    /// As [`Lanes::load`], and FMA.
    unsafe fn fmadd(a: Self, b: Self, c: Self) -> Self;
    /// `c − a · b`, lane by lane.
    ///
    /// # Safety
    /// As [`Lanes::fmadd`].
    unsafe fn fnmadd(a: Self, b: Self, c: Self) -> Self;
    /// `a + b`, lane by lane.
    ///
    /// # Safety
    /// As [`Lanes::load`].
    unsafe fn add(a: Self, b: Self) -> Self;
    /// `a − b`, lane by lane.
    ///
    /// # Safety
    /// As [`Lanes::load`].
    unsafe fn sub(a: Self, b: Self) -> Self;
    /// `a · b`, lane by lane.
    ///
    /// # Safety
    /// As [`Lanes::load`].
    unsafe fn mul(a: Self, b: Self) -> Self;
    /// # Safety
    /// As [`Lanes::load`], `p` writable for `N` values.
    unsafe fn store(self, p: *mut f64);
}

#[cfg(target_arch = "x86_64")]
impl Lanes for std::arch::x86_64::__m512d {
    const N: usize = LANES;
    #[inline(always)]
    unsafe fn load(p: *const f64) -> Self {
        // SAFETY: the caller's contract.
        unsafe { std::arch::x86_64::_mm512_loadu_pd(p) }
    }
    #[inline(always)]
    unsafe fn splat(x: f64) -> Self {
        // SAFETY: the caller's contract.
        unsafe { std::arch::x86_64::_mm512_set1_pd(x) }
    }
    #[inline(always)]
    unsafe fn fmadd(a: Self, b: Self, c: Self) -> Self {
        // SAFETY: the caller's contract.
        unsafe { std::arch::x86_64::_mm512_fmadd_pd(a, b, c) }
    }
    #[inline(always)]
    unsafe fn fnmadd(a: Self, b: Self, c: Self) -> Self {
        // SAFETY: the caller's contract.
        unsafe { std::arch::x86_64::_mm512_fnmadd_pd(a, b, c) }
    }
    #[inline(always)]
    unsafe fn add(a: Self, b: Self) -> Self {
        // SAFETY: the caller's contract.
        unsafe { std::arch::x86_64::_mm512_add_pd(a, b) }
    }
    #[inline(always)]
    unsafe fn sub(a: Self, b: Self) -> Self {
        // SAFETY: the caller's contract.
        unsafe { std::arch::x86_64::_mm512_sub_pd(a, b) }
    }
    #[inline(always)]
    unsafe fn mul(a: Self, b: Self) -> Self {
        // SAFETY: the caller's contract.
        unsafe { std::arch::x86_64::_mm512_mul_pd(a, b) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f64) {
        // SAFETY: the caller's contract.
        unsafe { std::arch::x86_64::_mm512_storeu_pd(p, self) }
    }
}

#[cfg(target_arch = "x86_64")]
impl Lanes for std::arch::x86_64::__m256d {
    const N: usize = NARROW;
    #[inline(always)]
    unsafe fn load(p: *const f64) -> Self {
        // SAFETY: the caller's contract.
        unsafe { std::arch::x86_64::_mm256_loadu_pd(p) }
    }
    #[inline(always)]
    unsafe fn splat(x: f64) -> Self {
        // SAFETY: the caller's contract.
        unsafe { std::arch::x86_64::_mm256_set1_pd(x) }
    }
    #[inline(always)]
    unsafe fn fmadd(a: Self, b: Self, c: Self) -> Self {
        // SAFETY: the caller's contract.
        unsafe { std::arch::x86_64::_mm256_fmadd_pd(a, b, c) }
    }
    #[inline(always)]
    unsafe fn fnmadd(a: Self, b: Self, c: Self) -> Self {
        // SAFETY: the caller's contract.
        unsafe { std::arch::x86_64::_mm256_fnmadd_pd(a, b, c) }
    }
    #[inline(always)]
    unsafe fn add(a: Self, b: Self) -> Self {
        // SAFETY: the caller's contract.
        unsafe { std::arch::x86_64::_mm256_add_pd(a, b) }
    }
    #[inline(always)]
    unsafe fn sub(a: Self, b: Self) -> Self {
        // SAFETY: the caller's contract.
        unsafe { std::arch::x86_64::_mm256_sub_pd(a, b) }
    }
    #[inline(always)]
    unsafe fn mul(a: Self, b: Self) -> Self {
        // SAFETY: the caller's contract.
        unsafe { std::arch::x86_64::_mm256_mul_pd(a, b) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f64) {
        // SAFETY: the caller's contract.
        unsafe { std::arch::x86_64::_mm256_storeu_pd(p, self) }
    }
}

/// Up to `V::N` output channels (one vector, from the kernel's channel `ob` on: `kernel`
/// starts there) of one batch entry of [`small_output`]: a vector accumulator per output cell
/// (`I × J` of them), each step adding one input value (broadcast) times the kernel's vector
/// of channels at that position. `out` holds the channels' `I · J` cells each. With 4-lane
/// vectors (at most [`NARROW`] channels, groups of `NARROW` in the kernel) the FMAs are half as
/// wide — two a cycle on this Zen 4, which takes a cycle for a 512-bit one — and no padding
/// lanes are multiplied.
///
/// # Safety
/// The CPU must support AVX-512F and FMA ([`available`](super::available)).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
unsafe fn small_tile<V: Lanes, const I: usize, const J: usize>(
    image: &[f64],
    kernel: &[f64],
    out: &mut [f64],
    d: SmallDims,
) {
    assert!(image.len() == d.cin * d.rows * d.cols && d.rows >= d.gh + I - 1);
    assert!(d.cols >= d.gw + J - 1 && out.len() <= V::N * I * J && out.len().is_multiple_of(I * J));
    assert!(d.lanes >= V::N);
    let plane = d.gh * d.gw * d.lanes;
    // The last read of the kernel is at (cin − 1)·plane + (gh·gw − 1)·lanes, V::N wide.
    assert!(kernel.len() >= (d.cin - 1) * plane + (d.gh * d.gw - 1) * d.lanes + V::N);
    // SAFETY (of every `Lanes` call here): AVX-512F and FMA, this function's contract.
    let mut acc = [[unsafe { V::splat(0.0) }; J]; I];
    for c in 0..d.cin {
        for y in 0..d.gh {
            let rows = &image[(c * d.rows + y) * d.cols..][..(I - 1) * d.cols + d.gw + J - 1];
            let krow = &kernel[c * plane + y * d.gw * d.lanes..][..(d.gw - 1) * d.lanes + V::N];
            let (rows, krow) = (rows.as_ptr(), krow.as_ptr());
            for x in 0..d.gw {
                // SAFETY: `krow` holds (gw − 1)·lanes + V::N values and x < gw; `rows` holds
                // (I − 1)·cols + gw + J − 1 values, and the largest read is at
                // (I − 1)·cols + (gw − 1) + (J − 1).
                unsafe {
                    let g = V::load(krow.add(x * d.lanes));
                    for (i, acc_i) in acc.iter_mut().enumerate() {
                        let row = rows.add(i * d.cols + x);
                        for (j, a) in acc_i.iter_mut().enumerate() {
                            *a = V::fmadd(V::splat(*row.add(j)), g, *a);
                        }
                    }
                }
            }
        }
    }
    store_tile!(acc, out, I, J);
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn small_tile<V, const I: usize, const J: usize>(
    _: &[f64],
    _: &[f64],
    _: &mut [f64],
    _: SmallDims,
) {
    unreachable!("available() is false off x86_64")
}
