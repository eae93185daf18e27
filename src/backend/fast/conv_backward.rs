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
//! differ from the default's in the last bits. Measurements: `docs/performance.md`.

use super::{FastOps, Work, parallel_for, team};
use crate::backend::conv_backward::{
    conv2d_add_relu_backward_by_parts, conv2d_grads, relu_backward_shape,
};
use crate::backend::diagnostics::{self as profile, Path};
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
    let [b, c, h, w] = relu_backward_shape(input, weight, out, grad)?;
    let plane = h * w;
    let n = b * c * plane;
    let (guard_out, guard_grad) = (out.storage().read()?, grad.storage().read()?);
    // Packed, so their values are the n from their offsets (spans checked at construction).
    let (so, sg) = (
        &guard_out[out.offset()..][..n],
        &guard_grad[grad.offset()..][..n],
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
    team::for_each_chunk_mut(&mut jobs, 1, |k, job| {
        for (cells, sums) in job.iter_mut() {
            let first = k * run_cells;
            for (p, (dst, sum)) in cells.chunks_mut(plane).zip(sums.iter_mut()).enumerate() {
                let at = first + p * plane;
                *sum = mask_plane_wide(dst, &so[at..at + plane], &sg[at..at + plane]);
            }
        }
    });
    drop(jobs);
    // SAFETY: the runs' cells cover all n (chunks of `cells`), and `mask_plane` wrote every
    // cell of each plane of each run.
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
