//! Fast backward of a convolution layer with its ReLU: the mask and the bias's gradient in one
//! pass.
//!
//! The default (`backend/conv_backward.rs`) masks the output's gradient with a zip and sums
//! the bias's gradient with two reductions, a second read of the whole masked gradient. Here
//! each thread masks one run of batch entries (the run the forward convolution wrote, so
//! `out` is in its core's cache) and adds up each (entry, channel) plane of the values it
//! writes; the planes' sums are then added over the batch in order. The convolutions run
//! unchanged on the masked gradient. Each plane is summed in 32 interleaved lanes (then
//! those, in order), not value by value as the reduction does, so the bias's gradient can
//! differ from the default's in the last bits. When the layer is followed by average pooling
//! ([`conv2d_add_relu_avgpool_backward`]) the pass reads the pooled gradient itself, each row
//! of it spread once over its kh rows of the mask, and the spread gradient (as large as the
//! layer's output) is never written. Measurements: `docs/performance.md`.

use super::{FastOps, Work, parallel_for, team};
use crate::backend::conv_backward::{
    conv2d_add_relu_backward_by_parts, conv2d_grads, relu_backward_shape,
};
use crate::backend::diagnostics::{self as profile, Path};
use crate::backend::pooling::unpool2d_shape;
use crate::error::Result;
use crate::layout::Dims;
use crate::operators::relu_back;
use crate::tensor_data::{TensorData, reserved};
use std::mem::MaybeUninit;

/// Lanes of the partial sums of one plane.
const LANES: usize = 32;

/// Fast [`conv2d_add_relu_backward`](crate::backend::TensorOps::conv2d_add_relu_backward):
/// the one-pass mask and sums when `out` and `grad` are packed and the bias's gradient is
/// asked for, else the default.
pub(super) fn conv2d_add_relu_backward(
    input: &TensorData,
    weight: &TensorData,
    out: &TensorData,
    grad: &TensorData,
    needs: [bool; 3],
) -> Result<[Option<TensorData>; 3]> {
    if !(needs[2] && out.is_contiguous() && grad.is_contiguous() && out.size() > 0) {
        return conv2d_add_relu_backward_by_parts(&FastOps, input, weight, out, grad, needs);
    }
    let shape = relu_backward_shape(input, weight, out, grad)?;
    masked_backward(input, weight, (out, grad), (shape, None), needs)
}

/// Fast [`conv2d_add_relu_avgpool_backward`](crate::backend::TensorOps::conv2d_add_relu_avgpool_backward):
/// the one-pass mask reading the pooled gradient when `out` and `grad` are packed, `grad` is
/// `out`'s shape pooled by `kernel` and the bias's gradient is asked for; else the pooling's
/// gradient, then [`conv2d_add_relu_backward`].
pub(super) fn conv2d_add_relu_avgpool_backward(
    input: &TensorData,
    weight: &TensorData,
    out: &TensorData,
    grad: &TensorData,
    (kernel, needs): ([usize; 2], [bool; 3]),
) -> Result<[Option<TensorData>; 3]> {
    let (_, spread) = unpool2d_shape(grad.shape(), kernel)?;
    if !(needs[2] && out.is_contiguous() && grad.is_contiguous() && out.size() > 0)
        || out.shape() != spread
    {
        let spread = super::pool::avgpool2d_backward(grad, kernel)?;
        return conv2d_add_relu_backward(input, weight, out, &spread, needs);
    }
    // (`out` against itself: `grad`'s shape, spread, is `out`'s.)
    let shape = relu_backward_shape(input, weight, out, out)?;
    masked_backward(input, weight, (out, grad), (shape, Some(kernel)), needs)
}

