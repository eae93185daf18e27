//! The direct kernels' operands, made by the threads that use them: each batch entry padded
//! with zeros ([`Padding`], [`for_each_entry`]) and the weight gradient's "kernel" copied
//! channel-last ([`ChannelsLast`]), each cell written once, into buffers that stay in the
//! core that reads them. Made whole on the calling thread before the kernels ran, these
//! copies took as long as the kernels themselves in an MNIST step (`docs/performance.md`).

use super::super::team;
use super::{LANES, NARROW, PARALLEL_MACS, group_lanes};
use crate::error::Result;
use crate::tensor_data::{TensorData, reserved};
use smallvec::SmallVec;
use std::cell::Cell;
use std::mem::MaybeUninit;
use std::ops::Range;

/// The sizes and strides of a 4-D operand (checked 4-D by `conv2d_shape`).
fn sizes_and_strides(t: &TensorData) -> ([usize; 4], [usize; 4]) {
    let (&[n, c, h, w], &[sn, sc, sh, sw]) = (t.shape(), t.strides()) else {
        unreachable!("conv2d_shape checked 4-D operands, with a stride per dimension")
    };
    ([n, c, h, w], [sn, sc, sh, sw])
}

/// How [`Padding::entry`] copies a 4-D tensor `x` (N, C, H, W) into zero-padded planes.
pub(super) struct Padding<'a> {
    /// `x`'s values from its offset on.
    src: &'a [f64],
    /// `x`'s channels, height and width.
    chw: [usize; 3],
    /// `x`'s strides.
    strides: [usize; 4],
    /// The padded planes' size.
    rows: usize,
    cols: usize,
    /// Where `x`'s first value goes in each plane.
    top: usize,
    left: usize,
}

impl<'a> Padding<'a> {
    /// Copies of `x`'s entries (whose values from its offset on are `src`) padded to `rows` ×
    /// `cols` planes with the values at (`top`, `left`).
    pub(super) fn new(
        x: &TensorData,
        src: &'a [f64],
        (rows, cols): (usize, usize),
        (top, left): (usize, usize),
    ) -> Padding<'a> {
        let ([_, c, h, w], strides) = sizes_and_strides(x);
        Padding {
            src,
            chw: [c, h, w],
            strides,
            rows,
            cols,
            top,
            left,
        }
    }

    /// Channels `planes` of entry `b` of `x`, read through its strides, written into `out`
    /// (cleared first) as zero-padded planes of `rows` × `cols`: each cell once, in order
    /// (zeroing first and copying after measured twice the time).
    pub(super) fn entry(&self, b: usize, planes: Range<usize>, out: &mut Vec<f64>) {
        let [_, h, w] = self.chw;
        let [sn, sc, sh, sw] = self.strides;
        let (rows, cols, top, left) = (self.rows, self.cols, self.top, self.left);
        let zero = MaybeUninit::new(0.0);
        let total = planes.len() * rows * cols;
        out.clear();
        out.reserve(total);
        let cells = &mut out.spare_capacity_mut()[..total];
        for (plane, dst) in planes.zip(cells.chunks_exact_mut(rows * cols)) {
            let start = b * sn + plane * sc;
            let (above, rest) = dst.split_at_mut(top * cols);
            let (body, below) = rest.split_at_mut(h * cols);
            above.fill(zero);
            below.fill(zero);
            for (y, line) in body.chunks_exact_mut(cols).enumerate() {
                let (margin, rest) = line.split_at_mut(left);
                let (values, right) = rest.split_at_mut(w);
                margin.fill(zero);
                right.fill(zero);
                let first = start + y * sh;
                if sw == 1 {
                    for (d, &v) in values.iter_mut().zip(&self.src[first..first + w]) {
                        d.write(v);
                    }
                } else {
                    for (k, d) in values.iter_mut().enumerate() {
                        d.write(self.src[first + k * sw]);
                    }
                }
            }
        }
        // SAFETY: the planes cover all `total` cells, and every cell of each (the rows above
        // and below, and each row's margins and values) was written just above.
        unsafe { out.set_len(total) };
    }
}

