//! Walking strided layouts without per-element index arithmetic.
//!
//! A [`Nest`] describes a loop nest over a shape in which every input advances by its own
//! strides. Adjacent dimensions whose strides chain (`stride[d] == stride[d+1] · shape[d+1]`
//! for every operand) are merged, and size-1 dimensions dropped, so a permuted or sliced tensor
//! still gets one long inner loop. The output is always packed, so it is written in order and
//! needs no strides. The outer dimensions are stepped like an odometer: one add per row, no
//! division or modulo except once at the start of a parallel chunk.

use crate::layout::{Dims, MAX_DIMS};

/// A loop nest over `K` inputs: outer dimensions plus one inner dimension.
pub(crate) struct Nest<const K: usize> {
    /// Sizes of the dimensions, the last one being the inner loop.
    shape: Dims,
    /// Per input: the strides of each dimension.
    strides: [Dims; K],
    /// Per input: the storage offset of the first element.
    offsets: [usize; K],
}

impl<const K: usize> Nest<K> {
    /// Builds the nest for inputs already broadcast to `shape` (stride 0 on broadcast dims).
    pub(crate) fn new(shape: &[usize], strides: [&[usize]; K], offsets: [usize; K]) -> Nest<K> {
        let mut len = 0;
        let mut buf_shape = [0usize; MAX_DIMS];
        let mut buf_strides = [[0usize; MAX_DIMS]; K];
        for d in 0..shape.len() {
            if shape[d] == 1 {
                continue;
            }
            // Merge into the previous kept dim when every input's strides chain.
            let merge =
                len > 0 && (0..K).all(|i| buf_strides[i][len - 1] == strides[i][d] * shape[d]);
            if merge {
                buf_shape[len - 1] *= shape[d];
                for i in 0..K {
                    buf_strides[i][len - 1] = strides[i][d];
                }
            } else {
                buf_shape[len] = shape[d];
                for i in 0..K {
                    buf_strides[i][len] = strides[i][d];
                }
                len += 1;
            }
        }
        if len == 0 {
            buf_shape[0] = 1;
            len = 1;
        }
        let dims = |values: &[usize]| {
            let mut d = Dims::filled(len, 0);
            d.copy_from_slice(&values[..len]);
            d
        };
        Nest {
            shape: dims(&buf_shape),
            strides: std::array::from_fn(|i| dims(&buf_strides[i])),
            offsets,
        }
    }

    /// Length of the inner loop.
    pub(crate) fn inner_len(&self) -> usize {
        self.shape[self.shape.len() - 1]
    }

    /// Each input's stride along the inner loop.
    pub(crate) fn inner_strides(&self) -> [usize; K] {
        let last = self.shape.len() - 1;
        std::array::from_fn(|i| self.strides[i][last])
    }

    /// The starting storage positions of rows `first_row, first_row + 1, …` for each input.
    pub(crate) fn rows_from(&self, first_row: usize) -> Rows<'_, K> {
        let outer = self.shape.len() - 1;
        let mut index = [0usize; MAX_DIMS];
        let mut rest = first_row;
        for d in (0..outer).rev() {
            index[d] = rest % self.shape[d];
            rest /= self.shape[d];
        }
        let pos = std::array::from_fn(|i| {
            self.offsets[i]
                + (0..outer)
                    .map(|d| index[d] * self.strides[i][d])
                    .sum::<usize>()
        });
        let (last_len, last_strides) = match outer {
            0 => (usize::MAX, [0; K]),
            _ => (
                self.shape[outer - 1],
                std::array::from_fn(|i| self.strides[i][outer - 1]),
            ),
        };
        Rows {
            nest: self,
            index,
            pos,
            outer,
            last_len,
            last_strides,
        }
    }
}

/// Iterator over row starting positions (see [`Nest::rows_from`]).
pub(crate) struct Rows<'a, const K: usize> {
    nest: &'a Nest<K>,
    index: [usize; MAX_DIMS],
    pos: [usize; K],
    outer: usize,
    /// The innermost outer dimension's length and strides (the common step, kept at hand).
    last_len: usize,
    last_strides: [usize; K],
}

impl<const K: usize> Rows<'_, K> {
    /// The next run of at most `most` (≥ 1) rows along the innermost outer dimension: the
    /// first row's positions, how many rows, and each input's step from one row to the next
    /// (row `r` of the run starts at `first + r · step`); then steps past the run. Walking
    /// runs instead of rows keeps the odometer out of the loop over short rows.
    #[inline]
    pub(crate) fn next_run(&mut self, most: usize) -> ([usize; K], usize, [usize; K]) {
        if self.outer == 0 {
            return (self.next_row(), 1, [0; K]);
        }
        let d = self.outer - 1;
        let count = (self.last_len - self.index[d]).min(most).max(1);
        let first = self.pos;
        self.index[d] += count - 1;
        for i in 0..K {
            self.pos[i] += (count - 1) * self.last_strides[i];
        }
        self.next_row();
        (first, count, self.last_strides)
    }

    /// The current row's positions, then steps to the next row.
    #[inline]
    pub(crate) fn next_row(&mut self) -> [usize; K] {
        let current = self.pos;
        // The common step: the next row along the innermost outer dimension.
        if self.outer > 0 && self.index[self.outer - 1] + 1 < self.last_len {
            self.index[self.outer - 1] += 1;
            for i in 0..K {
                self.pos[i] += self.last_strides[i];
            }
            return current;
        }
        let mut d = self.outer;
        while d > 0 {
            d -= 1;
            self.index[d] += 1;
            for i in 0..K {
                self.pos[i] += self.nest.strides[i][d];
            }
            if self.index[d] < self.nest.shape[d] {
                break;
            }
            for i in 0..K {
                self.pos[i] -= self.nest.strides[i][d] * self.nest.shape[d];
            }
            self.index[d] = 0;
        }
        current
    }
}
