//! The embedding lookup (`Tensor::embedding`, `nn::Embedding`): rows against an independent
//! gather on every backend and table layout, gradients against central differences, repeated
//! ids collecting every gradient, and bad input.

mod common;

use common::layouts::{KINDS, make, values};
use common::{BACKENDS, assert_near};
use minitorch::nn::Embedding;
use minitorch::{Backend, Tensor, grad_check};

fn all_backends() -> Vec<Backend> {
    let mut b = vec![Backend::Simple];
    b.extend(BACKENDS.iter().copied());
    b
}

const IDS: [u32; 7] = [4, 0, 2, 4, 1, 4, 3];

#[test]
fn rows_match_an_independent_gather_on_every_backend_and_layout() {
    let (rows, dim) = (5, 3);
    let v = values(rows * dim, 7);
    let want: Vec<f64> = IDS
        .iter()
        .flat_map(|&id| v[id as usize * dim..][..dim].to_vec())
        .collect();
    let want = Tensor::from_vec(want, &[IDS.len(), dim]).unwrap();
    for backend in all_backends() {
        for kind in KINDS {
            let table = make(&v, &[rows, dim], kind, backend);
            let got = table.embedding(&IDS).unwrap();
            assert_eq!(got.backend(), backend);
            assert_near(&got, &want, &format!("{backend:?} {kind:?}"));
        }
        // A transposed view of a (D, V) tensor is a table too.
        let table = Tensor::from_vec(v.clone(), &[rows, dim])
            .unwrap()
            .to(backend)
            .permute(&[1, 0])
            .unwrap()
            .contiguous()
            .unwrap()
            .permute(&[1, 0])
            .unwrap();
        assert_near(&table.embedding(&IDS).unwrap(), &want, "transposed");
    }
}

#[test]
fn repeated_ids_collect_every_gradient() {
    for backend in all_backends() {
        let table = Tensor::from_vec(values(10, 3), &[5, 2])
            .unwrap()
            .to(backend);
        table.requires_grad_(true);
        // Output row i weighs its gradient by i + 1 (asymmetric, so swapped rows can't pass).
        let weight: Vec<f64> = (0..IDS.len())
            .flat_map(|i| [(i + 1) as f64, -((i + 1) as f64)])
            .collect();
        let weight = Tensor::from_vec(weight, &[IDS.len(), 2])
            .unwrap()
            .to(backend);
        let out = table.embedding(&IDS).unwrap().mul(&weight).unwrap();
        out.sum_all().unwrap().backward().unwrap();
        let grad = table.grad().unwrap().to_vec();
        // Row 4 is used at positions 0, 3, 5 (weights 1 + 4 + 6), row 0 at 1, row 2 at 2,
        // row 1 at 4, row 3 at 6.
        let per_row = [2.0, 5.0, 3.0, 7.0, 11.0];
        let want: Vec<f64> = per_row.iter().flat_map(|&w| [w, -w]).collect();
        assert_eq!(grad, want, "{backend:?}");
    }
}

#[test]
fn the_scatter_reads_gradients_in_any_layout() {
    let ids = [2u32, 0, 2, 1];
    let v = values(12, 4);
    // The reference: row i of the (4, 3) gradient added into row ids[i].
    let mut want = vec![0.0; 9];
    for (i, &id) in ids.iter().enumerate() {
        for d in 0..3 {
            want[id as usize * 3 + d] += v[i * 3 + d];
        }
    }
    for backend in all_backends() {
        for kind in KINDS {
            let grad = make(&v, &[4, 3], kind, backend);
            let got = backend
                .ops()
                .scatter_add_rows(grad.data(), &ids, 3)
                .unwrap()
                .to_vec()
                .unwrap();
            assert_eq!(got, want, "{backend:?} {kind:?}");
        }
    }
}

#[test]
fn gradients_match_central_differences() {
    for backend in all_backends() {
        for kind in KINDS {
            let table = make(&values(12, 5), &[4, 3], kind, backend);
            let scale = Tensor::from_vec(values(15, 9), &[5, 3])
                .unwrap()
                .to(backend);
            grad_check(
                |v| v[0].embedding(&[3, 1, 3, 0, 2])?.mul(&scale)?.sigmoid(),
                &[table],
            )
            .unwrap_or_else(|e| panic!("{backend:?} {kind:?}: {e}"));
        }
    }
}

#[test]
fn the_layer_shapes_its_output_and_trains_only_the_rows_used() {
    for backend in all_backends() {
        let e = Embedding::from_values(values(12, 2), 4, 3, backend).unwrap();
        assert_eq!((e.rows(), e.dim()), (4, 3));
        let x = e.forward(&[1, 2, 1, 0, 0, 2], &[2, 3]).unwrap();
        assert_eq!(x.shape(), &[2, 3, 3]);
        x.sum_all().unwrap().backward().unwrap();
        let grad = e.weights.get().grad().unwrap().to_vec();
        assert_eq!(&grad[9..], &[0.0; 3], "row 3 is never used: {backend:?}");
        assert_eq!(&grad[..3], &[2.0; 3], "{backend:?}");
    }
}

#[test]
fn bad_input_is_refused_naming_the_op_and_shapes() {
    let table = Tensor::from_vec(values(6, 1), &[3, 2]).unwrap();
    let err = table.embedding(&[0, 3]).unwrap_err().to_string();
    assert!(
        err.contains("embedding") && err.contains("id 3") && err.contains("[3, 2]"),
        "{err}"
    );
    let flat = Tensor::from_vec(values(6, 1), &[6]).unwrap();
    let err = flat.embedding(&[0]).unwrap_err().to_string();
    assert!(err.contains("embedding") && err.contains("[6]"), "{err}");
    let e = Embedding::from_values(values(6, 1), 3, 2, Backend::Fast).unwrap();
    let err = e.forward(&[0, 1, 2], &[2, 2]).unwrap_err().to_string();
    assert!(err.contains("3 ids") && err.contains("[2, 2]"), "{err}");
    let err = Embedding::from_values(vec![1.0; 5], 3, 2, Backend::Fast)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("5 values") && err.contains("3 rows of 2"),
        "{err}"
    );
    // The backend ops check their own operands too.
    let ops = Backend::Fast.ops();
    let err = ops
        .scatter_add_rows(table.data(), &[0, 1], 3)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("scatter_add_rows") && err.contains("2 ids"),
        "{err}"
    );
    let err = ops.gather_rows(table.data(), &[9]).unwrap_err().to_string();
    assert!(err.contains("gather_rows") && err.contains("id 9"), "{err}");
}
