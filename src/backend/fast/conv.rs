//! Fast 2-D cross-correlation (MiniTorch tasks 4.1 and 4.2; 1-D convolutions arrive as a
//! height of 1), as im2col + the fast batched matmul.
//!
//! For each batch entry the input cells every output cell reads are gathered into a matrix
//! ("im2col"): row (c, i, j) — one kernel tap of one input channel — holds, for every output
//! cell (y, x), the input value at (y ± i, x ± j), or 0 outside the input. The convolution is
//! then one product per batch entry, `weight (Cout, Cin·KH·KW) @ cols (Cin·KH·KW, OH·OW)`,
//! with the weight shared by every batch entry (batch stride 0): the fast matmul's
//! register-tiled kernels do the arithmetic, and the result is already (B, Cout, OH, OW).
//!
//! The gather copies whole runs of cells. When output rows are at least as wide as the kernel
//! (forward passes, the input's gradient) the runs go along the output's x; when the kernel is
//! wider (the weight's gradient, whose "kernel" is a whole image) the matrix is built
//! transposed, (OH·OW, Cin·KH·KW), with runs along the kernel's j, and the product reads it
//! through transposed strides (no copy). Measurements: `docs/performance.md`.

use super::matmul::matmul;
use super::parallel_threshold;
use crate::backend::conv2d_shape;
use crate::error::Result;
use crate::layout::Layout;
use crate::tensor_data::{Storage, TensorData, zeroed};
use rayon::prelude::*;

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

impl Sizes {
    /// Rows of the im2col matrix: one per (channel, tap).
    fn taps(&self) -> usize {
        self.cin * self.kh * self.kw
    }

    /// Columns of the im2col matrix: one per output cell.
    fn cells(&self) -> usize {
        self.oh * self.ow
    }

    /// The input row that output row `y` reads through kernel row `i`, if inside.
    fn source_row(&self, y: usize, i: usize, reverse: bool) -> Option<usize> {
        let row = if reverse { y.checked_sub(i)? } else { y + i };
        (row < self.h).then_some(row)
    }
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
    let (batch, cout) = (is[0], ws[0]);
    let x = input.to_vec()?;
    let (k, p) = (s.taps(), s.cells());
    // The weight as (1, Cout, K), read by every batch entry.
    let w = TensorData::new(weight.to_vec()?, &[1, cout, k])?;
    // Batch entries in groups whose im2col matrices stay near the caches' size: one group for
    // the network's batches of 16, several for batches of hundreds.
    let group = (GROUP_CELLS / (k * p).max(1)).clamp(1, batch);
    if group >= batch {
        return conv_group(&x, &w, s, 0..batch, reverse)?.view(&out_shape);
    }
    let mut out = zeroed("conv2d", out_shape.product(), &out_shape)?;
    let per_entry = cout * p;
    for first in (0..batch).step_by(group) {
        let entries = first..(first + group).min(batch);
        let part = conv_group(&x, &w, s, entries.clone(), reverse)?;
        out[first * per_entry..entries.end * per_entry].copy_from_slice(&part.to_vec()?);
    }
    Ok(TensorData::packed(out, out_shape))
}

/// im2col cells per group of batch entries (2²⁰ values, 8 MB; `docs/performance.md`).
const GROUP_CELLS: usize = 1 << 20;

/// The convolution of batch entries `entries` of the packed input `x`: gather, then one
/// product per entry with the weight `w` (1, Cout, K). Returns (entries, Cout, P).
fn conv_group(
    x: &[f64],
    w: &TensorData,
    s: Sizes,
    entries: std::ops::Range<usize>,
    reverse: bool,
) -> Result<TensorData> {
    let (k, p) = (s.taps(), s.cells());
    let n = entries.len();
    let plane = s.h * s.w;
    let transposed = s.kw > s.ow;
    let mut cols = zeroed("conv2d", n * k * p, &[n, k, p])?;
    let fill = |(b, m): (usize, &mut [f64])| {
        let image = &x[(entries.start + b) * s.cin * plane..][..s.cin * plane];
        if transposed {
            gather_transposed(m, image, s, reverse);
        } else {
            gather(m, image, s, reverse);
        }
    };
    // The gather is memory-bound: threads only for big batches (docs/performance.md).
    if cols.len() >= 4 * parallel_threshold() && n > 1 {
        cols.par_chunks_exact_mut(k * p).enumerate().for_each(fill);
    } else {
        cols.chunks_exact_mut(k * p).enumerate().for_each(fill);
    }
    // cols as (n, K, P): packed, or a transposed view of the packed (n, P, K).
    let cols_layout = if transposed {
        Layout::new(&[n, k, p], &[k * p, 1, k], 0)?
    } else {
        Layout::contiguous(&[n, k, p])?
    };
    let cols = TensorData::from_parts(Storage::new(cols), cols_layout)?;
    matmul(w, &cols, None)
}

