//! The same logical values stored in different layouts: contiguous, permuted, offset, sliced
//! and broadcast (stride 0). Backends must give identical results on all of them.

use minitorch::tensor_data::Storage;
use minitorch::{Backend, Layout, Tensor, TensorData};

/// The layout kinds the backend-parity tests cover.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Packed row-major.
    Contiguous,
    /// Stored in a permuted (e.g. transposed) order and permuted back.
    Permuted,
    /// Packed but starting at a non-zero storage offset.
    Offset,
    /// A window of a bigger tensor (offset and non-packed strides).
    Sliced,
}

pub const KINDS: [Kind; 4] = [Kind::Contiguous, Kind::Permuted, Kind::Offset, Kind::Sliced];

/// `values` (row-major for `shape`) stored as `kind`, on `backend`.
pub fn make(values: &[f64], shape: &[usize], kind: Kind, backend: Backend) -> Tensor {
    let data = match kind {
        Kind::Contiguous => TensorData::new(values.to_vec(), shape).unwrap(),
        Kind::Permuted => {
            // Reverse the dims in storage: the logical tensor is a full permutation of it.
            let n = shape.len();
            let perm: Vec<usize> = (0..n).rev().collect();
            super::permuted_tensor(shape, values, &perm, backend)
                .data()
                .clone()
        }
        Kind::Offset => {
            let mut storage = vec![f64::NAN; 3];
            storage.extend_from_slice(values);
            let packed = Layout::contiguous(shape).unwrap();
            let layout = Layout::new(shape, packed.strides(), 3).unwrap();
            TensorData::from_parts(Storage::new(storage), layout).unwrap()
        }
        Kind::Sliced => {
            // A bigger tensor with two extra columns on each side of the last dim; take the middle.
            let last = shape.len() - 1;
            let mut big_shape = shape.to_vec();
            big_shape[last] += 4;
            let big =
                TensorData::new(vec![f64::NAN; big_shape.iter().product()], &big_shape).unwrap();
            let layout = big.layout().narrow(last, 2, shape[last]).unwrap();
            let window = TensorData::from_parts(big.storage().clone(), layout).unwrap();
            let logical = TensorData::new(values.to_vec(), shape).unwrap();
            for idx in logical.indices() {
                window.set(&idx, logical.get(&idx).unwrap()).unwrap();
            }
            window
        }
    };
    Tensor::from_data(data, backend)
}

/// A tensor of `shape` whose dim `dim` is broadcast (stride 0) from `values` of size
/// `shape.product() / shape[dim]`.
pub fn broadcast(values: &[f64], shape: &[usize], dim: usize, backend: Backend) -> Tensor {
    let mut small = shape.to_vec();
    small[dim] = 1;
    let base = TensorData::new(values.to_vec(), &small).unwrap();
    let layout = base.layout().broadcast_to(shape).unwrap();
    assert_eq!(layout.strides()[dim], 0);
    Tensor::from_data(
        TensorData::from_parts(base.storage().clone(), layout).unwrap(),
        backend,
    )
}

/// Values with mixed signs and magnitudes, so sums depend on their order.
pub fn values(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = minitorch::Rng::seed(seed);
    (0..n)
        .map(|i| {
            let scale = [1e-3, 1.0, 1e3, 17.0][i % 4];
            (rng.uniform() * 2.0 - 1.0) * scale
        })
        .collect()
}
