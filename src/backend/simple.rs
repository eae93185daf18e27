//! The reference backend (MiniTorch task 2.3's `SimpleOps`): every output element found by
//! plain index arithmetic — ordinal → index ([`to_index`]) → broadcast index
//! ([`broadcast_index`]) → storage position ([`index_to_position`]).
//!
//! Deliberately simple and slow: it is the oracle the fast and CUDA backends are tested against.

use super::{
    MapOp, ReduceOp, TensorOps, ZipOp, check_same_shape, conv2d_shape, matmul_shape, reduce_shape,
    with_batch,
};
use crate::error::{Error, Result};
use crate::layout::{
    Dims, Layout, MAX_DIMS, broadcast_index, broadcast_target, index_to_position,
    shape_broadcast_for, to_index,
};
use crate::tensor_data::{TensorData, filled, zeroed};

/// The reference backend's kernels.
pub struct SimpleOps;

impl TensorOps for SimpleOps {
    fn map(&self, op: MapOp, a: &TensorData, out_shape: &[usize]) -> Result<TensorData> {
        let out_shape = broadcast_target("map", a.shape(), out_shape)?;
        let src = a.storage().read()?;
        let (a_shape, a_strides, a_offset) = (a.shape(), a.strides(), a.offset());
        let mut out = zeroed("map", out_shape.product(), &out_shape)?;
        let mut out_index = [0; MAX_DIMS];
        let mut a_index = [0; MAX_DIMS];
        for (ordinal, slot) in out.iter_mut().enumerate() {
            to_index(ordinal, &out_shape, &mut out_index);
            broadcast_index(&out_index, &out_shape, a_shape, &mut a_index);
            *slot = op.apply(src[a_offset + index_to_position(&a_index, a_strides)]);
        }
        Ok(TensorData::packed(out, out_shape))
    }

    fn zip(&self, op: ZipOp, a: &TensorData, b: &TensorData) -> Result<TensorData> {
        let out_shape = shape_broadcast_for(op.name(), a.shape(), b.shape())?;
        zip_into(op, a, b, out_shape)
    }

    fn reduce(&self, op: ReduceOp, a: &TensorData, dim: usize) -> Result<TensorData> {
        let out_shape = reduce_shape(a.shape(), dim)?;
        let src = a.storage().read()?;
        let mut out = filled("reduce", out_shape.product(), op.start(), &out_shape)?;
        let mut index = [0; MAX_DIMS];
        for (ordinal, slot) in out.iter_mut().enumerate() {
            to_index(ordinal, &out_shape, &mut index);
            for k in 0..a.shape()[dim] {
                index[dim] = k;
                *slot = op.fold(
                    *slot,
                    src[a.offset() + index_to_position(&index, a.strides())],
                );
            }
        }
        Ok(TensorData::packed(out, out_shape))
    }

    fn matmul(&self, a: &TensorData, b: &TensorData) -> Result<TensorData> {
        with_batch(a, b, matmul3)
    }

    fn conv2d(
        &self,
        input: &TensorData,
        weight: &TensorData,
        out_hw: [usize; 2],
        reverse: bool,
    ) -> Result<TensorData> {
        let out_shape = conv2d_shape(input.shape(), weight.shape(), out_hw)?;
        let [_, cin, h, w] = [0, 1, 2, 3].map(|d| input.shape()[d]);
        let [_, _, kh, kw] = [0, 1, 2, 3].map(|d| weight.shape()[d]);
        let (si, sw) = (input.storage().read()?, weight.storage().read()?);
        let mut out = zeroed("conv2d", out_shape.product(), &out_shape)?;
        let mut index = [0; MAX_DIMS];
        for (ordinal, slot) in out.iter_mut().enumerate() {
            to_index(ordinal, &out_shape, &mut index);
            let [b, o, y, x] = [index[0], index[1], index[2], index[3]];
            let mut acc = 0.0;
            for c in 0..cin {
                for i in 0..kh {
                    for j in 0..kw {
                        // The input cell this tap reads, if inside the input.
                        let (row, col) = if reverse {
                            (y.checked_sub(i), x.checked_sub(j))
                        } else {
                            (Some(y + i), Some(x + j))
                        };
                        let (Some(row), Some(col)) = (row, col) else {
                            continue;
                        };
                        if row >= h || col >= w {
                            continue;
                        }
                        let wv = sw[weight.layout().position(&[o, c, i, j])];
                        acc += wv * si[input.layout().position(&[b, c, row, col])];
                    }
                }
            }
            *slot = acc;
        }
        Ok(TensorData::packed(out, out_shape))
    }

    fn add_scaled_(&self, y: &TensorData, alpha: f64, x: &TensorData) -> Result<()> {
        check_same_shape("add_scaled_", y, x)?;
        // Read x first: y and x may share storage.
        let updates: Vec<(usize, f64)> = {
            let xs = x.storage().read()?;
            y.indices()
                .map(|i| (y.layout().position(&i), xs[x.layout().position(&i)]))
                .collect()
        };
        let mut dst = y.storage().host_mut()?;
        for (pos, v) in updates {
            dst[pos] += alpha * v;
        }
        Ok(())
    }
}

