//! Tensor layout (MiniTorch task 2.1 and 2.2): shapes, strides, offsets, indexing and
//! broadcasting.
//!
//! A tensor's elements live in a flat buffer. Its [`Layout`] says how an index `(i, j, k, ...)`
//! maps to a position: `offset + Σ index[d] · strides[d]`. Permuting dimensions or broadcasting a
//! dimension (stride 0) changes only the layout, never the buffer.
//!
//! Shapes and strides are [`Dims`]: a fixed-capacity array, so making a layout never touches the
//! heap.

use crate::error::{Error, Result};
use std::fmt;
use std::ops::{Deref, DerefMut};

/// The most dimensions a tensor may have.
///
/// The original MiniTorch sizes its kernel index buffers at 32; eight covers every use here
/// (the course stops at 4-D) and keeps a layout small enough to copy freely.
pub const MAX_DIMS: usize = 8;

/// A short list of sizes (a shape, strides or an index), stored inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Dims {
    len: u8,
    buf: [usize; MAX_DIMS],
}

impl Dims {
    /// Builds from a slice; fails when it has more than [`MAX_DIMS`] entries.
    pub fn new(values: &[usize]) -> Result<Dims> {
        Dims::new_for("layout", values)
    }

    /// [`Dims::new`] with the calling operation's name in the error.
    pub(crate) fn new_for(op: &'static str, values: &[usize]) -> Result<Dims> {
        if values.len() > MAX_DIMS {
            return Err(Error::BadShape {
                op,
                shape: values.to_vec(),
                reason: "more than MAX_DIMS (8) dimensions",
            });
        }
        let mut d = Dims {
            len: values.len() as u8,
            ..Dims::default()
        };
        d.buf[..values.len()].copy_from_slice(values);
        Ok(d)
    }

    /// `n` copies of `value` (n ≤ MAX_DIMS).
    pub(crate) fn filled(n: usize, value: usize) -> Dims {
        debug_assert!(n <= MAX_DIMS);
        let mut d = Dims {
            len: n as u8,
            ..Dims::default()
        };
        d.buf[..n].fill(value);
        d
    }

    /// The number of elements a tensor of this shape holds (the product; 1 for no dims).
    ///
    /// Every shape inside a [`Layout`] has a product that fits in `usize` (checked when the
    /// layout is made); for other lists this saturates at `usize::MAX` instead of wrapping.
    pub fn product(&self) -> usize {
        checked_product(self).unwrap_or(usize::MAX)
    }
}

impl Deref for Dims {
    type Target = [usize];
    fn deref(&self) -> &[usize] {
        &self.buf[..self.len as usize]
    }
}

impl DerefMut for Dims {
    fn deref_mut(&mut self) -> &mut [usize] {
        &mut self.buf[..self.len as usize]
    }
}

impl fmt::Debug for Dims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Position of `index` in storage: `Σ index[i] · strides[i]`.
///
/// `index` may be longer than `strides`; only the first `strides.len()` entries count.
///
/// ```
/// use minitorch::layout::index_to_position;
/// assert_eq!(index_to_position(&[1, 2], &[5, 1]), 7);
/// ```
pub fn index_to_position(index: &[usize], strides: &[usize]) -> usize {
    index.iter().zip(strides).map(|(i, s)| i * s).sum()
}

/// Writes into `out_index` the row-major index of `ordinal` within `shape` (last dim fastest).
///
/// Strides are not involved, so this is not the inverse of [`index_to_position`] for permuted
/// layouts.
///
/// ```
/// use minitorch::layout::to_index;
/// let mut idx = [0; 2];
/// to_index(7, &[3, 5], &mut idx);
/// assert_eq!(idx, [1, 2]);
/// ```
pub fn to_index(ordinal: usize, shape: &[usize], out_index: &mut [usize]) {
    let mut rest = ordinal;
    for d in (0..shape.len()).rev() {
        out_index[d] = rest % shape[d];
        rest /= shape[d];
    }
}

