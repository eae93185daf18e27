//! Regression tests for calls of the safe API that once crashed, aborted, hung or were accepted
//! with wrong results: size arithmetic that overflowed, layouts whose span overflowed,
//! allocations the machine cannot hold, and error messages that named the wrong operation.

use minitorch::tensor_data::Storage;
use minitorch::{Backend, Layout, Rng, Tensor, TensorData};

fn msg<T: std::fmt::Debug>(r: minitorch::Result<T>) -> String {
    r.unwrap_err().to_string()
}

/// A constant view of one stored value broadcast to `shape` (stride 0 everywhere).
fn broadcast_view(shape: &[usize], backend: Backend) -> Tensor {
    let layout = Layout::with_strides(shape, &vec![0; shape.len()]).unwrap();
    Tensor::from_data(
        TensorData::from_parts(Storage::new(vec![1.5]), layout).unwrap(),
        backend,
    )
}

#[test]
fn shape_products_that_overflow_are_refused() {
    let t = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[4]).unwrap();
    // 2 · (2^63 + 2) wraps to 4 in release builds; it must not be taken for 4 elements.
    assert_eq!(
        msg(t.view(&[2, (1 << 63) + 2])),
        "view: invalid shape [2, 9223372036854775810]: more than usize::MAX elements"
    );
    assert!(msg(Tensor::zeros(&[1 << 32, 1 << 32])).contains("more than usize::MAX elements"));
    assert!(
        msg(Tensor::from_vec(vec![1.0, 2.0], &[3, 6148914691236517206]))
            .contains("more than usize::MAX elements")
    );
    assert!(msg(Tensor::ones(&[usize::MAX, 2])).contains("more than usize::MAX elements"));
}

#[test]
fn layouts_whose_positions_overflow_are_refused() {
    assert!(Layout::with_strides(&[4, usize::MAX], &[3, 1]).is_err());
    assert!(Layout::new(&[2], &[1], usize::MAX).is_err());
    assert!(Layout::new(&[2, 2], &[usize::MAX / 2, 1], usize::MAX / 2).is_err());
    assert!(Layout::with_strides(&[2, 0], &[1, 1]).is_err());
    // In range: the largest span that fits.
    let l = Layout::new(&[2], &[1], usize::MAX - 2).unwrap();
    assert_eq!(l.span(), usize::MAX);
    // ... but no storage is that long.
    assert!(TensorData::from_parts(Storage::new(vec![0.0; 19]), l).is_err());
    let narrow = Layout::contiguous(&[4, 3])
        .unwrap()
        .narrow(0, usize::MAX, 2);
    assert!(msg(narrow).contains("narrow: index [18446744073709551615, 18446744073709551617]"));
}

#[test]
fn a_layout_outside_its_storage_is_refused() {
    let storage = Storage::new(vec![0.0; 19]);
    let l = Layout::with_strides(&[4, 5], &[3, 1]).unwrap(); // reaches position 13
    assert!(TensorData::from_parts(storage.clone(), l).is_ok());
    let l = Layout::new(&[4, 5], &[3, 1], 6).unwrap(); // reaches 19, one past the end
    assert!(msg(TensorData::from_parts(storage, l)).contains("tensor_data: strides [3, 1]"));
}

#[test]
fn products_and_broadcasts_whose_size_overflows_are_errors_on_every_backend() {
    for backend in [Backend::Simple, Backend::Fast, Backend::CudaSim] {
        let a = broadcast_view(&[1 << 33, 1], backend);
        let b = broadcast_view(&[1, 1 << 33], backend);
        assert!(msg(a.add(&b)).contains("more than usize::MAX"), "{backend}");
        assert!(
            msg(a.matmul(&b)).contains("more than usize::MAX"),
            "{backend}"
        );
    }
}

#[test]
fn allocations_the_machine_cannot_hold_are_errors_not_aborts() {
    assert!(
        msg(Tensor::zeros(&[1 << 40]))
            .starts_with("zeros: cannot allocate 8.8 TB for a tensor of shape [1099511627776]")
    );
    assert!(msg(Tensor::rand(&[1 << 20, 1 << 20], &mut Rng::seed(1))).contains("cannot allocate"));
    // Bytes past isize::MAX (the allocator's limit) too.
    assert!(msg(Tensor::full(&[1 << 61], 2.0)).contains("cannot allocate"));
    assert!(
        minitorch::nn::Linear::new(1 << 20, 1 << 20, Backend::Fast, &mut Rng::seed(1)).is_err()
    );
    // Kernel outputs: a 2^42-element broadcast view is fine to hold, not to materialise.
    // (The CUDA kernels refuse it first: more blocks than a grid holds.)
    for backend in [Backend::Simple, Backend::Fast, Backend::CudaSim] {
        let refused = |e: String| {
            e.contains("cannot allocate")
                || (backend == Backend::CudaSim && e.contains("too many elements for the CUDA"))
        };
        let big = broadcast_view(&[1 << 21, 1 << 21], backend);
        assert!(refused(msg(big.exp())), "{backend}");
        assert!(refused(msg(big.contiguous())), "{backend}");
        assert!(
            msg(big.try_to_vec()).contains("cannot allocate"),
            "{backend}"
        );
    }
}

