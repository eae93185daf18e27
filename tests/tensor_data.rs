//! Mirrors the original `test_tensor_data.py` (tasks 2.1, 2.2), plus layout helpers.

mod common;

use common::{factorisations, permutation, shapes, small_floats, tensors};
use minitorch::layout::{
    broadcast_index, index_to_position, shape_broadcast, strides_from_shape, to_index,
};
use minitorch::{Layout, Rng, TensorData};
use proptest::prelude::*;
use std::collections::HashSet;

/// The original's `tensor_data` strategy: values in [−100, 100], stored in a random permuted
/// layout (so usually non-contiguous).
fn tensor_data() -> impl Strategy<Value = TensorData> {
    tensors().prop_map(|t| t.data().clone())
}

/// A random shape and as many random values.
fn shaped_values() -> impl Strategy<Value = (Vec<usize>, Vec<f64>)> {
    shapes().prop_flat_map(|shape| {
        let n: usize = shape.iter().product();
        (Just(shape), prop::collection::vec(small_floats(), n))
    })
}

/// The original's `to_string`, transcribed: for each index in row-major order, a newline,
/// `d` tabs and `[` for each trailing dim `d` at 0; the value as `%3.2f`; `]` for each
/// trailing dim at its end, else a space.
fn original_to_string(t: &TensorData) -> String {
    let shape = t.shape();
    let mut s = String::new();
    for index in t.indices() {
        let mut open = String::new();
        for i in (0..index.len()).rev() {
            if index[i] != 0 {
                break;
            }
            open = format!("\n{}[{open}", "\t".repeat(i));
        }
        s += &open;
        s += &format!("{:3.2}", t.get(&index).unwrap());
        let mut close = String::new();
        for i in (0..index.len()).rev() {
            if index[i] != shape[i] - 1 {
                break;
            }
            close.push(']');
        }
        if close.is_empty() {
            s.push(' ');
        } else {
            s += &close;
        }
    }
    s
}

#[test]
fn test_layout() {
    let data = TensorData::from_parts(
        minitorch::tensor_data::Storage::new(vec![0.0; 15]),
        Layout::contiguous(&[3, 5]).unwrap(),
    )
    .unwrap();
    assert!(data.is_contiguous());
    assert_eq!(data.shape(), &[3, 5]);
    assert_eq!(data.index(&[1, 0]).unwrap(), 5);
    assert_eq!(data.index(&[1, 2]).unwrap(), 7);

    let transposed = Layout::with_strides(&[5, 3], &[1, 5]).unwrap();
    assert!(!transposed.is_contiguous());
    assert_eq!(&*strides_from_shape(&[4, 2, 2]), &[4, 2, 1]);
}

/// The original's xfail: strides whose length differs from the shape's.
#[test]
fn test_layout_bad() {
    let err = Layout::with_strides(&[3, 5], &[6]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "layout: strides [6] with offset 0 do not fit shape [3, 5] (wrong count, positions past usize::MAX, or past the end of the storage)"
    );
}

#[test]
fn from_parts_rejects_layout_past_storage() {
    let storage = minitorch::tensor_data::Storage::new(vec![0.0; 5]);
    assert!(TensorData::from_parts(storage, Layout::contiguous(&[2, 3]).unwrap()).is_err());
}

#[test]
fn storage_is_shared_not_copied() {
    let t = TensorData::new(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]).unwrap();
    let p = t.permute(&[1, 0]).unwrap();
    assert!(p.storage().same_buffer(t.storage()));
    p.set(&[1, 0], 9.0).unwrap();
    assert_eq!(t.get(&[0, 1]).unwrap(), 9.0);
}

