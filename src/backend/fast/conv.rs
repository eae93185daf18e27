//! Fast 2-D cross-correlation (MiniTorch tasks 4.1 and 4.2; 1-D convolutions arrive as a
//! height of 1): the [direct kernels](super::direct_conv) where they fit (AVX-512 CPUs,
//! kernels up to 7 wide, weight gradients up to 5 × 5), else im2col + the fast batched
//! matmul, described here. `MINITORCH_CONV=im2col` forces the latter, to compare the two
//! (`docs/performance.md`).
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

use super::direct_conv;
use super::matmul::matmul;
use super::parallel_threshold;
use crate::backend::conv2d_shape;
use crate::backend::diagnostics as profile;
use crate::error::Result;
use crate::layout::{Dims, Layout, broadcast_target};
use crate::tensor_data::{Storage, TensorData, zeroed};
use std::sync::OnceLock;

/// The operands' sizes: batch, input channels and size, output channels, kernel size,
/// output size.
#[derive(Clone, Copy)]
pub(super) struct Sizes {
    pub batch: usize,
    pub cin: usize,
    pub h: usize,
    pub w: usize,
    pub cout: usize,
    pub kh: usize,
    pub kw: usize,
    pub oh: usize,
    pub ow: usize,
}

impl Sizes {
    /// The sizes of a call whose operands [`conv2d_shape`] accepted (4-D, channels agreeing).
    fn of(input: &TensorData, weight: &TensorData, out_hw: [usize; 2]) -> Sizes {
        let (is, ws) = (input.shape(), weight.shape());
        Sizes {
            batch: is[0],
            cin: is[1],
            h: is[2],
            w: is[3],
            cout: ws[0],
            kh: ws[2],
            kw: ws[3],
            oh: out_hw[0],
            ow: out_hw[1],
        }
    }

    /// Multiply-adds of the convolution.
    pub fn macs(&self) -> usize {
        self.batch * self.cout * self.cells() * self.taps()
    }

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
    let s = Sizes::of(input, weight, out_hw);
    match direct_kernel(s, reverse) {
        Some(kernel) => direct(kernel, input, weight, s, (reverse, None), out_shape),
        None => im2col(input, weight, s, reverse, out_shape),
    }
}

/// The forward convolution plus `bias` in one pass, when the direct kernel runs it and the
/// bias holds one value per output channel (a convolution layer's (Cout, 1, 1)): each
/// channel's accumulators start from its bias, and no second pass over the output adds it;
/// with `relu`, each tile is also clamped at 0 before it is stored. `None` when it does not
/// apply (the caller convolves, then adds, then applies the ReLU).
pub(super) fn conv2d_add(
    input: &TensorData,
    weight: &TensorData,
    bias: &TensorData,
    relu: bool,
) -> Result<Option<TensorData>> {
    conv2d_shape(input.shape(), weight.shape(), [1, 1])?; // 4-D operands, channels agree
    let hw = [input.shape()[2], input.shape()[3]];
    let out_shape = conv2d_shape(input.shape(), weight.shape(), hw)?;
    broadcast_target("conv2d_add", bias.shape(), &out_shape)?;
    let s = Sizes::of(input, weight, hw);
    let Some(Direct::SameSize) = direct_kernel(s, false) else {
        return Ok(None);
    };
    // One value per channel: stride 0 along the batch, the rows and the columns.
    let spread = bias.layout().broadcast_to(&out_shape)?;
    let &[0, step, 0, 0] = spread.strides() else {
        return Ok(None);
    };
    let values = bias.storage().read()?;
    let start: Vec<f64> = (0..s.cout)
        .map(|o| values[spread.offset() + o * step])
        .collect();
    let epilogue = Some((&start[..], relu));
    direct(
        Direct::SameSize,
        input,
        weight,
        s,
        (false, epilogue),
        out_shape,
    )
    .map(Some)
}

/// The convolution by a direct kernel (the same-size one starting each output channel from
/// a bias, and clamping at 0 when asked, when given `(bias, relu)`).
fn direct(
    kernel: Direct,
    input: &TensorData,
    weight: &TensorData,
    s: Sizes,
    (reverse, epilogue): (bool, Option<(&[f64], bool)>),
    out_shape: Dims,
) -> Result<TensorData> {
    let out = match kernel {
        Direct::SameSize => direct_conv::same_size(input, &weight.to_vec()?, s, reverse, epilogue)?,
        Direct::SmallOutput => direct_conv::small_output(input, weight, s)?,
    };
    profile::note(
        profile::Path::Direct,
        s.macs() >= direct_conv::PARALLEL_MACS,
    );
    Ok(TensorData::packed(out, out_shape))
}

/// The convolution as im2col + the fast batched matmul.
fn im2col(
    input: &TensorData,
    weight: &TensorData,
    s: Sizes,
    reverse: bool,
    out_shape: Dims,
) -> Result<TensorData> {
    let Sizes { batch, cout, .. } = s;
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

/// The direct kernels that fit a call.
enum Direct {
    SameSize,
    SmallOutput,
}

/// Which kernels `MINITORCH_CONV` asks for, to compare them (read once).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Forced {
    /// Unset (or another value): the backend chooses.
    Nothing,
    /// `im2col`: im2col + matmul for every convolution.
    Im2col,
    /// `direct`: the direct tiles, without Winograd's rows (`direct_conv/winograd.rs`).
    Direct,
}

