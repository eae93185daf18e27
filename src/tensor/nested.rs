//! Building tensors from nested Rust data (`vec![vec![1.0, 2.0], ...]`, arrays, slices).

use crate::error::{Error, Result};

/// Data that can become a tensor: an `f64`, or a list (Vec, array, slice) of such data.
/// Every list at one depth must have the same length.
pub trait NestedData {
    /// Appends the values depth-first to `out`, recording each depth's length in `shape` the
    /// first time it is seen and checking it every later time.
    fn collect(&self, depth: usize, shape: &mut Vec<usize>, out: &mut Vec<f64>) -> Result<()>;
}

impl NestedData for f64 {
    fn collect(&self, depth: usize, shape: &mut Vec<usize>, out: &mut Vec<f64>) -> Result<()> {
        // The first value fixes the depth; any other value must sit at the same depth.
        if !out.is_empty() && depth != shape.len() {
            return Err(Error::Ragged {
                depth,
                expected: shape.get(depth).copied().unwrap_or(0),
                found: 0,
            });
        }
        out.push(*self);
        Ok(())
    }
}

fn collect_list<T: NestedData>(
    items: &[T],
    depth: usize,
    shape: &mut Vec<usize>,
    out: &mut Vec<f64>,
) -> Result<()> {
    if out.is_empty() && shape.len() == depth {
        shape.push(items.len());
    } else if shape.get(depth) != Some(&items.len()) {
        let expected = shape.get(depth).copied().unwrap_or(0);
        return Err(Error::Ragged {
            depth,
            expected,
            found: items.len(),
        });
    }
    items
        .iter()
        .try_for_each(|x| x.collect(depth + 1, shape, out))
}

impl<T: NestedData> NestedData for Vec<T> {
    fn collect(&self, depth: usize, shape: &mut Vec<usize>, out: &mut Vec<f64>) -> Result<()> {
        collect_list(self, depth, shape, out)
    }
}

impl<T: NestedData, const N: usize> NestedData for [T; N] {
    fn collect(&self, depth: usize, shape: &mut Vec<usize>, out: &mut Vec<f64>) -> Result<()> {
        collect_list(self, depth, shape, out)
    }
}

impl<T: NestedData> NestedData for &[T] {
    fn collect(&self, depth: usize, shape: &mut Vec<usize>, out: &mut Vec<f64>) -> Result<()> {
        collect_list(self, depth, shape, out)
    }
}

/// The flat values and shape of nested data. A bare number becomes shape (1,).
pub(crate) fn flatten(data: &impl NestedData) -> Result<(Vec<f64>, Vec<usize>)> {
    let (mut shape, mut out) = (Vec::new(), Vec::new());
    data.collect(0, &mut shape, &mut out)?;
    if shape.is_empty() {
        shape.push(1);
    }
    Ok((out, shape))
}