thread_local! {
    /// A padded entry, reused from call to call on each thread.
    pub(super) static SCRATCH: Cell<Vec<f64>> = const { Cell::new(Vec::new()) };
    /// A part of the weight gradient's channel-last kernel, likewise.
    pub(super) static PART: Cell<Vec<f64>> = const { Cell::new(Vec::new()) };
}

/// Runs `work(padded, b, piece)` for each batch entry `b` of `x`: `padded` is the entry padded
/// to `rows` × `cols` planes with the values at (`top`, `left`) (into this thread's scratch
/// buffer), and `piece` is the `chunk` cells of a fresh `n`-cell output of shape `shape` for
/// entry `b`, which `work` must fill. On every thread (the team) when the convolution has at
/// least [`PARALLEL_MACS`] multiply-adds: each thread then pads the entries it convolves and
/// writes their cells, so both are in its own core's cache. (Padded whole on the calling
/// thread before the loop, and the output zeroed there, they took as long as the kernels
/// themselves in an MNIST step: `docs/performance.md`.)
///
/// # Safety
/// `work` must write every cell of each `piece` it is given.
pub(super) unsafe fn for_each_entry(
    x: &TensorData,
    plane: (usize, usize),
    corner: (usize, usize),
    (n, shape, chunk, macs): (usize, &[usize], usize, usize),
    work: impl Fn(&[f64], usize, &mut [MaybeUninit<f64>]) + Sync,
) -> Result<Vec<f64>> {
    let guard = x.storage().read()?;
    // The layout's span lies inside the storage (checked when the tensor was made).
    let padding = Padding::new(x, &guard[x.offset()..], plane, corner);
    let fill = |b: usize, piece: &mut [MaybeUninit<f64>]| {
        let mut image = SCRATCH.take();
        padding.entry(b, 0..padding.chw[0], &mut image);
        work(&image, b, piece);
        SCRATCH.set(image);
    };
    let mut out = reserved("conv2d", n, shape)?;
    let cells = &mut out.spare_capacity_mut()[..n];
    if macs >= PARALLEL_MACS && n > chunk {
        // One run of consecutive entries per thread, as the element-wise ops after it split
        // their operands (halves, `collect_chunks`): each thread then finds the entries it
        // reads in its own core's cache.
        let entries = (n / chunk).div_ceil(rayon::current_num_threads());
        team::for_each_chunk_mut(cells, entries * chunk, |k, run| {
            for (e, piece) in run.chunks_mut(chunk).enumerate() {
                fill(k * entries + e, piece);
            }
        });
    } else {
        cells
            .chunks_mut(chunk)
            .enumerate()
            .for_each(|(b, o)| fill(b, o));
    }
    // SAFETY: the pieces cover all n cells (`for_each_chunk_mut` / `chunks_mut` over the whole
    // slice), and `work` wrote every cell of each (this function's contract).
    unsafe { out.set_len(n) };
    Ok(out)
}

/// `cells` set to zero, as the values they now are.
pub(super) fn zero(cells: &mut [MaybeUninit<f64>]) -> &mut [f64] {
    cells.fill(MaybeUninit::new(0.0));
    // SAFETY: every cell was just initialised, and `MaybeUninit<f64>` has the layout of `f64`.
    unsafe { &mut *(cells as *mut [MaybeUninit<f64>] as *mut [f64]) }
}

/// Part `k` of `parts` of the range `0..len` (consecutive, the first ones one longer).
pub(super) fn part(len: usize, parts: usize, k: usize) -> Range<usize> {
    let (each, extra) = (len / parts, len % parts);
    let start = k * each + k.min(extra);
    start..start + each + usize::from(k < extra)
}

