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
    let cells = &mut out.spare_capacity_mut()[..n];
    let parallel = fill_runs(cells, block, (Work::Broadcast, n), |chunk, start| {
        for (r, rows) in chunk.chunks_exact_mut(block).enumerate() {
            // Gradient row (b, c, y) of the pooled output.
            let row = start / block + r;
            let (bc, y) = (row / nh, row % nh);
            let at = offset + (bc / c) * strides[0] + (bc % c) * strides[1] + y * strides[2];
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