/// Maps an index into a broadcast (bigger) shape to the index into the smaller `shape`:
/// right-aligned, with size-1 dims pinned to 0.
///
/// ```
/// use minitorch::layout::broadcast_index;
/// let mut out = [9; 2];
/// broadcast_index(&[4, 2, 3], &[5, 3, 4], &[1, 4], &mut out);
/// assert_eq!(out, [0, 3]);
/// ```
pub fn broadcast_index(
    big_index: &[usize],
    big_shape: &[usize],
    shape: &[usize],
    out_index: &mut [usize],
) {
    let skip = big_shape.len() - shape.len();
    for (i, &size) in shape.iter().enumerate() {
        out_index[i] = if size > 1 { big_index[i + skip] } else { 0 };
    }
}

/// The broadcast of two shapes by numpy's rules: right-aligned, missing leading dims are 1, sizes
/// equal or one of them 1.
///
/// ```
/// use minitorch::layout::shape_broadcast;
/// assert_eq!(&*shape_broadcast(&[5, 1, 5, 1], &[1, 5, 1, 5]).unwrap(), &[5, 5, 5, 5]);
/// assert!(shape_broadcast(&[5, 2], &[5]).is_err());
/// ```
pub fn shape_broadcast(a: &[usize], b: &[usize]) -> Result<Dims> {
    shape_broadcast_for("broadcast", a, b)
}

/// [`shape_broadcast`] with the operation's name in the error.
pub(crate) fn shape_broadcast_for(op: &'static str, a: &[usize], b: &[usize]) -> Result<Dims> {
    if a == b {
        return Dims::new(a);
    }
    let n = a.len().max(b.len());
    if n > MAX_DIMS {
        return Dims::new(if a.len() > b.len() { a } else { b });
    }
    let mut out = Dims::filled(n, 1);
    for i in 0..n {
        let da = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let db = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => {
                return Err(Error::Broadcast {
                    op,
                    lhs: a.to_vec(),
                    rhs: b.to_vec(),
                    dim: i,
                    lhs_size: da,
                    rhs_size: db,
                });
            }
        };
    }
    if checked_product(&out).is_none() {
        return Err(Error::BadShape {
            op,
            shape: out.to_vec(),
            reason: "the broadcast result has more than usize::MAX elements",
        });
    }
    Ok(out)
}

/// The product of `shape`, or `None` when it does not fit in `usize`.
///
/// ```
/// use minitorch::layout::checked_product;
/// assert_eq!(checked_product(&[2, 3, 4]), Some(24));
/// assert_eq!(checked_product(&[2, (1 << 63) + 2]), None);
/// ```
pub fn checked_product(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &n| acc.checked_mul(n))
}

/// Checks that `shape` broadcasts into `target` (numpy rules) and returns `target`.
pub(crate) fn broadcast_target(
    op: &'static str,
    shape: &[usize],
    target: &[usize],
) -> Result<Dims> {
    let bad = || Error::BroadcastInto {
        op,
        from: shape.to_vec(),
        to: target.to_vec(),
    };
    // Right-aligned, every dimension of `shape` is the target's or 1.
    let fits = shape.len() <= target.len()
        && shape
            .iter()
            .rev()
            .zip(target.iter().rev())
            .all(|(&s, &t)| s == t || s == 1);
    if !fits || checked_product(target).is_none() {
        return Err(bad());
    }
    Dims::new_for(op, target).map_err(|_| bad())
}

/// Contiguous row-major strides for `shape`: (4, 2, 2) → (4, 2, 1).
///
/// ```
/// use minitorch::layout::strides_from_shape;
/// assert_eq!(&*strides_from_shape(&[4, 2, 2]), &[4, 2, 1]);
/// ```
pub fn strides_from_shape(shape: &[usize]) -> Dims {
    let mut strides = Dims::filled(shape.len(), 1);
    let mut acc = 1;
    for d in (0..shape.len()).rev() {
        strides[d] = acc;
        acc *= shape[d];
    }
    strides
}

/// Checks a user-supplied shape: 1 to MAX_DIMS dims, none of size 0, and an element count that
/// fits in `usize`.
pub(crate) fn check_shape(op: &'static str, shape: &[usize]) -> Result<Dims> {
    let bad = |reason| {
        Err(Error::BadShape {
            op,
            shape: shape.to_vec(),
            reason,
        })
    };
    if shape.is_empty() {
        return bad("a tensor needs at least one dimension");
    }
    if shape.contains(&0) {
        return bad("dimensions of size 0 are not supported");
    }
    let dims = Dims::new_for(op, shape)?;
    if checked_product(shape).is_none() {
        return bad("more than usize::MAX elements");
    }
    Ok(dims)
}

