//! Fast reduce: parallel across output cells; every cell folds its fibre in index order with a
//! local accumulator (the reference backend's order, so results are bit-identical).

use super::strided::Nest;
use super::{Work, fill_runs, parallel_for};
use crate::backend::diagnostics::{self as profile, Path};
use crate::backend::ops::with_fold;
use crate::backend::{ReduceOp, reduce_shape};
use crate::error::Result;
use crate::tensor_data::{TensorData, filled};

/// Cells whose packed fibres are folded together (independent dependency chains).
const FIBRES: usize = 8;

/// Folds `op` along `dim`, keeping it with size 1.
pub(super) fn reduce(op: ReduceOp, a: &TensorData, dim: usize) -> Result<TensorData> {
    let out_shape = reduce_shape(a.shape(), dim)?;
    let layout = a.layout();
    let (len, step) = (layout.shape()[dim], layout.strides()[dim]);
    // The output cells form the input's shape with `dim` removed (size 1 is dropped by the nest).
    let mut kept_strides = crate::layout::Dims::new(layout.strides())?;
    kept_strides[dim] = 0;
    let nest = Nest::new(&out_shape, [&kept_strides], [layout.offset()]);
    let (n, [inner]) = (nest.inner_len(), nest.inner_strides());
    let guard = a.storage().read()?;
    let src: &[f64] = &guard;
    let start = op.start();
    let mut out = filled("reduce", out_shape.product(), start, &out_shape)?;
    // Rows of cells that are adjacent in the input accumulate a whole row per step (vectorised,
    // streaming like a contiguous zip: threads from `Work::Contiguous`'s size); otherwise each
    // cell walks its own fibre (`Work::Reduce`).
    let by_rows = inner == 1 && n > 1;
    let parallel = if by_rows && out.len() == n && parallel_for(Work::Contiguous, a.size()) {
        // A single row of cells (a sum over the batch): the threads take column ranges, each
        // folding its columns over every row in the same order as one thread would.
        let [p] = nest.rows_from(0).next_row();
        let chunk = n.div_ceil(rayon::current_num_threads()).next_multiple_of(8);
        with_fold!(op, f => super::team::for_each_chunk_mut(&mut out, chunk, |i, dst| {
            let width = dst.len();
            fold_rows_wide(dst, width, || p + i * chunk, (src, len, step), &f);
        }));
        true
    } else if by_rows {
        with_fold!(op, f => fill_runs(&mut out, n, (Work::Contiguous, a.size()), |chunk, first| {
            let mut cells = nest.rows_from(first / n);
            fold_rows_wide(chunk, n, || cells.next_row()[0], (src, len, step), &f);
        }))
    } else {
        // One fibre per cell; chunks may start mid-row, so step cell by cell. Packed fibres
        // are folded `FIBRES` cells at a time, step k of every fibre together: each cell still
        // folds its own values in index order (bit-identical to the reference), but the
        // independent chains hide the add's latency that a single chain waits on.
        with_fold!(op, f => fill_runs(&mut out, 1, (Work::Reduce, a.size()), |chunk, first| {
            let mut rows = nest.rows_from(first / n);
            let (mut j, mut p) = (first % n, rows.next_row()[0]);
            let mut c = 0;
            while c < chunk.len() {
                if j == n {
                    (j, p) = (0, rows.next_row()[0]);
                }
                if step == 1 && j + FIBRES <= n && c + FIBRES <= chunk.len() {
                    let fibres: [&[f64]; FIBRES] =
                        std::array::from_fn(|l| &src[p + (j + l) * inner..][..len]);
                    let mut acc: [f64; FIBRES] = std::array::from_fn(|l| chunk[c + l]);
                    for k in 0..len {
                        for (a, fibre) in acc.iter_mut().zip(&fibres) {
                            *a = f(*a, fibre[k]);
                        }
                    }
                    chunk[c..c + FIBRES].copy_from_slice(&acc);
                    (c, j) = (c + FIBRES, j + FIBRES);
                    continue;
                }
                let base = p + j * inner;
                chunk[c] = if step == 1 {
                    src[base..base + len].iter().fold(chunk[c], |s, &x| f(s, x))
                } else {
                    (0..len).fold(chunk[c], |s, k| f(s, src[base + k * step]))
                };
                (c, j) = (c + 1, j + 1);
            }
        }))
    };
    let path = if step == 1 {
        Path::Contiguous
    } else {
        Path::Strided
    };
    profile::note(path, parallel);
    Ok(TensorData::packed(out, out_shape))
}

/// Folds `len` input rows into each row of `width` cells of `out`, k in order: the r-th row of
/// cells starts at input position `starts()` (called once per row, in order) and folds
/// `src[start + k · step..][..width]` for k < `len`.
#[inline(always)]
fn fold_rows(
    out: &mut [f64],
    width: usize,
    mut starts: impl FnMut() -> usize,
    (src, len, step): (&[f64], usize, usize),
    f: &impl Fn(f64, f64) -> f64,
) {
    for dst in out.chunks_exact_mut(width) {
        let p = starts();
        for k in 0..len {
            let row = &src[p + k * step..][..width];
            dst.iter_mut()
                .zip(row)
                .for_each(|(acc, &x)| *acc = f(*acc, x));
        }
    }
}

wide_copy! {
    /// [`fold_rows`], in its AVX-512 copy when the CPU has it.
    fn fold_rows_wide = fold_rows(
        out: &mut [f64],
        width: usize,
        starts: impl FnMut() -> usize,
        input: (&[f64], usize, usize),
        f: &impl Fn(f64, f64) -> f64,
    )
}
