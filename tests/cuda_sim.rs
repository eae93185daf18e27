//! The course's CUDA tests (tasks 3.3 and 3.4) on the simulator: the practice kernels, the
//! reduce and matmul kernels at sizes that span several blocks and tiles, and planted bugs the
//! simulator must catch.

use minitorch::backend::cuda::sim::{mm_practice, planted, sum_practice};
use minitorch::{Backend, Rng, Tensor};

fn rand(shape: &[usize], seed: u64) -> Tensor {
    Tensor::rand(shape, &mut Rng::seed(seed)).unwrap()
}

fn close(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| (x - y).abs() <= 1e-9 * (1.0 + y.abs()))
}

#[test]
fn test_sum_practice() {
    let v: Vec<f64> = (0..16).map(f64::from).collect();
    assert_eq!(sum_practice(&v).unwrap(), vec![120.0]);
}

#[test]
fn test_sum_practice2_and_3() {
    for n in [64, 48] {
        let v: Vec<f64> = (0..n).map(|i| f64::from(i) * 0.5).collect();
        let out = sum_practice(&v).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0] + out[1], v.iter().sum::<f64>());
    }
}

#[test]
fn test_sum_practice4_5_and_other_dims() {
    for n in [32, 500] {
        let t = rand(&[n], n as u64).to(Backend::CudaSim);
        let s = t.sum(0).unwrap();
        assert!(close(&s.to_vec(), &[t.to_vec().iter().sum::<f64>()]), "{n}");
    }
    let t = rand(&[16, 32], 3);
    let got = t.to(Backend::CudaSim).sum(1).unwrap();
    let want = t.to(Backend::Simple).sum(1).unwrap();
    assert_eq!(got.shape(), &[16, 1]);
    assert!(close(&got.to_vec(), &want.to_vec()));
}

#[test]
fn reduce_covers_dimensions_longer_than_a_block() {
    // The original stopped at 1024; here every length is reduced fully.
    for n in [1024, 1025, 3000] {
        let t = rand(&[2, n], n as u64);
        let got = t.to(Backend::CudaSim).sum(1).unwrap();
        let want = t.to(Backend::Simple).sum(1).unwrap();
        assert_eq!(got.shape(), &[2, 1]);
        assert!(close(&got.to_vec(), &want.to_vec()), "{n}");
    }
}

#[test]
fn test_mul_practice1_and_2() {
    for size in [2, 32] {
        let a = rand(&[size, size], 1);
        let b = rand(&[size, size], 2);
        let got = mm_practice(&a.to_vec(), &b.to_vec(), size).unwrap();
        let want = a.matmul(&b).unwrap().to_vec();
        assert!(close(&got, &want), "{size}");
    }
    assert!(mm_practice(&[1.0; 4], &[1.0; 9], 2).is_err());
}

#[test]
fn test_mul_practice3_to_6() {
    let cases: [(&[usize], &[usize]); 4] = [
        (&[2, 2], &[2, 2]),
        (&[33, 33], &[33, 33]),
        (&[2, 33, 33], &[2, 33, 33]),
        (&[2, 45, 33], &[2, 33, 40]),
    ];
    for (i, (sa, sb)) in cases.into_iter().enumerate() {
        let (a, b) = (rand(sa, 10 + i as u64), rand(sb, 20 + i as u64));
        let got = a
            .to(Backend::CudaSim)
            .matmul(&b.to(Backend::CudaSim))
            .unwrap();
        let want = a
            .to(Backend::Simple)
            .matmul(&b.to(Backend::Simple))
            .unwrap();
        assert_eq!(got.shape(), want.shape());
        assert!(close(&got.to_vec(), &want.to_vec()), "{sa:?} @ {sb:?}");
    }
}

#[test]
fn a_missing_barrier_fails() {
    // Spans two tiles of the shared dimension, so stale tile cells are read.
    let (a, b) = (rand(&[1, 40, 70], 1), rand(&[1, 70, 33], 2));
    let want = a.matmul(&b).unwrap().to_vec();
    let got = planted::matmul_missing_barrier(a.data(), b.data()).unwrap();
    assert!(!close(&got, &want), "the planted race went unnoticed");
}

#[test]
fn an_out_of_bounds_write_fails() {
    let t = rand(&[40], 1);
    let err = planted::map_out_of_bounds(t.data())
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "planted_map_out_of_bounds: wrote outside a buffer (an out-of-bounds index)"
    );
}

#[test]
fn a_divergent_barrier_fails() {
    let err = planted::divergent_barrier(&[1.0; 20])
        .unwrap_err()
        .to_string();
    assert!(err.contains("was not reached by every thread"), "{err}");
}

/// The planted kernel sees the size the Rust side passes (its argument struct once had a
/// field fewer in C++ than in Rust, so the kernel always read size 0): with a full block every
/// thread reaches the barrier and the block's sum comes back.
#[test]
fn the_planted_kernel_sees_the_real_size() {
    let values: Vec<f64> = (1..=32).map(f64::from).collect();
    assert_eq!(planted::divergent_barrier(&values).unwrap(), vec![528.0]);
}
