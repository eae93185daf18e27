//! Fast map and zip: one monomorphised loop per op and layout case.

use super::strided::Nest;
use super::transpose;
use super::{Work, collect_chunks, fill_chunks, parallel_for};
use crate::backend::diagnostics::{self as profile, Path};
use crate::backend::ops::{with_map_fn, with_zip_fn};
use crate::backend::simple::{self, SimpleOps};
use crate::backend::{MapOp, TensorOps, ZipOp};
use crate::error::Result;
use crate::layout::{broadcast_target, shape_broadcast_for};
use crate::tensor_data::{TensorData, reserved};
use std::mem::MaybeUninit;

/// Outputs smaller than this skip the strided machinery (layout broadcasting, dimension
/// merging), which costs more than the reference kernel's plain loop at that size
/// (measurements in `docs/performance.md`).
const TINY: usize = 64;

/// Rows per tile when an operand is read with a stride along the inner loop: 8 f64 fill a
/// cache line, so a transposed operand's line is used whole.
const TILE_ROWS: usize = transpose::SIDE;

/// Columns ahead that a tiled walk asks the cache for: a transposed operand's next lines are a
/// row apart, too far for the hardware prefetcher, so each would be a demand miss.
const PREFETCH: usize = 16;

/// Asks the cache for the line holding `x` (a hint: no effect on results), into the core's
/// level-2 cache: with the level-1 hint (`T0`) a zip of two transposed operands, 64 lines
/// ahead at a time, took 1.2–1.3× as long (`docs/performance.md`).
#[inline(always)]
fn prefetch(x: &f64) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch only hints the cache; `x` is a valid reference, and SSE (which the
    // instruction needs) is part of every x86-64 CPU.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T1 }>(
            (x as *const f64).cast(),
        )
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}