#[test]
fn composed_operations_name_themselves_in_errors() {
    let a = Tensor::zeros(&[5, 2]).unwrap();
    let b = Tensor::zeros(&[5]).unwrap();
    assert_eq!(
        msg(a.sub(&b)),
        "sub: cannot broadcast shapes [5, 2] and [5] (dim 1: 2 vs 5)"
    );
    assert_eq!(
        msg(a.div(&b)),
        "div: cannot broadcast shapes [5, 2] and [5] (dim 1: 2 vs 5)"
    );
    // gt is lt with the operands swapped; the error shows them in the caller's order.
    assert_eq!(
        msg(a.gt(&b)),
        "gt: cannot broadcast shapes [5, 2] and [5] (dim 1: 2 vs 5)"
    );
    let s = Tensor::zeros(&[5]).unwrap().to(Backend::Simple);
    assert!(msg(a.sub(&s)).starts_with("sub: operands are on different backends"));
}

#[test]
fn index_errors_print_huge_entries_exactly() {
    let t = Tensor::zeros(&[2, 3]).unwrap();
    assert_eq!(
        msg(t.get(&[1 << 63, 0])),
        "get: index [9223372036854775808, 0] is out of range for shape [2, 3]"
    );
    assert_eq!(
        msg(t.set(&[0, usize::MAX], 1.0)),
        "set: index [0, 18446744073709551615] is out of range for shape [2, 3]"
    );
}

#[test]
fn too_many_dims_errors_name_the_function_called() {
    assert!(msg(Tensor::zeros(&[1; 9])).starts_with("zeros: invalid shape"));
    assert!(msg(Tensor::from_vec(vec![1.0], &[1; 9])).starts_with("tensor: invalid shape"));
    assert!(msg(Tensor::zeros(&[1]).unwrap().view(&[1; 9])).starts_with("view: invalid shape"));
}

#[test]
fn printing_a_huge_broadcast_view_is_summarised() {
    let big = broadcast_view(&[1 << 21, 1 << 21], Backend::Fast);
    let text = big.to_string();
    assert!(text.len() < 400, "{} characters", text.len());
    assert!(text.contains("..."));
    let debug = format!("{big:?}");
    assert!(
        debug.contains("4398046511104 elements, summarised"),
        "{debug}"
    );
    // Small tensors print in full, as the original does.
    let small = Tensor::from_vec((0..6).map(f64::from).collect(), &[2, 3]).unwrap();
    assert_eq!(
        small.to_string(),
        "\n[\n\t[0.00 1.00 2.00]\n\t[3.00 4.00 5.00]]"
    );
}

#[test]
fn summarised_printing_keeps_both_ends_of_each_dimension() {
    let t = Tensor::from_vec((0..2000).map(f64::from).collect(), &[2, 1000]).unwrap();
    let text = t.to_string();
    assert_eq!(
        text,
        "\n[\n\t[0.00 1.00 2.00 ... 997.00 998.00 999.00]\n\t[1000.00 1001.00 1002.00 ... 1997.00 1998.00 1999.00]]"
    );
    let t = Tensor::from_vec((0..1100).map(f64::from).collect(), &[1100]).unwrap();
    assert_eq!(
        t.to_string(),
        "\n[0.00 1.00 2.00 ... 1097.00 1098.00 1099.00]"
    );
    let t = Tensor::from_vec((0..1400).map(f64::from).collect(), &[7, 200]).unwrap();
    let text = t.to_string();
    assert_eq!(text.matches("...").count(), 7, "{text}");
    assert!(text.contains("\t...\n\t[800.00"), "{text}");
}

#[test]
fn cuda_kernels_refuse_sizes_their_indices_cannot_hold() {
    // 2^63 + 1 elements over one stored value: a reduction's output is small, but its input
    // cannot be indexed with the kernels' signed 64-bit integers.
    let big = broadcast_view(&[(1 << 63) + 1], Backend::CudaSim);
    let err = msg(big.sum(0));
    assert!(
        err.contains("too many elements for the CUDA kernels' indices"),
        "{err}"
    );
}

#[test]
fn max_is_nan_when_any_input_is_nan_on_every_backend() {
    for backend in [Backend::Simple, Backend::Fast, Backend::CudaSim] {
        for v in [
            vec![f64::NAN, 5.0, 1.0],
            vec![1.0, 5.0, f64::NAN],
            vec![2.0, f64::NAN, 9.0],
        ] {
            let t = Tensor::from_vec(v.clone(), &[3]).unwrap().to(backend);
            assert!(
                t.max(0).unwrap().item().unwrap().is_nan(),
                "{backend} {v:?}"
            );
        }
    }
}