/// The reference zip into an already-broadcast `out_shape`.
pub(crate) fn zip_into(
    op: ZipOp,
    a: &TensorData,
    b: &TensorData,
    out_shape: Dims,
) -> Result<TensorData> {
    let (sa, sb) = (a.storage().read()?, b.storage().read()?);
    let mut out = zeroed(op.name(), out_shape.product(), &out_shape)?;
    let (mut out_index, mut a_index, mut b_index) = ([0; MAX_DIMS], [0; MAX_DIMS], [0; MAX_DIMS]);
    for (ordinal, slot) in out.iter_mut().enumerate() {
        to_index(ordinal, &out_shape, &mut out_index);
        broadcast_index(&out_index, &out_shape, a.shape(), &mut a_index);
        broadcast_index(&out_index, &out_shape, b.shape(), &mut b_index);
        let x = sa[a.offset() + index_to_position(&a_index, a.strides())];
        let y = sb[b.offset() + index_to_position(&b_index, b.strides())];
        *slot = op.apply(x, y);
    }
    Ok(TensorData::packed(out, out_shape))
}

/// The reference row gather behind [`TensorOps::gather_rows`]: `out[i, :] = table[ids[i], :]`.
pub(crate) fn gather_rows(table: &TensorData, ids: &[u32]) -> Result<TensorData> {
    let dim = check_gather("gather_rows", table, ids)?;
    let values = table.storage().read()?;
    let (offset, strides) = (table.offset(), table.strides());
    let mut out = zeroed("gather_rows", ids.len() * dim, &[ids.len(), dim])?;
    for (row, &id) in out.chunks_exact_mut(dim.max(1)).zip(ids) {
        // Only the rows asked for are read, through the table's strides.
        let start = offset + id as usize * strides[0];
        for (d, slot) in row.iter_mut().enumerate() {
            *slot = values[start + d * strides[1]];
        }
    }
    TensorData::new(out, &[ids.len(), dim])
}

/// The reference row scatter behind [`TensorOps::scatter_add_rows`]: zeros (`rows`, D) with
/// `grad[i, :]` added into row `ids[i]`, in order.
pub(crate) fn scatter_add_rows(grad: &TensorData, ids: &[u32], rows: usize) -> Result<TensorData> {
    let dim = check_scatter(grad, ids, rows)?;
    let values = grad.to_vec()?;
    let mut out = zeroed("scatter_add_rows", rows * dim, &[rows, dim])?;
    for (row, &id) in values.chunks_exact(dim.max(1)).zip(ids) {
        for (o, &g) in out[id as usize * dim..][..dim].iter_mut().zip(row) {
            *o += g;
        }
    }
    TensorData::new(out, &[rows, dim])
}

/// Checks the operands of [`TensorOps::gather_rows`] (or of `op` built on it); returns D.
pub(crate) fn check_gather(op: &'static str, table: &TensorData, ids: &[u32]) -> Result<usize> {
    let [rows, dim] = table_shape(op, table.shape(), ids)?;
    check_ids(op, ids, rows, dim)?;
    Ok(dim)
}

/// Checks the operands of [`TensorOps::scatter_add_rows`]; returns D.
pub(crate) fn check_scatter(grad: &TensorData, ids: &[u32], rows: usize) -> Result<usize> {
    let [n, dim] = table_shape("scatter_add_rows", grad.shape(), ids)?;
    if n != ids.len() {
        return Err(Error::Invalid {
            what: "scatter_add_rows",
            message: format!(
                "gradient {:?} has {n} rows for {} ids",
                grad.shape(),
                ids.len()
            ),
        });
    }
    check_ids("scatter_add_rows", ids, rows, dim)?;
    Ok(dim)
}

/// The (rows, D) of a 2-D operand of a row gather or scatter.
fn table_shape(op: &'static str, shape: &[usize], ids: &[u32]) -> Result<[usize; 2]> {
    match *shape {
        [rows, dim] => Ok([rows, dim]),
        _ => Err(Error::Invalid {
            what: op,
            message: format!(
                "expected a 2-D (rows, D) tensor, got shape {shape:?} (with {} ids)",
                ids.len()
            ),
        }),
    }
}

/// Errors when an id is not below `rows`.
fn check_ids(op: &'static str, ids: &[u32], rows: usize, dim: usize) -> Result<()> {
    match ids.iter().position(|&id| id as usize >= rows) {
        Some(i) => Err(Error::Invalid {
            what: op,
            message: format!(
                "id {} at position {i} is not a row of the table [{rows}, {dim}]",
                ids[i]
            ),
        }),
        None => Ok(()),
    }
}

/// The reference product of two 3-D operands (a batch of 1 broadcasts).
fn matmul3(a: &TensorData, b: &TensorData) -> Result<TensorData> {
    let [n, rows, cols] = matmul_shape(a.shape(), b.shape())?;
    let inner = a.shape()[2];
    let (sa, sb) = (a.storage().read()?, b.storage().read()?);
    let (la, lb) = (a.layout(), b.layout());
    // A batch of size 1 broadcasts: its batch stride counts as 0.
    let batch_stride = |l: &Layout| if l.shape()[0] == 1 { 0 } else { l.strides()[0] };
    let (ba, bb) = (batch_stride(la), batch_stride(lb));
    let (sta, stb) = (la.strides(), lb.strides());
    let out_shape = Dims::new_for("matmul", &[n, rows, cols])?;
    let mut out = zeroed("matmul", out_shape.product(), &out_shape)?;
    for batch in 0..n {
        for i in 0..rows {
            for j in 0..cols {
                let mut acc = 0.0;
                for k in 0..inner {
                    let x = sa[la.offset() + batch * ba + i * sta[1] + k * sta[2]];
                    let y = sb[lb.offset() + batch * bb + k * stb[1] + j * stb[2]];
                    acc += x * y;
                }
                out[(batch * rows + i) * cols + j] = acc;
            }
        }
    }
    Ok(TensorData::packed(out, out_shape))
}