/// Fast map: `op` on every element of `a`, broadcast into `out_shape`.
pub(super) fn map(op: MapOp, a: &TensorData, out_shape: &[usize]) -> Result<TensorData> {
    if a.shape() == out_shape && a.is_contiguous() {
        // Memory-bound: one slice loop, split across the threads only for big inputs.
        let guard = a.storage().read()?;
        let n = a.size();
        let input = &guard[a.offset()..][..n];
        let parallel = parallel_for(Work::Contiguous, n);
        let out = with_map_fn!(op, f => collect_chunks("map", a.shape(), n, parallel, |chunk, start| {
            map_slice_wide(chunk, &input[start..], &f);
        }))?;
        profile::note(Path::Contiguous, parallel);
        return Ok(TensorData::packed_like(out, a));
    }
    if out_shape.iter().product::<usize>() < TINY {
        return SimpleOps.map(op, a, out_shape);
    }
    let out_shape = broadcast_target("map", a.shape(), out_shape)?;
    let size = out_shape.product();
    let guard = a.storage().read()?;
    let src: &[f64] = &guard;
    let mut out = reserved("map", size, &out_shape)?;
    let cells = &mut out.spare_capacity_mut()[..size];
    let (path, parallel) = {
        let layout = a.layout().broadcast_to(&out_shape)?;
        let nest = Nest::new(&out_shape, [layout.strides()], [layout.offset()]);
        let n = nest.inner_len();
        let [stride] = nest.inner_strides();
        let work = if stride <= 1 {
            Work::Broadcast
        } else {
            Work::Gather
        };
        // Transposed reads: chunks of whole tiles, so that tiles start on the same rows (and
        // read the same cache lines) whatever the split.
        let align = if stride > 1 { TILE_ROWS * n } else { n };
        let parallel = with_map_fn!(op, f => fill_chunks(cells, align, (work, size), |chunk, start| {
            let mut rows = nest.rows_from(start / n);
            if stride > 1 {
                // Tiles of rows, column by column: the rows' elements of one column are
                // usually neighbours in memory (a transposed operand), so each cache line read
                // serves the whole tile.
                for tile in chunk.chunks_mut(TILE_ROWS * n) {
                    let r = tile.len() / n;
                    let mut ps = [0; TILE_ROWS];
                    ps[..r].iter_mut().for_each(|p| *p = rows.next_row()[0]);
                    let last = src.len() - 1;
                    // A transposed operand: the tile's 8 rows start at consecutive positions,
                    // so each column's 8 values are one line: blocks of 8 × 8, transposed in
                    // registers (`transpose.rs`).
                    let blocked = r == TILE_ROWS && (1..r).all(|k| ps[k] == ps[0] + k);
                    let mut j = 0;
                    if blocked {
                        let p0 = ps[0];
                        j = transpose::fill_tile(
                            tile,
                            n,
                            |j| {
                                let x = &src[p0 + j * stride..][..TILE_ROWS];
                                let mut values = [0.0; TILE_ROWS];
                                for (v, &x) in values.iter_mut().zip(x) {
                                    *v = f(x);
                                }
                                values
                            },
                            |j| prefetch(&src[(p0 + j * stride).min(last)]),
                        );
                    }
                    for j in j..n {
                        prefetch(&src[(ps[0] + (j + PREFETCH) * stride).min(last)]);
                        for k in 0..r {
                            tile[k * n + j].write(f(src[ps[k] + j * stride]));
                        }
                    }
                }
                return;
            }
            let mut rest = chunk;
            while !rest.is_empty() {
                let ([first], count, [step]) = rows.next_run(rest.len() / n);
                let (run, tail) = std::mem::take(&mut rest).split_at_mut(count * n);
                rest = tail;
                if stride == 0 {
                    // Each row repeats one value (a broadcast along the last dimension: the
                    // backward of a sum over it, the pooling's). Short rows get a fixed-size
                    // store, so the loop is over rows only.
                    let values = (0..count).map(|r| f(src[first + r * step]));
                    match n {
                        2 => repeat::<2>(run, values),
                        4 => repeat::<4>(run, values),
                        8 => repeat::<8>(run, values),
                        _ => run.chunks_exact_mut(n).zip(values).for_each(|(dst, v)| {
                            dst.iter_mut().for_each(|o| {
                                o.write(v);
                            })
                        }),
                    }
                    continue;
                }
                for (r, dst) in run.chunks_exact_mut(n).enumerate() {
                    let p = first + r * step;
                    dst.iter_mut().zip(&src[p..p + n]).for_each(|(o, &x)| {
                        o.write(f(x));
                    });
                }
            }
        }));
        // SAFETY: `fill_chunks` hands out chunks covering all `size` cells, and the closure
        // writes every cell of its chunk (each row of n cells, or each tile of r rows × n).
        unsafe { out.set_len(size) };
        let path = if a.shape() != &*out_shape {
            Path::Broadcast
        } else {
            Path::Strided
        };
        (path, parallel)
    };
    profile::note(path, parallel);
    Ok(TensorData::packed(out, out_shape))
}

/// `out[i] = f(xs[i])` over `out` (`xs` at least as long).
#[inline(always)]
fn map_slice(out: &mut [MaybeUninit<f64>], xs: &[f64], f: &impl Fn(f64) -> f64) {
    for (o, &x) in out.iter_mut().zip(xs) {
        o.write(f(x));
    }
}

/// `out[i] = f(xs[i], ys[i])` over `out` (`xs` and `ys` at least as long).
#[inline(always)]
fn zip_slices(out: &mut [MaybeUninit<f64>], xs: &[f64], ys: &[f64], f: &impl Fn(f64, f64) -> f64) {
    for ((o, &x), &y) in out.iter_mut().zip(xs).zip(ys) {
        o.write(f(x, y));
    }
}

/// `ys[i] += alpha · xs[i]` over `ys` (`xs` at least as long): the SGD step.
#[inline(always)]
fn add_scaled(ys: &mut [f64], alpha: f64, xs: &[f64]) {
    ys.iter_mut().zip(xs).for_each(|(v, &g)| *v += alpha * g)
}

wide_copy! {
    /// [`add_scaled`], in its AVX-512 copy when the CPU has it.
    pub(super) fn add_scaled_slice = add_scaled(ys: &mut [f64], alpha: f64, xs: &[f64])
}