/// How a tensor's elements map onto its storage: shape, strides and a starting offset.
///
/// Every `Layout` is valid by construction, which the kernels (some of them `unsafe`) rely on:
///
/// - 1 to [`MAX_DIMS`] dimensions, none of size 0;
/// - the element count (product of the shape) fits in `usize`;
/// - its [span](Layout::span) — `offset + Σ (shape[d] − 1) · strides[d] + 1`, one past the
///   largest storage position it reaches — fits in `usize`, so no position computed from an
///   in-range index can overflow.
///
/// [`TensorData`](crate::TensorData) adds the last condition: the span lies inside the storage.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Layout {
    shape: Dims,
    strides: Dims,
    offset: usize,
    span: usize,
}

impl Layout {
    /// A packed row-major layout for `shape` (checked: 1..=MAX_DIMS dims, no zero sizes).
    pub fn contiguous(shape: &[usize]) -> Result<Layout> {
        let shape = check_shape("layout", shape)?;
        Ok(Layout::packed(shape))
    }

    /// A packed row-major layout for a shape that passed `check_shape`.
    pub(crate) fn packed(shape: Dims) -> Layout {
        debug_assert!(checked_product(&shape).is_some() && !shape.contains(&0));
        Layout {
            strides: strides_from_shape(&shape),
            span: shape.product(),
            shape,
            offset: 0,
        }
    }

    /// A layout with explicit strides, starting at storage position 0.
    ///
    /// Fails when the stride count differs from the shape's, or when the positions it reaches
    /// do not fit in `usize`.
    ///
    /// ```
    /// use minitorch::Layout;
    /// assert_eq!(Layout::with_strides(&[2, 3], &[1, 2]).unwrap().span(), 6);
    /// assert!(Layout::with_strides(&[4, usize::MAX], &[3, 1]).is_err());
    /// ```
    pub fn with_strides(shape: &[usize], strides: &[usize]) -> Result<Layout> {
        Layout::new(shape, strides, 0)
    }

    /// A layout with explicit strides and offset; see [`Layout::with_strides`].
    ///
    /// ```
    /// use minitorch::Layout;
    /// let l = Layout::new(&[2, 2], &[2, 1], 3).unwrap();
    /// assert_eq!((l.offset(), l.span()), (3, 7));
    /// assert!(Layout::new(&[2], &[1], usize::MAX).is_err());
    /// ```
    pub fn new(shape: &[usize], strides: &[usize], offset: usize) -> Result<Layout> {
        Layout::new_for("layout", shape, strides, offset)
    }

    /// [`Layout::new`] with the calling operation's name in errors.
    pub(crate) fn new_for(
        op: &'static str,
        shape: &[usize],
        strides: &[usize],
        offset: usize,
    ) -> Result<Layout> {
        let checked = check_shape(op, shape)?;
        let bad = || Error::BadStrides {
            op,
            shape: shape.to_vec(),
            strides: strides.to_vec(),
            offset,
        };
        if strides.len() != shape.len() {
            return Err(bad());
        }
        let span = shape
            .iter()
            .zip(strides)
            .try_fold(offset, |acc, (&n, &s)| {
                acc.checked_add((n - 1).checked_mul(s)?)
            })
            .and_then(|last| last.checked_add(1))
            .ok_or_else(bad)?;
        Ok(Layout {
            shape: checked,
            strides: Dims::new_for(op, strides)?,
            offset,
            span,
        })
    }

    /// Size of each dimension.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Storage step of each dimension (0 for a broadcast dimension).
    pub fn strides(&self) -> &[usize] {
        &self.strides
    }

    /// Storage position of index (0, 0, …).
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The shape as inline [`Dims`].
    pub(crate) fn shape_dims(&self) -> Dims {
        self.shape
    }

    /// Number of elements (product of the shape).
    pub fn size(&self) -> usize {
        self.shape.product()
    }

    /// Number of dimensions.
    pub fn dims(&self) -> usize {
        self.shape.len()
    }