/// One (c, y) row channel-last, 8 columns at a time: `O` source rows of `w` values (at
/// `src[start + k·so ..]`, k < `O`) as vectors of 8 columns (the last one loaded masked), each
/// column's `O` values stored as one group of `lanes` cells, the lanes past `O` zero. For at
/// most [`NARROW`] channels (`lanes` = 4) two `vpermt2pd` rounds pair each column's four
/// values and store two columns' groups per 512-bit vector; for more, an 8 × 8 transpose
/// stores one column's group per vector. Every cell of the row's `w` groups is written once.
///
/// # Safety
/// The CPU must have AVX-512F. (The sources lying inside `src`, `O` ≤ `lanes`, `lanes` being
/// `NARROW` or `LANES`, and `row` holding w groups of `lanes` are checked.)
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn channels_last_row<const O: usize>(
    src: &[f64],
    (start, so, w): (usize, usize, usize),
    row: &mut [MaybeUninit<f64>],
    lanes: usize,
) {
    use super::super::transpose::{SIDE, transpose_avx512};
    use std::arch::x86_64::*;
    assert!(O >= 1 && O <= lanes && (lanes == NARROW || lanes == LANES) && w > 0);
    assert!(start + (O - 1) * so + w <= src.len() && row.len() == w * lanes);
    let (src, out) = (
        src.as_ptr().wrapping_add(start),
        row.as_mut_ptr().cast::<f64>(),
    );
    for x in (0..w).step_by(SIDE) {
        let n = (w - x).min(SIDE);
        let mask = ((1u16 << n) - 1) as __mmask8;
        let mut lines = [_mm512_setzero_pd(); SIDE];
        for (k, line) in lines.iter_mut().enumerate().take(O) {
            // SAFETY: source k's columns x + l < x + n ≤ w lie inside `src` (asserted); the
            // masked-off lanes are not read.
            *line = unsafe { _mm512_maskz_loadu_pd(mask, src.add(k * so + x)) };
        }
        if lanes == NARROW {
            // [r0c, r1c, r2c, r3c, r0c', r1c', r2c', r3c'] for columns c, c + 1.
            let columns = interleave4!([lines[0], lines[1], lines[2], lines[3]]);
            for (v, column) in columns.into_iter().enumerate() {
                // Columns x + 2v and x + 2v + 1: the second one's lanes only when it exists.
                let cells = (n.saturating_sub(2 * v)).min(2) * NARROW;
                if cells > 0 {
                    // SAFETY: groups x + 2v .. x + 2v + cells / 4 < x + n ≤ w of `row`.
                    unsafe {
                        _mm512_mask_storeu_pd(
                            out.add((x + 2 * v) * NARROW),
                            ((1u16 << cells) - 1) as __mmask8,
                            column,
                        )
                    };
                }
            }
        } else {
            // SAFETY: AVX-512F (this function's contract).
            let columns = unsafe { transpose_avx512(lines) };
            for (k, column) in columns.into_iter().enumerate().take(n) {
                // SAFETY: group x + k < w of `row`.
                unsafe { _mm512_storeu_pd(out.add((x + k) * LANES), column) };
            }
        }
    }
}

/// How [`ChannelsLast::fill`] copies a 4-D tensor `g` (O, C, H, W), read through its strides,
/// as packed (C, H, W, `lanes`) with the channels past O zero: the (C, H) rows of
/// [`small_output`](fn@super::small_output)'s kernel.
pub(super) struct ChannelsLast<'a> {
    /// `g`'s values from its offset on.
    src: &'a [f64],
    /// `g`'s sizes and strides.
    shape: [usize; 4],
    strides: [usize; 4],
    lanes: usize,
    /// Whether the CPU has AVX-512F (for `transposed_columns`).
    avx512: bool,
}

