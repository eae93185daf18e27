//! Fast average pooling, forward and backward, one pass each.
//!
//! The reference builds `avgpool2d` from two reductions and a scaling (`backend/pooling.rs`),
//! three passes with a (B, C, H/kh, W/kw, kw) intermediate; its gradient is a scaling and a
//! broadcast over a six-dimensional view. Here each output row of W/kw means reads its kh input
//! rows once: they are added as whole rows of W values (one vector loop), then each kw
//! neighbours, then scaled — the reference's additions in the reference's order (from 0, kh
//! first, then kw), so the values are the same bit for bit. The gradient writes each input row
//! once: the row's W values from the gradient's row of W/kw, then copies of it for the block's
//! other kh − 1 rows. Measurements: `docs/performance.md`, "Pooling in one pass".

use super::{Work, elementwise, fill_runs};
use crate::backend::MapOp;
use crate::backend::diagnostics::{self as profile, Path};
use crate::backend::pooling::{pool2d_shape, unpool2d_shape};
use crate::error::Result;
use crate::layout::Dims;
use crate::tensor_data::{TensorData, reserved};
use std::mem::MaybeUninit;

/// f64 lanes of an AVX-512 vector.
#[cfg(target_arch = "x86_64")]
const LANES: usize = 8;

/// Fast [`avgpool2d`](crate::backend::TensorOps::avgpool2d).
pub(super) fn avgpool2d(input: &TensorData, kernel: [usize; 2]) -> Result<TensorData> {
    let out_shape = pool2d_shape("avgpool2d", input.shape(), kernel)?;
    if !input.is_contiguous() {
        let packed = elementwise::map(MapOp::Id, input, input.shape())?;
        return avgpool2d(&packed, kernel);
    }
    let [_, _, _, nw] = out_shape;
    let [kh, kw] = kernel;
    let width = nw * kw;
    let n: usize = out_shape.iter().product();
    let mut out = reserved("avgpool2d", n, &out_shape)?;
    if n == 0 {
        return TensorData::new(out, &out_shape);
    }
    let scale = 1.0 / (kh * kw) as f64;
    let avx512 = vectors(kw);
    let guard = input.storage().read()?;
    // Packed, so its values are the `size` from its offset (the span was checked when the
    // tensor was made).
    let src = &guard[input.offset()..][..input.size()];
    let cells = &mut out.spare_capacity_mut()[..n];
    let parallel = fill_runs(
        cells,
        nw,
        (Work::Contiguous, input.size()),
        |chunk, start| {
            let first = start / nw;
            let rows = &src[first * kh * width..][..chunk.len() * kh * kw];
            #[cfg(target_arch = "x86_64")]
            if avx512 {
                // SAFETY: AVX-512F detected below; kw is 1, 2 or 4 (`avx512`'s condition).
                unsafe {
                    match kw {
                        1 => pool_rows_avx512::<1>(chunk, rows, kh, nw, scale),
                        2 => pool_rows_avx512::<2>(chunk, rows, kh, nw, scale),
                        _ => pool_rows_avx512::<4>(chunk, rows, kh, nw, scale),
                    }
                }
                return;
            }
            let mut sums = vec![0.0; width];
            pool_rows_wide(chunk, rows, &mut sums, kh, kw, scale);
        },
    );
    // SAFETY: `fill_runs` hands out chunks covering all `n` cells, and `pool_rows` writes
    // every cell of its chunk (one per group of kw sums, nw per output row).
    unsafe { out.set_len(n) };
    profile::note(Path::Direct, parallel);
    Ok(TensorData::packed(out, Dims::new(&out_shape)?))
}

/// Output rows of `out.len() / nw` means from `rows`, their kh input rows each (W = `sums.len()`
/// values per input row): `sums` gets each column's sum over kh, from 0 in row order; each
/// output cell the sum of its kw sums, from 0, times `scale`. `KW` is kw when it is 2 or 4
/// (the loops then unroll; 0 for any other, read from `kw`).
#[inline(always)]
fn pool_rows<const KW: usize>(
    out: &mut [MaybeUninit<f64>],
    rows: &[f64],
    sums: &mut [f64],
    kh: usize,
    kw: usize,
    scale: f64,
) {
    let kw = if KW == 0 { kw } else { KW };
    let width = sums.len();
    let nw = width / kw;
    for (dst, block) in out.chunks_exact_mut(nw).zip(rows.chunks_exact(kh * width)) {
        sums.fill(0.0);
        for row in block.chunks_exact(width) {
            for (s, &x) in sums.iter_mut().zip(row) {
                *s += x;
            }
        }
        for (o, group) in dst.iter_mut().zip(sums.chunks_exact(kw)) {
            let mut total = 0.0;
            for &s in group {
                total += s;
            }
            o.write(total * scale);
        }
    }
}

