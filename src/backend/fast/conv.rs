//! Fast 2-D cross-correlation (MiniTorch tasks 4.1 and 4.2; 1-D convolutions arrive as a
//! height of 1): a direct kernel over packed copies of the operands, one output plane
//! (batch b, output channel o) at a time, planes spread over the threads when the work pays.
//!
//! Each plane accumulates, for every input channel and kernel tap, one of two loop shapes,
//! chosen by which is longer:
//!
//! - *axpy*: the output row is at least as wide as the kernel (forward passes, the input's
//!   gradient): `out[y][x..] += w[i][j] · in[y±i][x±j..]`, a vectorised row update per tap;
//! - *dot*: the kernel is wider than the output row (the weight's gradient, whose "kernel" is
//!   a whole image): `out[y][x] += Σ_j w[i][j] · in[y+i][x+j]`, a vectorised dot product.
//!
//! im2col + GEMM was measured against this on the MNIST network's shapes: the channel counts
//! (1–8) make its matrices too thin for GEMM to pay for the copy (`docs/performance.md`).

use super::fill_chunks;
use crate::backend::conv2d_shape;
use crate::backend::diagnostics::{self as profile, Path};
use crate::error::Result;
use crate::tensor_data::{TensorData, zeroed};

/// The operands' sizes.
#[derive(Clone, Copy)]
struct Sizes {
    cin: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    oh: usize,
    ow: usize,
}

/// See [`TensorOps::conv2d`](crate::backend::TensorOps::conv2d).
pub(super) fn conv2d(
    input: &TensorData,
    weight: &TensorData,
    out_hw: [usize; 2],
    reverse: bool,
) -> Result<TensorData> {
    let out_shape = conv2d_shape(input.shape(), weight.shape(), out_hw)?;
    let (is, ws) = (input.shape(), weight.shape());
    let s = Sizes {
        cin: is[1],
        h: is[2],
        w: is[3],
        kh: ws[2],
        kw: ws[3],
        oh: out_hw[0],
        ow: out_hw[1],
    };
    // Packed copies (cheap next to the arithmetic): every later index is plain row-major.
    let (x, k) = (input.to_vec()?, weight.to_vec()?);
    let cout = ws[0];
    let plane = s.oh * s.ow;
    let mut out = zeroed("conv2d", out_shape.product(), &out_shape)?;
    let work = out_shape.product() * s.cin * s.kh * s.kw;
    let parallel = fill_chunks(&mut out, plane, work, |chunk, first| {
        for (n, dst) in chunk.chunks_exact_mut(plane).enumerate() {
            let (b, o) = ((first / plane + n) / cout, (first / plane + n) % cout);
            for c in 0..s.cin {
                let src = &x[(b * s.cin + c) * s.h * s.w..][..s.h * s.w];
                let taps = &k[(o * s.cin + c) * s.kh * s.kw..][..s.kh * s.kw];
                accumulate(dst, src, taps, s, reverse);
            }
        }
    });
    profile::note(Path::Contiguous, parallel);
    Ok(TensorData::packed(out, out_shape))
}

/// `dst` (oh × ow) += the cross-correlation of one input channel `src` (h × w) with one kernel
/// `taps` (kh × kw).
fn accumulate(dst: &mut [f64], src: &[f64], taps: &[f64], s: Sizes, reverse: bool) {
    for y in 0..s.oh {
        let out_row = &mut dst[y * s.ow..][..s.ow];
        for i in 0..s.kh {
            let row = if reverse {
                y.checked_sub(i)
            } else {
                Some(y + i)
            };
            let Some(row) = row.filter(|&r| r < s.h) else {
                continue;
            };
            let in_row = &src[row * s.w..][..s.w];
            let w_row = &taps[i * s.kw..][..s.kw];
            match (reverse, s.ow >= s.kw) {
                (false, true) => axpy_row(out_row, in_row, w_row),
                (false, false) => dot_row(out_row, in_row, w_row),
                (true, _) => reverse_row(out_row, in_row, w_row),
            }
        }
    }
}

/// `out[x] += Σ_j w[j] · in[x + j]`, one tap at a time (long output rows).
#[inline]
fn axpy_row(out: &mut [f64], input: &[f64], w: &[f64]) {
    for (j, &wv) in w.iter().enumerate() {
        if j >= input.len() {
            break;
        }
        let n = out.len().min(input.len() - j);
        out[..n]
            .iter_mut()
            .zip(&input[j..j + n])
            .for_each(|(o, &v)| *o += wv * v);
    }
}

/// `out[x] += Σ_j w[j] · in[x + j]`, one output cell at a time (wide kernels).
#[inline]
fn dot_row(out: &mut [f64], input: &[f64], w: &[f64]) {
    for (x, o) in out.iter_mut().enumerate() {
        if x >= input.len() {
            break;
        }
        let n = w.len().min(input.len() - x);
        *o += w[..n]
            .iter()
            .zip(&input[x..x + n])
            .map(|(&a, &b)| a * b)
            .sum::<f64>();
    }
}

/// `out[x] += Σ_j w[j] · in[x − j]` (the reverse mode of the input's gradient).
#[inline]
fn reverse_row(out: &mut [f64], input: &[f64], w: &[f64]) {
    for (j, &wv) in w.iter().enumerate() {
        // x − j in 0..input.len() ⇔ x in j..j + input.len().
        if j >= out.len() {
            break;
        }
        let end = out.len().min(j + input.len());
        out[j..end]
            .iter_mut()
            .zip(input)
            .for_each(|(o, &v)| *o += wv * v);
    }
}