/// What `MINITORCH_CONV` forces.
pub(super) fn forced() -> Forced {
    static FORCED: OnceLock<Forced> = OnceLock::new();
    *FORCED.get_or_init(|| match std::env::var("MINITORCH_CONV").as_deref() {
        Ok("im2col") => Forced::Im2col,
        Ok("direct") => Forced::Direct,
        _ => Forced::Nothing,
    })
}

/// The direct kernel for these sizes, if one fits and the CPU runs it (and
/// `MINITORCH_CONV=im2col` does not ask for im2col, to compare the two).
fn direct_kernel(s: Sizes, reverse: bool) -> Option<Direct> {
    if forced() == Forced::Im2col || !direct_conv::available() {
        return None;
    }
    // Same size: rows narrower than a vector would be mostly padding.
    if (s.oh, s.ow) == (s.h, s.w) && s.kw <= direct_conv::MAX_WIDTH && s.w >= 8 {
        Some(Direct::SameSize)
    } else if !reverse && s.oh <= direct_conv::MAX_SMALL && s.ow <= direct_conv::MAX_SMALL {
        Some(Direct::SmallOutput)
    } else {
        None
    }
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
        super::team::for_each_chunk_mut(&mut cols, k * p, |b, m| fill((b, m)));
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
    matmul(w, &cols, None, false)
}

/// Fills `m` (K × P, row (c, i, j), column (y, x)) from `image` (Cin × H × W), copying runs
/// along x.
fn gather(m: &mut [f64], image: &[f64], s: Sizes, reverse: bool) {
    // Same size: rows narrower than a vector would be mostly padding.
    if (s.oh, s.ow) == (s.h, s.w) && s.kw <= direct_conv::MAX_WIDTH && s.w >= 8 {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::Rng;

    /// A tensor of `shape` with values in [-1, 1), read through a permuted layout when
    /// `permuted` (the data stored with its first two dims swapped).
    fn operand(shape: [usize; 4], permuted: bool, rng: &mut Rng) -> TensorData {
        let n = shape.iter().product();
        let values: Vec<f64> = (0..n).map(|_| 2.0 * rng.uniform() - 1.0).collect();
        if permuted {
            let [a, b, c, d] = shape;
            TensorData::new(values, &[b, a, c, d])
                .unwrap()
                .permute(&[1, 0, 2, 3])
                .unwrap()
        } else {
            TensorData::new(values, &shape).unwrap()
        }
    }

    fn close(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| (x - y).abs() <= 1e-9 * (1.0 + x.abs().max(y.abs())))
    }

    /// Every shape the direct kernels take (channel counts on and off the tile sizes, rows
    /// of one and of several 32-column tiles, kernels up to their limits, 1-D as height 1,
    /// permuted operands) gives im2col's result.
    #[test]
    fn direct_kernels_match_im2col() {
        if !direct_conv::available() {
            eprintln!("skipped: this CPU has no AVX-512F, the direct kernels never run");
            return;
        }
        let mut rng = Rng::seed(7);
        let mut checked = 0;
        for &(b, cin, h, w, cout, kh, kw) in &[
            (2, 1, 5, 8, 1, 1, 1),
            (3, 2, 6, 9, 3, 2, 3),
            (2, 4, 28, 28, 8, 3, 3),
            (1, 5, 4, 40, 9, 3, 7),
            (2, 3, 1, 33, 5, 1, 5),
            (1, 2, 7, 65, 4, 4, 2),
        ] {
            for permuted in [false, true] {
                let x = operand([b, cin, h, w], permuted, &mut rng);
                let wt = operand([cout, cin, kh, kw], permuted, &mut rng);
                let g = operand([b, cout, h, w], permuted, &mut rng);
                let swap = [1, 0, 2, 3];
                // Forward, the input's gradient (reverse) and the weight's gradient.
                let calls = [
                    (x.clone(), wt.clone(), [h, w], false),
                    (g.clone(), wt.permute(&swap).unwrap(), [h, w], true),
                    (
                        x.permute(&swap).unwrap(),
                        g.permute(&swap).unwrap(),
                        [kh, kw],
                        false,
                    ),
                ];
                for (input, weight, out_hw, reverse) in calls {
                    let out_shape = conv2d_shape(input.shape(), weight.shape(), out_hw).unwrap();
                    let s = Sizes::of(&input, &weight, out_hw);
                    let Some(kernel) = direct_kernel(s, reverse) else {
                        continue;
                    };
                    let fast = direct(kernel, &input, &weight, s, (reverse, None), out_shape);
                    let slow = im2col(&input, &weight, s, reverse, out_shape);
                    let (fast, slow) = (
                        fast.unwrap().to_vec().unwrap(),
                        slow.unwrap().to_vec().unwrap(),
                    );
                    assert!(
                        close(&fast, &slow),
                        "{:?} {:?} {out_hw:?} reverse {reverse}",
                        input.shape(),
                        weight.shape()
                    );
                    checked += 1;
                }
            }
        }
        // All but the weight gradient of the 7-wide kernel (its output is wider than 5).
        assert_eq!(checked, 34, "calls that took a direct kernel");
    }
}