/// [`pool_rows`] for the kernel's width.
#[inline(always)]
fn pool_rows_any(
    out: &mut [MaybeUninit<f64>],
    rows: &[f64],
    sums: &mut [f64],
    kh: usize,
    kw: usize,
    scale: f64,
) {
    match kw {
        2 => pool_rows::<2>(out, rows, sums, kh, kw, scale),
        4 => pool_rows::<4>(out, rows, sums, kh, kw, scale),
        _ => pool_rows::<0>(out, rows, sums, kh, kw, scale),
    }
}

wide_copy! {
    /// [`pool_rows_any`], in its AVX-512 copy when the CPU has it.
    fn pool_rows_wide = pool_rows_any(
        out: &mut [MaybeUninit<f64>],
        rows: &[f64],
        sums: &mut [f64],
        kh: usize,
        kw: usize,
        scale: f64,
    )
}

/// Fast [`avgpool2d_backward`](crate::backend::TensorOps::avgpool2d_backward): `grad` in any
/// layout (a broadcast one included), read through its strides.
pub(super) fn avgpool2d_backward(grad: &TensorData, kernel: [usize; 2]) -> Result<TensorData> {
    let ([_, c, nh, nw], out_shape) = unpool2d_shape(grad.shape(), kernel)?;
    let [kh, kw] = kernel;
    let width = nw * kw;
    let n: usize = out_shape.iter().product();
    let mut out = reserved("avgpool2d_backward", n, &out_shape)?;
    if n == 0 {
        return TensorData::new(out, &out_shape);
    }
    let scale = 1.0 / (kh * kw) as f64;
    let guard = grad.storage().read()?;
    let src: &[f64] = &guard;
    let (offset, strides) = (grad.offset(), grad.strides());
    let block = kh * width;
    let avx512 = vectors(kw) && strides[3] == 1;
    let cells = &mut out.spare_capacity_mut()[..n];
    let parallel = fill_runs(cells, block, (Work::Broadcast, n), |chunk, start| {
        for (r, rows) in chunk.chunks_exact_mut(block).enumerate() {
            // Gradient row (b, c, y) of the pooled output.
            let row = start / block + r;
            let (bc, y) = (row / nh, row % nh);
            let at = offset + (bc / c) * strides[0] + (bc % c) * strides[1] + y * strides[2];
            #[cfg(target_arch = "x86_64")]
            if avx512 {
                // SAFETY: AVX-512F detected; kw is 1, 2 or 4 (`avx512`'s condition). The
                // gradient's row of nw values lies at `at` with stride 1 (inside the storage:
                // the layout's span was checked when the tensor was made).
                unsafe {
                    let grads = &src[at..][..nw];
                    match kw {
                        1 => unpool_rows_avx512::<1>(rows, grads, kh, scale),
                        2 => unpool_rows_avx512::<2>(rows, grads, kh, scale),
                        _ => unpool_rows_avx512::<4>(rows, grads, kh, scale),
                    }
                }
                continue;
            }
            let (first, rest) = rows.split_at_mut(width);
            for (x, cells) in first.chunks_exact_mut(kw).enumerate() {
                let v = src[at + x * strides[3]] * scale;
                for o in cells {
                    o.write(v);
                }
            }
            for dst in rest.chunks_exact_mut(width) {
                dst.copy_from_slice(first);
            }
        }
    });
    // SAFETY: `fill_runs` hands out chunks of whole blocks covering all `n` cells; each
    // block's first row is written cell by cell and its other rows are copies of it.
    unsafe { out.set_len(n) };
    profile::note(Path::Direct, parallel);
    Ok(TensorData::packed(out, Dims::new(&out_shape)?))
}

/// True when this CPU runs the AVX-512 pooling loops, for kernels `kw` wide: 1, 2 or 4 (a
/// vector of 8 columns then holds whole blocks).
fn vectors(kw: usize) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        matches!(kw, 1 | 2 | 4) && std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = kw;
        false
    }
}

