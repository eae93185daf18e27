//! Every error the library reports on bad input, with its message: the op and the shapes or
//! values involved. None of these may panic.

use minitorch::datasets::Dataset;
use minitorch::train::TrainConfig;
use minitorch::{Error, Layout, Tensor};

fn t(shape: &[usize]) -> Tensor {
    Tensor::zeros(shape).unwrap()
}

fn msg<T: std::fmt::Debug>(r: minitorch::Result<T>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn broadcast_mismatch_names_op_shapes_and_dim() {
    assert_eq!(
        msg(t(&[5, 2]).add(&t(&[5]))),
        "add: cannot broadcast shapes [5, 2] and [5] (dim 1: 2 vs 5)"
    );
    assert_eq!(
        msg(t(&[2, 3]).mul(&t(&[4, 3]))),
        "mul: cannot broadcast shapes [2, 3] and [4, 3] (dim 0: 2 vs 4)"
    );
    assert!(msg(t(&[2]).lt(&t(&[3]))).starts_with("lt: cannot broadcast"));
}

#[test]
fn bad_dim() {
    assert_eq!(
        msg(t(&[2, 3]).sum(2)),
        "sum: dim 2 is out of range for shape [2, 3]"
    );
    assert_eq!(
        msg(t(&[2, 3]).mean(5)),
        "mean: dim 5 is out of range for shape [2, 3]"
    );
    assert_eq!(
        msg(t(&[2, 3]).all(2)),
        "all: dim 2 is out of range for shape [2, 3]"
    );
}

#[test]
fn bad_permutation() {
    assert_eq!(
        msg(t(&[2, 3]).permute(&[0, 0])),
        "permute: [0, 0] is not a permutation of the 2 dims of shape [2, 3]"
    );
    assert!(t(&[2, 3]).permute(&[0]).is_err());
    assert!(t(&[2, 3]).permute(&[0, 2]).is_err());
}

#[test]
fn view_of_non_contiguous() {
    let p = t(&[2, 3]).permute(&[1, 0]).unwrap();
    assert_eq!(
        msg(p.view(&[6])),
        "view: must be contiguous to view (shape [3, 2], strides [1, 3]); call contiguous() first"
    );
}

#[test]
fn size_mismatch() {
    assert_eq!(
        msg(t(&[2, 3]).view(&[4])),
        "view: size mismatch: [2, 3] has 6 elements but [4] needs 4"
    );
    assert_eq!(
        msg(Tensor::from_vec(vec![1.0; 5], &[2, 3])),
        "tensor: size mismatch: [5] has 5 elements but [2, 3] needs 6"
    );
}

#[test]
fn bad_shapes_and_indices() {
    assert_eq!(
        msg(Tensor::zeros(&[])),
        "zeros: invalid shape []: a tensor needs at least one dimension"
    );
    assert_eq!(
        msg(Tensor::zeros(&[2, 0])),
        "zeros: invalid shape [2, 0]: dimensions of size 0 are not supported"
    );
    assert!(msg(Tensor::zeros(&[1; 9])).contains("more than MAX_DIMS"));
    assert_eq!(
        msg(t(&[2, 3]).get(&[2, 0])),
        "get: index [2, 0] is out of range for shape [2, 3]"
    );
    assert_eq!(
        msg(Layout::with_strides(&[2, 3], &[1])),
        "layout: strides [1] with offset 0 do not fit shape [2, 3] (wrong count, positions past usize::MAX, or past the end of the storage)"
    );
    assert_eq!(
        msg(t(&[2, 3]).item()),
        "item: tensor of shape [2, 3] has 6 elements, expected 1"
    );
    assert_eq!(
        msg(Tensor::from_nested(vec![vec![1.0, 2.0], vec![3.0]])),
        "tensor: ragged nested data: expected length 2 at depth 1, found 1"
    );
}

#[test]
fn matmul_shapes() {
    assert_eq!(
        msg(t(&[2, 3]).matmul(&t(&[4, 5]))),
        "matmul: cannot multiply [2, 3] by [4, 5]: inner dimensions differ"
    );
    assert_eq!(
        msg(t(&[2, 2, 3]).matmul(&t(&[3, 3, 4]))),
        "matmul: cannot multiply [2, 2, 3] by [3, 3, 4]: batch sizes differ and neither is 1"
    );
    assert!(msg(t(&[3]).matmul(&t(&[3, 1]))).contains("only 2-D and 3-D"));
    // The bias of matmul_add may not grow the product.
    assert_eq!(
        msg(t(&[2, 3]).matmul_add(&t(&[3, 4]), &t(&[5, 2, 4]))),
        "matmul_add: cannot broadcast shape [5, 2, 4] into [2, 4]"
    );
    assert_eq!(
        msg(t(&[2, 3]).matmul_add(&t(&[3, 4]), &t(&[3]))),
        "matmul_add: cannot broadcast shape [3] into [2, 4]"
    );
}

#[test]
fn backward_errors() {
    let x = t(&[2, 3]).requires_grad_(true);
    let y = x.mul(&x).unwrap();
    assert_eq!(
        msg(y.backward()),
        "backward: must provide a gradient for a non-scalar output of shape [2, 3]"
    );
    assert_eq!(
        msg(y.backward_with(&t(&[3]))),
        "backward: gradient of shape [3] does not match output shape [2, 3]"
    );
    assert!(msg(t(&[1]).backward()).contains("does not require grad"));
    // The checked path exists: a supplied gradient of the right shape works.
    y.backward_with(&Tensor::ones(&[2, 3]).unwrap()).unwrap();
    assert_eq!(x.grad().unwrap().shape(), &[2, 3]);
}

#[test]
fn grad_check_reports_a_wrong_derivative() {
    // A function whose "gradient" is wrong on purpose: detach cuts the graph for one factor.
    let x = Tensor::from_nested(vec![1.0, 2.0, 3.0]).unwrap();
    let err = minitorch::grad_check(|v| v[0].mul(&v[0].detach()), &[x]).unwrap_err();
    assert!(matches!(err, Error::GradCheck { .. }), "{err}");
    assert!(err.to_string().starts_with("grad_check: input 0 at index"));
}

#[test]
fn bad_training_settings() {
    let bad = |c: TrainConfig| c.validate().unwrap_err().to_string();
    let base = TrainConfig::default();
    assert_eq!(
        bad(TrainConfig {
            hidden: 0,
            ..base.clone()
        }),
        "hidden: must be at least 1"
    );
    assert_eq!(
        bad(TrainConfig {
            pts: 0,
            ..base.clone()
        }),
        "pts: must be at least 1"
    );
    assert_eq!(
        bad(TrainConfig {
            batch: 0,
            ..base.clone()
        }),
        "batch: must be at least 1"
    );
    assert_eq!(
        bad(TrainConfig {
            rate: -0.1,
            ..base.clone()
        }),
        "rate: must be a positive number, got -0.1"
    );
    assert!(
        bad(TrainConfig {
            rate: f64::NAN,
            ..base
        })
        .starts_with("rate:")
    );
    assert_eq!(
        "moons".parse::<Dataset>().unwrap_err().to_string(),
        "dataset: unknown dataset \"moons\"; expected one of: simple, diag, split, xor, circle, spiral"
    );
    assert!(
        "gpu"
            .parse::<minitorch::Backend>()
            .unwrap_err()
            .to_string()
            .starts_with("backend: unknown backend \"gpu\"")
    );
}

#[test]
fn mixed_backends() {
    let a = t(&[2]).to(minitorch::Backend::Simple);
    let b = t(&[2]).to(minitorch::Backend::Fast);
    assert_eq!(
        msg(a.add(&b)),
        "Add: operands are on different backends (simple and fast); move one with .to(backend)"
    );
    assert!(
        msg(a.matmul(&t(&[2, 1]).to(minitorch::Backend::Fast)))
            .starts_with("MatMul: operands are on different backends")
    );
}