/// Fills `m` (K × P, row (c, i, j), column (y, x)) from `image` (Cin × H × W), copying runs
/// along x.
fn gather(m: &mut [f64], image: &[f64], s: Sizes, reverse: bool) {
    if (s.oh, s.ow) == (s.h, s.w) {
        return gather_same_size(m, image, s, reverse);
    }
    let p = s.cells();
    for c in 0..s.cin {
        let channel = &image[c * s.h * s.w..][..s.h * s.w];
        for i in 0..s.kh {
            for j in 0..s.kw {
                let row = &mut m[((c * s.kh + i) * s.kw + j) * p..][..p];
                // Output x reads input x + j (x − j when reverse); the valid x form one run.
                let (x0, x1, shift_left) = if reverse {
                    (j.min(s.ow), (j + s.w).min(s.ow), false)
                } else {
                    (0, s.ow.min(s.w.saturating_sub(j)), true)
                };
                if x0 >= x1 {
                    continue;
                }
                for y in 0..s.oh {
                    let Some(src_row) = s.source_row(y, i, reverse) else {
                        continue;
                    };
                    let src = &channel[src_row * s.w..][..s.w];
                    let dst = &mut row[y * s.ow..][x0..x1];
                    let from = if shift_left { x0 + j } else { x0 - j };
                    dst.copy_from_slice(&src[from..from + (x1 - x0)]);
                }
            }
        }
    }
}

/// [`gather`] when the output has the input's size (every forward pass and the input's
/// gradient): row (c, i, j) is the whole channel shifted by `i·W + j` cells — one long copy —
/// with the cells that wrapped around a row edge set back to 0.
fn gather_same_size(m: &mut [f64], image: &[f64], s: Sizes, reverse: bool) {
    let plane = s.h * s.w;
    for c in 0..s.cin {
        let channel = &image[c * plane..][..plane];
        for i in 0..s.kh {
            for j in 0..s.kw {
                let row = &mut m[((c * s.kh + i) * s.kw + j) * plane..][..plane];
                if i >= s.h || j >= s.w {
                    continue; // the tap reads only outside the input: stays 0
                }
                let shift = i * s.w + j;
                let n = plane - shift;
                if reverse {
                    // out[y][x] = in[y − i][x − j]: the channel moved forward by `shift`.
                    row[shift..].copy_from_slice(&channel[..n]);
                    for y in i..s.h {
                        row[y * s.w..][..j].fill(0.0); // x < j read before the row start
                    }
                } else {
                    // out[y][x] = in[y + i][x + j]: the channel moved back by `shift`.
                    row[..n].copy_from_slice(&channel[shift..]);
                    for y in 0..s.h - i {
                        row[y * s.w + s.w - j..][..j].fill(0.0); // x + j past the row end
                    }
                }
            }
        }
    }
}

/// Fills `m` (P × K, row (y, x), column (c, i, j)) from `image`, copying runs along j (for
/// kernels wider than the output).
fn gather_transposed(m: &mut [f64], image: &[f64], s: Sizes, reverse: bool) {
    let k = s.taps();
    for y in 0..s.oh {
        for x in 0..s.ow {
            let row = &mut m[(y * s.ow + x) * k..][..k];
            for c in 0..s.cin {
                let channel = &image[c * s.h * s.w..][..s.h * s.w];
                for i in 0..s.kh {
                    let Some(src_row) = s.source_row(y, i, reverse) else {
                        continue;
                    };
                    let src = &channel[src_row * s.w..][..s.w];
                    let dst = &mut row[(c * s.kh + i) * s.kw..][..s.kw];
                    if reverse {
                        // Input x − j for j ≤ x, x − j < W: a run read backwards.
                        for (j, d) in dst.iter_mut().enumerate().take(x + 1) {
                            if x - j < s.w {
                                *d = src[x - j];
                            }
                        }
                    } else {
                        // Input x + j for x + j < W.
                        let n = s.kw.min(s.w.saturating_sub(x));
                        dst[..n].copy_from_slice(&src[x..x + n]);
                    }
                }
            }
        }
    }
}