    /// One past the largest storage position this layout reaches (it fits in `usize`: checked
    /// when the layout was made).
    pub fn span(&self) -> usize {
        self.span
    }

    /// True when the elements are packed in row-major order (strides equal the row-major ones,
    /// ignoring dims of size 1), so the tensor can be viewed as any shape of the same size.
    ///
    /// The original only checked that strides never increase; that accepts broadcast and sliced
    /// layouts that cannot be viewed, so this checks packing exactly.
    pub fn is_contiguous(&self) -> bool {
        self.packed_from(false)
    }

    /// True when this is exactly [`Layout::packed`] of its shape: row-major strides on every
    /// dimension (size-1 ones included) from offset 0.
    pub(crate) fn is_packed(&self) -> bool {
        self.offset == 0 && self.packed_from(true)
    }

    /// Strides equal the row-major ones, on every dimension or ignoring dims of size 1.
    fn packed_from(&self, every_dim: bool) -> bool {
        let mut expected = 1;
        for d in (0..self.dims()).rev() {
            if (every_dim || self.shape[d] != 1) && self.strides[d] != expected {
                return false;
            }
            expected *= self.shape[d];
        }
        true
    }

    /// Storage position of a full index (no bounds checks; see [`Layout::checked_position`]).
    #[inline]
    pub fn position(&self, index: &[usize]) -> usize {
        self.offset + index_to_position(index, &self.strides)
    }

    /// Storage position of `index`, checking its length and every entry.
    pub fn checked_position(&self, index: &[i64]) -> Result<usize> {
        let bad = || Error::BadIndex {
            op: "index",
            index: index.iter().map(|&i| i128::from(i)).collect(),
            shape: self.shape.to_vec(),
        };
        if index.len() != self.dims() {
            return Err(bad());
        }
        let mut pos = self.offset;
        for ((&i, &n), &s) in index.iter().zip(self.shape.iter()).zip(self.strides.iter()) {
            if i < 0 || i as usize >= n {
                return Err(bad());
            }
            pos += i as usize * s;
        }
        Ok(pos)
    }

    /// Storage position of an unsigned `index`, checking its length and every entry; errors
    /// name `op` and show the index exactly.
    pub(crate) fn position_checked(&self, op: &'static str, index: &[usize]) -> Result<usize> {
        let in_range =
            index.len() == self.dims() && index.iter().zip(self.shape()).all(|(i, n)| i < n);
        if !in_range {
            return Err(Error::BadIndex {
                op,
                index: index.iter().map(|&i| i as i128).collect(),
                shape: self.shape.to_vec(),
            });
        }
        Ok(self.position(index))
    }

    /// The same storage seen with dimensions reordered: new dim `i` is old dim `order[i]`.
    pub fn permute(&self, order: &[usize]) -> Result<Layout> {
        let n = self.dims();
        let mut seen = [false; MAX_DIMS];
        let valid = order.len() == n
            && order
                .iter()
                .all(|&o| o < n && !std::mem::replace(&mut seen[o], true));
        if !valid {
            return Err(Error::BadPermutation {
                op: "permute",
                order: order.to_vec(),
                shape: self.shape.to_vec(),
            });
        }
        let mut out = *self;
        for (i, &o) in order.iter().enumerate() {
            out.shape[i] = self.shape[o];
            out.strides[i] = self.strides[o];
        }
        Ok(out)
    }

    /// The same packed storage under another shape of the same size.
    pub fn view(&self, shape: &[usize]) -> Result<Layout> {
        let shape = check_shape("view", shape)?;
        if !self.is_contiguous() {
            return Err(Error::NotContiguous {
                op: "view",
                shape: self.shape.to_vec(),
                strides: self.strides.to_vec(),
            });
        }
        if shape.product() != self.size() {
            return Err(Error::SizeMismatch {
                op: "view",
                from: self.shape.to_vec(),
                from_size: self.size(),
                to: shape.to_vec(),
                to_size: shape.product(),
            });
        }
        Ok(Layout {
            offset: self.offset,
            span: self.span,
            ..Layout::packed(shape)
        })
    }