proptest! {
    #[test]
    fn test_enumeration(shape in shapes()) {
        let t = TensorData::new(vec![0.0; shape.iter().product()], &shape).unwrap();
        let indices: Vec<_> = t.indices().collect();
        prop_assert_eq!(indices.len(), t.size());
        let unique: HashSet<Vec<usize>> = indices.iter().map(|i| i.to_vec()).collect();
        prop_assert_eq!(unique.len(), t.size());
        for idx in &indices {
            for (i, &n) in idx.iter().zip(&shape) {
                prop_assert!(*i < n);
            }
        }
    }

    #[test]
    fn test_index(shape in shapes(), perm_seed in any::<u64>()) {
        let n = shape.len();
        let mut perm: Vec<usize> = (0..n).collect();
        Rng::seed(perm_seed).shuffle(&mut perm);
        let t = TensorData::new(vec![0.0; shape.iter().product()], &shape).unwrap().permute(&perm).unwrap();
        let mut seen = HashSet::new();
        for idx in t.indices() {
            let signed: Vec<i64> = idx.iter().map(|&i| i as i64).collect();
            let pos = t.index(&signed).unwrap();
            prop_assert!(pos < t.size());
            seen.insert(pos);
        }
        prop_assert_eq!(seen.len(), t.size());
        let mut negative = vec![0i64; n];
        negative[0] = -1;
        prop_assert!(t.index(&negative).is_err());
        prop_assert!(t.index(&vec![0; n + 1]).is_err());
        if n > 1 {
            prop_assert!(t.index(&vec![0; n - 1]).is_err());
        }
    }

    /// Applying a permutation and then its inverse keeps every position (the original's
    /// round trip), and the permuted tensor reaches, at each of its indices, the storage
    /// position the un-permuted index reaches in the original: for a random tensor (itself
    /// stored permuted, as the original's strategy builds it) and a random permutation.
    #[test]
    fn test_permute((t, perm) in tensor_data().prop_flat_map(|t| { let n = t.dims(); (Just(t), permutation(n)) })) {
        let shape = t.shape().to_vec();
        let mut inverse = vec![0; perm.len()];
        for (i, &p) in perm.iter().enumerate() {
            inverse[p] = i;
        }
        let back = t.permute(&perm).unwrap().permute(&inverse).unwrap();
        for idx in t.indices() {
            let signed: Vec<i64> = idx.iter().map(|&i| i as i64).collect();
            prop_assert_eq!(t.index(&signed).unwrap(), back.index(&signed).unwrap());
        }
        let permuted = t.permute(&perm).unwrap();
        prop_assert!(permuted.storage().same_buffer(t.storage()));
        for (i, &p) in perm.iter().enumerate() {
            prop_assert_eq!(permuted.shape()[i], shape[p]);
        }
        let mut seen = HashSet::new();
        for idx in permuted.indices() {
            // Dim k of the permuted tensor is dim perm[k] of the original.
            let mut original = vec![0i64; idx.len()];
            for (k, &i) in idx.iter().enumerate() {
                original[perm[k]] = i as i64;
            }
            let signed: Vec<i64> = idx.iter().map(|&i| i as i64).collect();
            let pos = permuted.index(&signed).unwrap();
            prop_assert_eq!(pos, t.index(&original).unwrap(), "index {:?}", idx.to_vec());
            let unsigned: Vec<usize> = original.iter().map(|&i| i as usize).collect();
            prop_assert_eq!(permuted.get(&idx).unwrap(), t.get(&unsigned).unwrap());
            seen.insert(pos);
        }
        prop_assert_eq!(seen.len(), t.size());
    }

    /// Creation from random values and a random shape: shape, packed strides, size, and the
    /// values read back by index (row-major) and as a whole.
    #[test]
    fn test_create((shape, values) in shaped_values()) {
        let t = TensorData::new(values.clone(), &shape).unwrap();
        prop_assert_eq!(t.shape(), &shape[..]);
        prop_assert_eq!(t.strides(), &*strides_from_shape(&shape));
        prop_assert_eq!(t.size(), values.len());
        prop_assert_eq!(t.dims(), shape.len());
        prop_assert!(t.is_contiguous());
        prop_assert_eq!(t.to_vec().unwrap(), values.clone());
        for (ordinal, idx) in t.indices().enumerate() {
            let signed: Vec<i64> = idx.iter().map(|&i| i as i64).collect();
            prop_assert_eq!(t.index(&signed).unwrap(), ordinal);
            prop_assert_eq!(t.get(&idx).unwrap(), values[ordinal]);
        }
        // A value count that does not match the shape is refused.
        let mut wrong = values.clone();
        wrong.push(0.0);
        prop_assert!(TensorData::new(wrong, &shape).is_err());
    }

    /// A contiguous tensor views as any shape of its size (a random factorisation), over the
    /// same storage, with the k-th index (row-major) of the view at the k-th index's position
    /// in the original; a non-contiguous one refuses.
    #[test]
    fn test_view((t, new_shape) in tensor_data().prop_flat_map(|t| { let n = t.size(); (Just(t), factorisations(n)) })) {
        prop_assert_eq!(new_shape.iter().product::<usize>(), t.size());
        if !t.is_contiguous() {
            prop_assert!(t.view(&new_shape).is_err());
        }
        let packed = TensorData::new(t.to_vec().unwrap(), t.shape()).unwrap();
        let v = packed.view(&new_shape).unwrap();
        prop_assert_eq!(v.shape(), &new_shape[..]);
        prop_assert!(v.storage().same_buffer(packed.storage()));
        for (i, j) in v.indices().zip(packed.indices()) {
            prop_assert_eq!(v.layout().position(&i), packed.layout().position(&j));
            prop_assert_eq!(v.get(&i).unwrap(), t.get(&j).unwrap());
        }
    }

    /// to_string of random small tensors (any layout) equals the original's algorithm, and
    /// has its structure: one `[` and one newline per sub-list opened, as many `]`, and the
    /// values in row-major order, each rounded to two decimals.
    #[test]
    fn test_string(t in tensor_data()) {
        let s = t.to_string();
        prop_assert_eq!(&s, &original_to_string(&t));
        let shape = t.shape();
        // A list opens at every index whose trailing dims from some dim d on are all 0.
        let lists: usize = (0..shape.len()).map(|d| shape[..d].iter().product::<usize>()).sum();
        prop_assert_eq!(s.matches('[').count(), lists);
        prop_assert_eq!(s.matches(']').count(), lists);
        prop_assert_eq!(s.matches('\n').count(), lists);
        let numbers: Vec<&str> = s
            .split(|c: char| c.is_whitespace() || c == '[' || c == ']')
            .filter(|w| !w.is_empty())
            .collect();
        let values = t.to_vec().unwrap();
        prop_assert_eq!(numbers.len(), values.len());
        for (word, v) in numbers.iter().zip(&values) {
            let decimals = word.split('.').nth(1).map(str::len);
            prop_assert_eq!(decimals, Some(2), "{}", word);
            let parsed: f64 = word.parse().unwrap();
            prop_assert!((parsed - v).abs() <= 0.005 + 1e-9, "{} for {}", word, v);
        }
    }

    /// `to_index` walks row-major order, so for packed strides it inverts `index_to_position`.
    #[test]
    fn to_index_inverts_position_when_contiguous(shape in shapes()) {
        let strides = strides_from_shape(&shape);
        let mut idx = vec![0; shape.len()];
        for ordinal in 0..shape.iter().product() {
            to_index(ordinal, &shape, &mut idx);
            prop_assert_eq!(index_to_position(&idx, &strides), ordinal);
        }
    }
}