impl<'a> ChannelsLast<'a> {
    pub(super) fn new(g: &TensorData, src: &'a [f64], lanes: usize) -> ChannelsLast<'a> {
        let (shape, strides) = sizes_and_strides(g);
        // `fill` writes every cell only when each group is the O channels' whole vectors (of
        // NARROW lanes for at most NARROW channels, else of LANES).
        assert_eq!(lanes, group_lanes(shape[0]), "channel-last groups");
        ChannelsLast {
            src,
            shape,
            strides,
            lanes,
            avx512: super::available(),
        }
    }

    /// Cells in one (c, y) row: W groups of `lanes`.
    fn row_len(&self) -> usize {
        self.shape[3] * self.lanes
    }

    /// Rows `first`, `first + 1`, … (row (c, y) is c·H + y) into `dst`, whole rows: for each
    /// column, the O channels' values gathered into one `lanes` group and the group's other
    /// lanes zero, each cell written once, in order (zeroed first and then written channel by
    /// channel, every value went to another line).
    fn fill(&self, first: usize, dst: &mut [MaybeUninit<f64>]) {
        let [o, _, h, w] = self.shape;
        let [so, sc, sh, sw] = self.strides;
        for (r, row) in dst.chunks_exact_mut(self.row_len()).enumerate() {
            let (ci, y) = ((first + r) / h, (first + r) % h);
            let start = ci * sc + y * sh;
            // Packed source rows of at most one vector of channels: 8 columns at a time,
            // transposed in registers.
            #[cfg(target_arch = "x86_64")]
            if sw == 1 && o <= LANES && self.avx512 {
                macro_rules! dispatch {
                    ($($o:literal)*) => {
                        match o {
                            // SAFETY: `avx512` says the CPU has AVX-512F (detected in `new`);
                            // the other conditions are checked by the function.
                            $($o => unsafe {
                                channels_last_row::<$o>(self.src, (start, so, w), row, self.lanes)
                            },)*
                            _ => unreachable!("at most LANES channels"),
                        }
                    };
                }
                dispatch!(1 2 3 4 5 6 7 8);
                continue;
            }
            // The O source rows of this (c, y), each checked once.
            let sources: SmallVec<[&[f64]; LANES]> = (0..o)
                .map(|oi| &self.src[start + oi * so..][..(w - 1) * sw + 1])
                .collect();
            for (x, group) in row.chunks_exact_mut(self.lanes).enumerate() {
                // Each lane written in place, zeros past O (filling the zero lanes as a slice
                // was a `memset` call per group).
                for (k, d) in group.iter_mut().enumerate() {
                    d.write(sources.get(k).map_or(0.0, |source| source[x * sw]));
                }
            }
        }
    }

    /// Rows `rows` into `out` (cleared first).
    pub(super) fn collect(&self, rows: Range<usize>, out: &mut Vec<f64>) {
        let n = rows.len() * self.row_len();
        out.clear();
        out.reserve(n);
        self.fill(rows.start, &mut out.spare_capacity_mut()[..n]);
        // SAFETY: `fill` wrote every cell of the n (whole rows).
        unsafe { out.set_len(n) };
    }

    /// All C·H rows, split across the team when the convolution has at least
    /// [`PARALLEL_MACS`] multiply-adds.
    pub(super) fn all(&self, macs: usize) -> Result<Vec<f64>> {
        let [_, c, h, w] = self.shape;
        let (rows, width) = (c * h, self.row_len());
        let n = rows * width;
        let mut out = reserved("conv2d", n, &[c, h, w, self.lanes])?;
        let cells = &mut out.spare_capacity_mut()[..n];
        if macs >= PARALLEL_MACS && rows > 1 {
            // A few rows per piece: the pieces' lengths are whole rows.
            let per = rows.div_ceil(8);
            team::for_each_chunk_mut(cells, per * width, |i, piece| self.fill(i * per, piece));
        } else {
            self.fill(0, cells);
        }
        // SAFETY: the pieces cover all n cells in whole rows, and `fill` writes every cell of
        // each row.
        unsafe { out.set_len(n) };
        Ok(out)
    }
}