/// The one-pass mask and sums, then the two convolutions: `out` and `grad` packed, `out` of
/// the convolution's shape (B, C, H, W) and `grad` of that shape or, with `pooled`, of that
/// shape pooled by that kernel (all checked by the callers).
fn masked_backward(
    input: &TensorData,
    weight: &TensorData,
    (out, grad): (&TensorData, &TensorData),
    ([b, c, h, w], pooled): ([usize; 4], Option<[usize; 2]>),
    needs: [bool; 3],
) -> Result<[Option<TensorData>; 3]> {
    let plane = h * w;
    let n = b * c * plane;
    // The gradient's values per plane: `plane`, or the pooled plane's.
    let [kh, kw] = pooled.unwrap_or([1, 1]);
    let grad_plane = plane / (kh * kw);
    let (guard_out, guard_grad) = (out.storage().read()?, grad.storage().read()?);
    // Packed, so their values are the n (and b·c·grad_plane) from their offsets (spans
    // checked at construction).
    let (so, sg) = (
        &guard_out[out.offset()..][..n],
        &guard_grad[grad.offset()..][..b * c * grad_plane],
    );
    let mut values = reserved("conv2d_add_relu_backward", n, out.shape())?;
    let mut plane_sums = vec![0.0; b * c];
    let cells = &mut values.spare_capacity_mut()[..n];
    let parallel = parallel_for(Work::Contiguous, n) && b > 1;
    let runs = if parallel {
        rayon::current_num_threads().min(b)
    } else {
        1
    };
    // Entries per run; a run's cells and its planes' sums.
    let per = b.div_ceil(runs);
    let run_cells = per * c * plane;
    let mut jobs: Vec<(&mut [MaybeUninit<f64>], &mut [f64])> = cells
        .chunks_mut(run_cells)
        .zip(plane_sums.chunks_mut(per * c))
        .collect();
    let scale = 1.0 / (kh * kw) as f64;
    team::for_each_chunk_mut(&mut jobs, 1, |k, job| {
        // One pooled row spread over the width (reused for every row of the run).
        let mut row = if pooled.is_some() {
            vec![0.0; w]
        } else {
            Vec::new()
        };
        for (cells, sums) in job.iter_mut() {
            for (p, (dst, sum)) in cells.chunks_mut(plane).zip(sums.iter_mut()).enumerate() {
                let first = k * per * c + p;
                let at = first * plane;
                let o = &so[at..at + plane];
                let g = &sg[first * grad_plane..(first + 1) * grad_plane];
                *sum = if pooled.is_some() {
                    mask_pooled_plane_wide(dst, o, g, &mut row, [kh, kw], scale)
                } else {
                    mask_plane_wide(dst, o, g)
                };
            }
        }
    });
    drop(jobs);
    // SAFETY: the runs' cells cover all n (chunks of `cells`), and the mask functions wrote
    // every cell of each plane of each run.
    unsafe { values.set_len(n) };
    profile::note(Path::Contiguous, parallel);
    let masked = TensorData::packed(values, Dims::new(out.shape())?);
    let sums: Vec<f64> = (0..c)
        .map(|ch| (0..b).fold(0.0, |s, e| s + plane_sums[e * c + ch]))
        .collect();
    let [grad_input, grad_weight] =
        conv2d_grads(&FastOps, input, weight, &masked, [needs[0], needs[1]])?;
    Ok([
        grad_input,
        grad_weight,
        Some(TensorData::new(sums, &[1, c, 1, 1])?),
    ])
}

/// `dst[i] = relu_back(out[i], grad[i])` over one plane; returns the sum of the values
/// written, in `LANES` interleaved partial sums added in order, then the tail.
#[inline(always)]
fn mask_plane(dst: &mut [MaybeUninit<f64>], out: &[f64], grad: &[f64]) -> f64 {
    let mut lanes = [0.0; LANES];
    let whole = dst.len() / LANES * LANES;
    let (body, tail) = dst.split_at_mut(whole);
    for ((d, o), g) in body
        .chunks_exact_mut(LANES)
        .zip(out.chunks_exact(LANES))
        .zip(grad.chunks_exact(LANES))
    {
        for (l, acc) in lanes.iter_mut().enumerate() {
            let v = relu_back(o[l], g[l]);
            d[l].write(v);
            *acc += v;
        }
    }
    let mut sum = 0.0;
    for acc in lanes {
        sum += acc;
    }
    for ((d, &o), &g) in tail.iter_mut().zip(&out[whole..]).zip(&grad[whole..]) {
        let v = relu_back(o, g);
        d.write(v);
        sum += v;
    }
    sum
}

wide_copy! {
    /// [`mask_plane`], in its AVX-512 copy when the CPU has it.
    fn mask_plane_wide = mask_plane(dst: &mut [MaybeUninit<f64>], out: &[f64], grad: &[f64]) -> f64
}

/// [`mask_plane`] with the plane's gradient read from its pooled plane `pooled` (H/kh × W/kw
/// values, `row.len()` = W): each pooled row spread into `row` (each value times `scale`,
/// over its kw columns), then masked into its kh rows; returns the sum of the values
/// written, in `LANES` interleaved partial sums (by column, for each group of 32 columns of
/// each row) added in order.
#[inline(always)]
fn mask_pooled_plane(
    dst: &mut [MaybeUninit<f64>],
    out: &[f64],
    pooled: &[f64],
    row: &mut [f64],
    [kh, kw]: [usize; 2],
    scale: f64,
) -> f64 {
    let w = row.len();
    let mut lanes = [0.0; LANES];
    for ((dst, out), pooled) in dst
        .chunks_exact_mut(kh * w)
        .zip(out.chunks_exact(kh * w))
        .zip(pooled.chunks_exact(w / kw))
    {
        for (cells, &v) in row.chunks_exact_mut(kw).zip(pooled) {
            cells.fill(v * scale);
        }
        for (d, o) in dst.chunks_exact_mut(w).zip(out.chunks_exact(w)) {
            for ((d, o), g) in d
                .chunks_mut(LANES)
                .zip(o.chunks(LANES))
                .zip(row.chunks(LANES))
            {
                for (l, ((d, &o), &g)) in d.iter_mut().zip(o).zip(g).enumerate() {
                    let v = relu_back(o, g);
                    d.write(v);
                    lanes[l] += v;
                }
            }
        }
    }
    let mut sum = 0.0;
    for acc in lanes {
        sum += acc;
    }
    sum
}

wide_copy! {
    /// [`mask_pooled_plane`], in its AVX-512 copy when the CPU has it.
    fn mask_pooled_plane_wide = mask_pooled_plane(
        dst: &mut [MaybeUninit<f64>],
        out: &[f64],
        pooled: &[f64],
        row: &mut [f64],
        kernel: [usize; 2],
        scale: f64,
    ) -> f64
}