#[test]
fn test_shape_broadcast() {
    let ok = |a: &[usize], b: &[usize]| shape_broadcast(a, b).unwrap().to_vec();
    assert_eq!(ok(&[1], &[5, 5]), [5, 5]);
    assert_eq!(ok(&[5, 5], &[1]), [5, 5]);
    assert_eq!(ok(&[1, 5, 5], &[5, 5]), [1, 5, 5]);
    assert_eq!(ok(&[5, 1, 5, 1], &[1, 5, 1, 5]), [5, 5, 5, 5]);
    assert_eq!(ok(&[2, 5], &[5]), [2, 5]);
    assert_eq!(
        shape_broadcast(&[5, 7, 5, 1], &[1, 5, 1, 5])
            .unwrap_err()
            .to_string(),
        "broadcast: cannot broadcast shapes [5, 7, 5, 1] and [1, 5, 1, 5] (dim 1: 7 vs 5)"
    );
    assert!(shape_broadcast(&[5, 2], &[5]).is_err());
}

#[test]
fn broadcast_index_pins_size_one_dims() {
    let mut out = [7; 3];
    broadcast_index(&[1, 2, 3, 4], &[2, 3, 4, 5], &[3, 1, 5], &mut out);
    assert_eq!(out, [2, 0, 4]);
    let mut one = [7; 1];
    broadcast_index(&[1, 2], &[2, 3], &[1], &mut one);
    assert_eq!(one, [0]);
}