/// [`pool_rows`] for kernels `KW` (1, 2 or 4) wide with AVX-512, 8 output cells at a time:
/// their `KW` vectors of columns summed over the kh rows in registers (from 0, in row
/// order), then each cell's `KW` sums gathered into lane order (`vpermt2pd`) and added (from
/// 0, in column order) — the reference's additions, so the same values bit for bit.
///
/// # Safety
/// The CPU must have AVX-512F. (`rows` holding `out.len() / nw` blocks of kh rows of
/// nw·`KW` values is checked.)
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn pool_rows_avx512<const KW: usize>(
    out: &mut [MaybeUninit<f64>],
    rows: &[f64],
    kh: usize,
    nw: usize,
    scale: f64,
) {
    use std::arch::x86_64::*;
    let width = nw * KW;
    assert!(matches!(KW, 1 | 2 | 4) && nw > 0 && out.len().is_multiple_of(nw));
    assert_eq!(rows.len(), out.len() / nw * kh * width);
    // Lane j of sum k is column KW·j + k of the cells' 8·KW columns: for KW = 4 the low four
    // lanes from the first two vectors and the high four from the last two (blended).
    // (A loop, not `array::from_fn`: closures are not compiled with this function's target
    // features.)
    let mut indices = [_mm512_setzero_si512(); KW];
    for (k, index) in indices.iter_mut().enumerate() {
        let mut lanes = [0i64; LANES];
        for (j, lane) in lanes.iter_mut().enumerate() {
            *lane = ((KW * j + k) % 16) as i64;
        }
        // SAFETY: `lanes` holds 8 values.
        *index = unsafe { _mm512_loadu_epi64(lanes.as_ptr()) };
    }
    let scale = _mm512_set1_pd(scale);
    for (dst, block) in out.chunks_exact_mut(nw).zip(rows.chunks_exact(kh * width)) {
        for first in (0..nw).step_by(LANES) {
            let cells = (nw - first).min(LANES);
            let mut sums = [_mm512_setzero_pd(); KW];
            for row in block.chunks_exact(width) {
                for (v, sum) in sums.iter_mut().enumerate() {
                    let at = first * KW + v * LANES;
                    let lanes = (cells * KW).saturating_sub(v * LANES).min(LANES);
                    let mask = ((1u16 << lanes) - 1) as __mmask8;
                    // SAFETY: the mask enables columns at + l < (first + cells)·KW ≤ width
                    // only (masked-off lanes are not read).
                    let x = unsafe { _mm512_maskz_loadu_pd(mask, row.as_ptr().add(at)) };
                    *sum = _mm512_add_pd(*sum, x);
                }
            }
            let mut total = _mm512_setzero_pd();
            for index in indices {
                let k = match KW {
                    1 => sums[0],
                    2 => _mm512_permutex2var_pd(sums[0], index, sums[1]),
                    _ => _mm512_mask_blend_pd(
                        0xF0,
                        _mm512_permutex2var_pd(sums[0], index, sums[1]),
                        _mm512_permutex2var_pd(sums[2], index, sums[3]),
                    ),
                };
                total = _mm512_add_pd(total, k);
            }
            let mask = ((1u16 << cells) - 1) as __mmask8;
            // SAFETY: the mask enables cells first + l < nw = dst.len() only.
            unsafe {
                _mm512_mask_storeu_pd(
                    dst.as_mut_ptr().add(first).cast::<f64>(),
                    mask,
                    _mm512_mul_pd(total, scale),
                )
            };
        }
    }
}

/// One block of [`avgpool2d_backward`] for kernels `KW` (1, 2 or 4) wide with AVX-512: the
/// gradient's row `grads` (nw values) times `scale`, each value spread over its `KW` columns
/// (`vpermpd`), stored into each of the block's kh rows.
///
/// # Safety
/// The CPU must have AVX-512F. (`rows` holding kh rows of nw·`KW` cells is checked.)
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn unpool_rows_avx512<const KW: usize>(
    rows: &mut [MaybeUninit<f64>],
    grads: &[f64],
    kh: usize,
    scale: f64,
) {
    use std::arch::x86_64::*;
    let nw = grads.len();
    let width = nw * KW;
    assert!(matches!(KW, 1 | 2 | 4) && rows.len() == kh * width);
    let scale = _mm512_set1_pd(scale);
    for first in (0..nw).step_by(LANES) {
        let cells = (nw - first).min(LANES);
        let mask = ((1u16 << cells) - 1) as __mmask8;
        // SAFETY: the mask enables values first + l < nw = grads.len() only.
        let g = unsafe { _mm512_maskz_loadu_pd(mask, grads.as_ptr().add(first)) };
        let g = _mm512_mul_pd(g, scale);
        for v in 0..KW {
            // Lane l of vector v is column 8v + l of the cells' 8·KW: value (8v + l) / KW.
            let mut lanes = [0i64; LANES];
            for (l, lane) in lanes.iter_mut().enumerate() {
                *lane = ((LANES * v + l) / KW) as i64;
            }
            // SAFETY: `lanes` holds 8 values.
            let spread = _mm512_permutexvar_pd(unsafe { _mm512_loadu_epi64(lanes.as_ptr()) }, g);
            let at = first * KW + v * LANES;
            let lanes = (cells * KW).saturating_sub(v * LANES).min(LANES);
            if lanes == 0 {
                continue;
            }
            let mask = ((1u16 << lanes) - 1) as __mmask8;
            for row in rows.chunks_exact_mut(width) {
                // SAFETY: the mask enables columns at + l < (first + cells)·KW ≤ width only.
                unsafe {
                    _mm512_mask_storeu_pd(row.as_mut_ptr().add(at).cast::<f64>(), mask, spread)
                };
            }
        }
    }
}