    /// This layout broadcast to a bigger `shape`: new or size-1 dims get stride 0.
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Layout> {
        let bad = || Error::BroadcastInto {
            op: "broadcast_to",
            from: self.shape.to_vec(),
            to: shape.to_vec(),
        };
        let target = broadcast_target("broadcast_to", &self.shape, shape).map_err(|_| bad())?;
        check_shape("broadcast_to", &target)?;
        let skip = shape.len() - self.dims();
        let mut strides = Dims::filled(shape.len(), 0);
        for d in 0..self.dims() {
            if self.shape[d] == shape[d + skip] {
                strides[d + skip] = self.strides[d];
            }
        }
        // Stride-0 and kept dims reach no further than before: the span is unchanged.
        Ok(Layout {
            shape: target,
            strides,
            ..*self
        })
    }

    /// A sub-range `start..start+len` of dimension `dim`, sharing storage (an offset view).
    pub fn narrow(&self, dim: usize, start: usize, len: usize) -> Result<Layout> {
        if dim >= self.dims() {
            return Err(Error::BadDim {
                op: "narrow",
                dim,
                shape: self.shape.to_vec(),
            });
        }
        let end = start
            .checked_add(len)
            .filter(|&e| len > 0 && e <= self.shape[dim]);
        if end.is_none() {
            return Err(Error::BadIndex {
                op: "narrow",
                index: vec![start as i128, start as i128 + len as i128],
                shape: self.shape.to_vec(),
            });
        }
        // In range: the new window lies inside the old one, so none of this can overflow.
        let mut out = *self;
        out.offset += start * self.strides[dim];
        out.shape[dim] = len;
        out.span -= (self.shape[dim] - len - start) * self.strides[dim];
        Ok(out)
    }

    /// A 2-D layout seen as a batch of one, `(1, rows, cols)`, with batch stride 0 (matmul's
    /// lift; no copy). Only for 2-D layouts.
    pub(crate) fn lift_to_batch(&self) -> Layout {
        debug_assert_eq!(self.dims(), 2);
        let mut out = *self;
        out.shape = Dims::filled(3, 1);
        out.strides = Dims::filled(3, 0);
        out.shape[1..].copy_from_slice(&self.shape);
        out.strides[1..].copy_from_slice(&self.strides);
        out
    }

    /// A size-1 dimension inserted before `dim` (stride 0): the same elements with one more
    /// dimension, reaching no further. `dim ≤ dims()`; fails past MAX_DIMS.
    pub(crate) fn unsqueeze(&self, dim: usize) -> Result<Layout> {
        debug_assert!(dim <= self.dims());
        let mut shape = self.shape.to_vec();
        let mut strides = self.strides.to_vec();
        shape.insert(dim, 1);
        strides.insert(dim, 0);
        Ok(Layout {
            shape: Dims::new_for("unsqueeze", &shape)?,
            strides: Dims::new_for("unsqueeze", &strides)?,
            ..*self
        })
    }

    /// Dimension `dim`, of size 1, removed (`dims() ≥ 2`).
    pub(crate) fn squeeze(&self, dim: usize) -> Layout {
        assert!(
            self.shape[dim] == 1 && self.dims() >= 2,
            "squeeze takes a size-1 dimension of a layout with at least 2"
        );
        let mut out = *self;
        let n = self.dims();
        out.shape = Dims::filled(n - 1, 0);
        out.strides = Dims::filled(n - 1, 0);
        for (k, d) in (0..n).filter(|&d| d != dim).enumerate() {
            out.shape[k] = self.shape[d];
            out.strides[k] = self.strides[d];
        }
        out
    }

    /// Every index of the shape, in row-major order.
    pub fn indices(&self) -> Indices {
        Indices {
            shape: self.shape,
            next: Some(Dims::filled(self.dims(), 0)),
        }
    }
}

/// Iterator over all indices of a shape in row-major order (see [`Layout::indices`]).
pub struct Indices {
    shape: Dims,
    next: Option<Dims>,
}

impl Iterator for Indices {
    type Item = Dims;
    fn next(&mut self) -> Option<Dims> {
        let current = self.next?;
        let mut step = current;
        let mut d = step.len();
        self.next = loop {
            if d == 0 {
                break None;
            }
            d -= 1;
            step[d] += 1;
            if step[d] < self.shape[d] {
                break Some(step);
            }
            step[d] = 0;
        };
        Some(current)
    }
}