#[test]
fn index_to_position_ignores_extra_entries() {
    assert_eq!(index_to_position(&[1, 2, 99], &[5, 1]), 7);
}

#[test]
fn test_string_goldens() {
    let t = TensorData::new(vec![0.0, 1.0, 2.0, 3.0], &[2, 2]).unwrap();
    assert_eq!(t.to_string(), "\n[\n\t[0.00 1.00]\n\t[2.00 3.00]]");
    let v = TensorData::new(vec![0.0, 1.5, -2.0], &[3]).unwrap();
    assert_eq!(v.to_string(), "\n[0.00 1.50 -2.00]");
    // The expected strings below are what the original (Python, `%3.2f`) prints.
    let cube = TensorData::new((0..8).map(f64::from).collect(), &[2, 2, 2]).unwrap();
    assert_eq!(
        cube.to_string(),
        "\n[\n\t[\n\t\t[0.00 1.00]\n\t\t[2.00 3.00]]\n\t[\n\t\t[4.00 5.00]\n\t\t[6.00 7.00]]]"
    );
    let one = TensorData::new(vec![5.0], &[1]).unwrap();
    assert_eq!(one.to_string(), "\n[5.00]");
    let column = TensorData::new(vec![1.0, -2.0, 3.456], &[3, 1]).unwrap();
    assert_eq!(column.to_string(), "\n[\n\t[1.00]\n\t[-2.00]\n\t[3.46]]");
    // Rounding as `%3.2f` does (half to even on the exact binary value, signed zero).
    let rounding =
        TensorData::new(vec![0.125, -0.001, 2.675, 99.995, -100.0, 0.375], &[2, 3]).unwrap();
    assert_eq!(
        rounding.to_string(),
        "\n[\n\t[0.12 -0.00 2.67]\n\t[100.00 -100.00 0.38]]"
    );
    let ones = TensorData::new(vec![0.5, -1.5, 2.0, 7.25], &[1, 2, 1, 2]).unwrap();
    assert_eq!(
        ones.to_string(),
        "\n[\n\t[\n\t\t[\n\t\t\t[0.50 -1.50]]\n\t\t[\n\t\t\t[2.00 7.25]]]]"
    );
    // A permuted layout prints in its own (logical) order.
    let t = TensorData::new(vec![0.0, 1.0, 2.0, 3.0], &[2, 2])
        .unwrap()
        .permute(&[1, 0])
        .unwrap();
    assert_eq!(t.to_string(), "\n[\n\t[0.00 2.00]\n\t[1.00 3.00]]");
}

#[test]
fn contiguity_is_exact_packing() {
    // Non-increasing strides are not enough: a broadcast (stride 0) or sliced layout is not packed.
    assert!(
        !Layout::with_strides(&[3, 4], &[0, 1])
            .unwrap()
            .is_contiguous()
    );
    assert!(
        !Layout::with_strides(&[3, 4], &[10, 1])
            .unwrap()
            .is_contiguous()
    );
    // Size-1 dims may have any stride.
    assert!(
        Layout::with_strides(&[1, 4], &[99, 1])
            .unwrap()
            .is_contiguous()
    );
}

