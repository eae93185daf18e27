//! A trainable word-vector table (PyTorch's `nn.Embedding`): the layer that lets a text model
//! tune its input vectors, built on [`Tensor::embedding`].

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::module::{Mode, Module, Param, Parameter};
use crate::tensor::Tensor;

/// A (V, D) table of vectors as a parameter; [`forward`](Embedding::forward) looks rows up by
/// id. The gradient is zero on the rows a batch did not use, so SGD moves only the used rows
/// (Adam also moves rows used in earlier steps, through its running means).
pub struct Embedding {
    mode: Mode,
    /// The (V, D) table.
    pub weights: Param<Tensor>,
}

impl Embedding {
    /// A table of `rows` vectors of `dim` values taken from `values` (row-major, `rows · dim`
    /// of them), on `backend`. Errors when the sizes disagree or either is 0.
    ///
    /// ```
    /// use minitorch::{Backend, nn::Embedding};
    /// let e = Embedding::from_values(vec![0.0, 0.0, 1.0, 2.0], 2, 2, Backend::Simple).unwrap();
    /// assert_eq!(e.forward(&[1, 0], &[2]).unwrap().to_vec(), vec![1.0, 2.0, 0.0, 0.0]);
    /// ```
    pub fn from_values(
        values: Vec<f64>,
        rows: usize,
        dim: usize,
        backend: Backend,
    ) -> Result<Embedding> {
        if rows == 0 || dim == 0 || values.len() != rows * dim {
            return Err(Error::Invalid {
                what: "Embedding",
                message: format!(
                    "{} values for a table of {rows} rows of {dim} (both at least 1)",
                    values.len()
                ),
            });
        }
        Ok(Embedding {
            mode: Mode::default(),
            weights: Param::new(Tensor::from_vec(values, &[rows, dim])?.try_to(backend)?),
        })
    }

    /// Rows in the table.
    pub fn rows(&self) -> usize {
        self.weights.get().shape()[0]
    }

    /// Values per vector.
    pub fn dim(&self) -> usize {
        self.weights.get().shape()[1]
    }

    /// The vectors of `ids` (`shape` of them, e.g. (B, L)) as a tensor of `shape` plus a last
    /// dimension D. Errors when `shape` does not hold `ids.len()` elements or an id is not a
    /// row.
    pub fn forward(&self, ids: &[u32], shape: &[usize]) -> Result<Tensor> {
        let cells = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        if cells != Some(ids.len()) {
            return Err(Error::Invalid {
                what: "Embedding",
                message: format!("{} ids do not fill the shape {shape:?}", ids.len()),
            });
        }
        let mut out_shape = shape.to_vec();
        out_shape.push(self.dim());
        self.weights.get().embedding(ids)?.view(&out_shape)
    }
}

impl Module for Embedding {
    fn mode(&self) -> &Mode {
        &self.mode
    }
    fn own_parameters(&self) -> Vec<(&str, &Parameter)> {
        vec![("weights", self.weights.parameter())]
    }
}
