//! Fast map and zip: one monomorphised loop per op and layout case.

use super::strided::Nest;
use super::{Work, collect_chunks, fill_chunks, parallel_for};
use crate::backend::diagnostics::{self as profile, Path};
use crate::backend::ops::{with_map_fn, with_zip_fn};
use crate::backend::simple::{self, SimpleOps};
use crate::backend::{MapOp, TensorOps, ZipOp};
use crate::error::Result;
use crate::layout::{broadcast_target, shape_broadcast_for};
use crate::tensor_data::{TensorData, zeroed};

/// Outputs smaller than this skip the strided machinery (layout broadcasting, dimension
/// merging), which costs more than the reference kernel's plain loop at that size
/// (measurements in `docs/performance.md`).
const TINY: usize = 64;

/// Fast map: `op` on every element of `a`, broadcast into `out_shape`.
pub(super) fn map(op: MapOp, a: &TensorData, out_shape: &[usize]) -> Result<TensorData> {
    if a.shape() == out_shape && a.is_contiguous() {
        // Memory-bound: one slice loop, split across the threads only for big inputs.
        let guard = a.storage().read()?;
        let n = a.size();
        let input = &guard[a.offset()..][..n];
        let parallel = parallel_for(Work::Contiguous, n);
        let out = with_map_fn!(op, f => collect_chunks("map", a.shape(), n, parallel, |chunk, start| {
            for (o, &x) in chunk.iter_mut().zip(&input[start..]) {
                o.write(f(x));
            }
        }))?;
        profile::note(Path::Contiguous, parallel);
        return Ok(TensorData::packed(out, a.layout().shape_dims()));
    }
    if out_shape.iter().product::<usize>() < TINY {
        return SimpleOps.map(op, a, out_shape);
    }
    let out_shape = broadcast_target("map", a.shape(), out_shape)?;
    let size = out_shape.product();
    let guard = a.storage().read()?;
    let src: &[f64] = &guard;
    let mut out = zeroed("map", size, &out_shape)?;
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
        let parallel = with_map_fn!(op, f => fill_chunks(&mut out, n, (work, size), |chunk, start| {
            let mut rows = nest.rows_from(start / n);
            for dst in chunk.chunks_exact_mut(n) {
                let [p] = rows.next_row();
                match stride {
                    1 => dst.iter_mut().zip(&src[p..p + n]).for_each(|(o, &x)| *o = f(x)),
                    0 => dst.fill(f(src[p])),
                    s => dst.iter_mut().enumerate().for_each(|(j, o)| *o = f(src[p + j * s])),
                }
            }
        }));
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

/// Fast zip: `op` on pairs of elements of `a` and `b`, broadcast to their common shape.
pub(super) fn zip(op: ZipOp, a: &TensorData, b: &TensorData) -> Result<TensorData> {
    let out_shape = shape_broadcast_for(op.name(), a.shape(), b.shape())?;
    let size = out_shape.product();
    let packed = |t: &TensorData| t.shape() == &*out_shape && t.is_contiguous();
    let (pa, pb) = (packed(a), packed(b));
    // Slice loops, at any size: both operands packed, or one packed against a single value
    // (a number entering tensor arithmetic). Memory-bound: a second thread measured no faster
    // at any size, so these stay serial.
    if (pa || a.size() == 1) && (pb || b.size() == 1) && (pa || pb) {
        let (guard_a, guard_b) = (a.storage().read()?, b.storage().read()?);
        let (sa, sb) = (&guard_a[a.offset()..], &guard_b[b.offset()..]);
        let name = op.name();
        // Memory-bound: split across the threads only for big inputs.
        let parallel = parallel_for(Work::Contiguous, size);
        let out = match (pa, pb) {
            (true, true) => {
                with_zip_fn!(op, f => collect_chunks(name, &out_shape, size, parallel, |chunk, start| {
                    let (xs, ys) = (&sa[start..size], &sb[start..size]);
                    for ((o, &p), &q) in chunk.iter_mut().zip(xs).zip(ys) {
                        o.write(f(p, q));
                    }
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
        return Ok(TensorData::packed(out, out_shape));
    }
    if size < TINY {
        return simple::zip_into(op, a, b, out_shape);
    }
    let (guard_a, guard_b) = (a.storage().read()?, b.storage().read()?);
    let (sa, sb): (&[f64], &[f64]) = (&guard_a, &guard_b);
    let mut out = zeroed(op.name(), size, &out_shape)?;
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
        let parallel = with_zip_fn!(op, f => fill_chunks(&mut out, n, (work, size), |chunk, start| {
            let mut rows = nest.rows_from(start / n);
            for dst in chunk.chunks_exact_mut(n) {
                let [p, q] = rows.next_row();
                match strides {
                    [1, 1] => {
                        for ((o, &x), &y) in dst.iter_mut().zip(&sa[p..p + n]).zip(&sb[q..q + n]) {
                            *o = f(x, y);
                        }
                    }
                    [1, 0] => {
                        let y = sb[q];
                        dst.iter_mut().zip(&sa[p..p + n]).for_each(|(o, &x)| *o = f(x, y));
                    }
                    [0, 1] => {
                        let x = sa[p];
                        dst.iter_mut().zip(&sb[q..q + n]).for_each(|(o, &y)| *o = f(x, y));
                    }
                    [s, t] => {
                        for (j, o) in dst.iter_mut().enumerate() {
                            *o = f(sa[p + j * s], sb[q + j * t]);
                        }
                    }
                }
            }
        }));
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