#[test]
fn narrow_makes_an_offset_view() {
    let t = TensorData::new((0..12).map(f64::from).collect(), &[3, 4]).unwrap();
    let layout = t.layout().narrow(1, 1, 2).unwrap();
    assert_eq!(layout.offset(), 1);
    let sliced = TensorData::from_parts(t.storage().clone(), layout).unwrap();
    assert_eq!(
        sliced.to_vec().unwrap(),
        vec![1.0, 2.0, 5.0, 6.0, 9.0, 10.0]
    );
    assert!(t.layout().narrow(1, 3, 2).is_err());
    assert!(t.layout().narrow(2, 0, 1).is_err());
}

#[test]
fn broadcast_to_uses_stride_zero() {
    let l = Layout::contiguous(&[3])
        .unwrap()
        .broadcast_to(&[2, 3])
        .unwrap();
    assert_eq!((l.shape(), l.strides()), (&[2, 3][..], &[0, 1][..]));
    assert!(
        Layout::contiguous(&[3])
            .unwrap()
            .broadcast_to(&[3, 2])
            .is_err()
    );
}

#[test]
fn sample_stays_in_range_and_is_seeded() {
    let t = TensorData::new(vec![0.0; 24], &[2, 3, 4]).unwrap();
    let mut a = Rng::seed(3);
    let mut b = Rng::seed(3);
    for _ in 0..100 {
        let (x, y) = (t.sample(&mut a), t.sample(&mut b));
        assert_eq!(x, y);
        assert!(x.iter().zip(t.shape()).all(|(i, n)| i < n));
    }
}

// ---- storage recycling (src/tensor_data/pool.rs) ------------------------------------------

#[test]
fn recycled_buffers_never_show_old_values() {
    use minitorch::tensor_data::pool;
    use minitorch::{Tensor, TensorData};
    pool::release();
    for round in 0..3 {
        // A buffer of 1000 values is dropped (kept by the pool), then the next tensors of that
        // size reuse it: zeros must be zeros, and every op's output fully overwritten.
        drop(Tensor::full(&[10, 100], 7.0 + round as f64).unwrap());
        assert!(pool::held_bytes() >= 8000);
        assert!(
            Tensor::zeros(&[10, 100])
                .unwrap()
                .to_vec()
                .iter()
                .all(|&v| v == 0.0)
        );
        drop(Tensor::full(&[1000], -3.0).unwrap());
        let a = Tensor::ones(&[10, 100]).unwrap();
        let b = a.add(&a).unwrap();
        assert!(b.to_vec().iter().all(|&v| v == 2.0));
        let data = TensorData::new(vec![1.5; 1000], &[1000]).unwrap();
        assert_eq!(data.to_vec().unwrap(), vec![1.5; 1000]);
    }
    pool::release();
    assert_eq!(pool::held_bytes(), 0);
}

#[test]
fn a_shared_buffer_is_not_recycled_while_a_view_holds_it() {
    use minitorch::Tensor;
    use minitorch::tensor_data::pool;
    let a = Tensor::full(&[4, 250], 5.0).unwrap();
    let view = a.permute(&[1, 0]).unwrap();
    drop(a);
    // Tensors of the same size made now must not take the buffer the view still reads.
    let others: Vec<Tensor> = (0..4)
        .map(|_| Tensor::full(&[4, 250], 9.0).unwrap())
        .collect();
    assert!(view.to_vec().iter().all(|&v| v == 5.0));
    assert!(others.iter().all(|t| t.to_vec().iter().all(|&v| v == 9.0)));
    drop(view);
    pool::release();
}

#[test]
fn the_pool_is_bounded() {
    use minitorch::Tensor;
    use minitorch::tensor_data::pool;
    pool::release();
    let big: Vec<Tensor> = (0..20)
        .map(|_| Tensor::zeros(&[1 << 20]).unwrap())
        .collect();
    drop(big); // 160 MiB dropped at once
    assert!(pool::held_bytes() <= pool::MAX_HELD_BYTES);
    pool::release();
}