wide_copy! {
    /// [`map_slice`], in its AVX-512 copy when the CPU has it.
    fn map_slice_wide = map_slice(out: &mut [MaybeUninit<f64>], xs: &[f64], f: &impl Fn(f64) -> f64)
}

wide_copy! {
    /// [`zip_slices`], in its AVX-512 copy when the CPU has it.
    fn zip_slices_wide = zip_slices(
        out: &mut [MaybeUninit<f64>],
        xs: &[f64],
        ys: &[f64],
        f: &impl Fn(f64, f64) -> f64,
    )
}

/// Writes each of `values` `N` times in a row into `run` (whose length is `N` × their count).
#[inline(always)]
fn repeat<const N: usize>(run: &mut [MaybeUninit<f64>], values: impl Iterator<Item = f64>) {
    let (rows, _) = run.as_chunks_mut::<N>();
    for (dst, v) in rows.iter_mut().zip(values) {
        *dst = [MaybeUninit::new(v); N];
    }
}

/// Fast zip: `op` on pairs of elements of `a` and `b`, broadcast to their common shape.
pub(super) fn zip(op: ZipOp, a: &TensorData, b: &TensorData) -> Result<TensorData> {
    let out_shape = shape_broadcast_for(op.name(), a.shape(), b.shape())?;
    let size = out_shape.product();
    let packed = |t: &TensorData| t.shape() == &*out_shape && t.is_contiguous();
    let (pa, pb) = (packed(a), packed(b));
    // Slice loops, at any size: both operands packed, or one packed against a single value
    // (a number entering tensor arithmetic).
    if (pa || a.size() == 1) && (pb || b.size() == 1) && (pa || pb) {
        let (guard_a, guard_b) = (a.storage().read()?, b.storage().read()?);
        let (sa, sb) = (&guard_a[a.offset()..], &guard_b[b.offset()..]);
        let name = op.name();
        // Memory-bound: split across the threads only for big inputs.
        let parallel = parallel_for(Work::Contiguous, size);
        let out = match (pa, pb) {
            (true, true) => {
                with_zip_fn!(op, f => collect_chunks(name, &out_shape, size, parallel, |chunk, start| {
                    zip_slices_wide(chunk, &sa[start..size], &sb[start..size], &f);
                }))
            }
            (true, false) => {
                with_zip_fn!(op, f => collect_chunks(name, &out_shape, size, parallel, |chunk, start| {
                    let q = sb[0];
                    for (o, &p) in chunk.iter_mut().zip(&sa[start..size]) {
                        o.write(f(p, q));
                    }
                }))
            }
            _ => {
                with_zip_fn!(op, f => collect_chunks(name, &out_shape, size, parallel, |chunk, start| {
                    let p = sa[0];
                    for (o, &q) in chunk.iter_mut().zip(&sb[start..size]) {
                        o.write(f(p, q));
                    }
                }))
            }
        }?;
        profile::note(
            if pa && pb {
                Path::Contiguous
            } else {
                Path::Broadcast
            },
            parallel,
        );
        // The packed operand (one is) has the output's shape.
        return Ok(TensorData::packed_like(out, if pa { a } else { b }));
    }
    if size < TINY {
        return simple::zip_into(op, a, b, out_shape);
    }
    let (guard_a, guard_b) = (a.storage().read()?, b.storage().read()?);
    let (sa, sb): (&[f64], &[f64]) = (&guard_a, &guard_b);
    let mut out = reserved(op.name(), size, &out_shape)?;
    let cells = &mut out.spare_capacity_mut()[..size];
    let (path, parallel) = {
        let (la, lb) = (
            a.layout().broadcast_to(&out_shape)?,
            b.layout().broadcast_to(&out_shape)?,
        );
        let nest = Nest::new(
            &out_shape,
            [la.strides(), lb.strides()],
            [la.offset(), lb.offset()],
        );
        let n = nest.inner_len();
        let strides = nest.inner_strides();
        let work = if strides.iter().all(|&s| s <= 1) {
            Work::Broadcast
        } else {
            Work::Gather
        };
        // Chunks of whole tiles for transposed reads (see `map`).
        let align = if work == Work::Gather {
            TILE_ROWS * n
        } else {
            n
        };
        let parallel = with_zip_fn!(op, f => fill_chunks(cells, align, (work, size), |chunk, start| {
            let mut rows = nest.rows_from(start / n);
            if strides.iter().any(|&s| s > 1) {
                // Tiles of rows, column by column (see `map`).
                let [s, t] = strides;
                for tile in chunk.chunks_mut(TILE_ROWS * n) {
                    let r = tile.len() / n;
                    let mut pq = [[0; 2]; TILE_ROWS];
                    pq[..r].iter_mut().for_each(|x| *x = rows.next_row());
                    let (last_a, last_b) = (sa.len() - 1, sb.len() - 1);
                    // Both operands transposed the same way: blocks of 8 × 8 as in `map`.
                    let blocked = r == TILE_ROWS
                        && (1..r).all(|k| pq[k] == [pq[0][0] + k, pq[0][1] + k])
                        && s > 1
                        && t > 1;
                    let mut j0 = 0;
                    if blocked {
                        let [p0, q0] = pq[0];
                        j0 = transpose::fill_tile(
                            tile,
                            n,
                            |j| {
                                let x = &sa[p0 + j * s..][..TILE_ROWS];
                                let y = &sb[q0 + j * t..][..TILE_ROWS];
                                let mut values = [0.0; TILE_ROWS];
                                for ((v, &x), &y) in values.iter_mut().zip(x).zip(y) {
                                    *v = f(x, y);
                                }
                                values
                            },
                            |j| {
                                prefetch(&sa[(p0 + j * s).min(last_a)]);
                                prefetch(&sb[(q0 + j * t).min(last_b)]);
                            },
                        );
                    }
                    for j in j0..n {
                        let [p0, q0] = pq[0];
                        prefetch(&sa[(p0 + (j + PREFETCH) * s).min(last_a)]);
                        prefetch(&sb[(q0 + (j + PREFETCH) * t).min(last_b)]);
                        for (k, [p, q]) in pq[..r].iter().enumerate() {
                            tile[k * n + j].write(f(sa[p + j * s], sb[q + j * t]));
                        }
                    }
                }
                return;
            }
            let mut rest = chunk;
            while !rest.is_empty() {
                let ([p0, q0], count, [sp, sq]) = rows.next_run(rest.len() / n);
                let (run, tail) = std::mem::take(&mut rest).split_at_mut(count * n);
                rest = tail;
                for (r, dst) in run.chunks_exact_mut(n).enumerate() {
                    let (p, q) = (p0 + r * sp, q0 + r * sq);
                    match strides {
                        [1, 1] => {
                            for ((o, &x), &y) in dst.iter_mut().zip(&sa[p..p + n]).zip(&sb[q..q + n]) {
                                o.write(f(x, y));
                            }
                        }
                        [1, _] => {
                            let y = sb[q];
                            dst.iter_mut().zip(&sa[p..p + n]).for_each(|(o, &x)| {
                                o.write(f(x, y));
                            });
                        }
                        [_, 1] => {
                            let x = sa[p];
                            dst.iter_mut().zip(&sb[q..q + n]).for_each(|(o, &y)| {
                                o.write(f(x, y));
                            });
                        }
                        _ => {
                            let v = f(sa[p], sb[q]);
                            dst.iter_mut().for_each(|o| {
                                o.write(v);
                            });
                        }
                    }
                }
            }
        }));
        // SAFETY: `fill_chunks` hands out chunks covering all `size` cells, and the closure
        // writes every cell of its chunk (each row of n cells, or each tile of r rows × n).
        unsafe { out.set_len(size) };
        let path = if a.shape() != &*out_shape || b.shape() != &*out_shape {
            Path::Broadcast
        } else {
            Path::Strided
        };
        (path, parallel)
    };
    profile::note(path, parallel);
    Ok(TensorData::packed(out, out_shape))
}
