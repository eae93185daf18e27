//! Mirrors the original `test_tensor_data.py` (tasks 2.1, 2.2), plus layout helpers.

mod common;

use common::{permutation, shapes};
use minitorch::layout::{
    broadcast_index, index_to_position, shape_broadcast, strides_from_shape, to_index,
};
use minitorch::{Layout, Rng, TensorData};
use proptest::prelude::*;
use std::collections::HashSet;

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

    #[test]
    fn test_permute(shape in shapes().prop_flat_map(|s| { let n = s.len(); (Just(s), permutation(n)) })) {
        let (shape, perm) = shape;
        let t = TensorData::new((0..shape.iter().product::<usize>()).map(|v| v as f64).collect(), &shape).unwrap();
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
        for (i, &p) in perm.iter().enumerate() {
            prop_assert_eq!(permuted.shape()[i], shape[p]);
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
fn test_string() {
    let t = TensorData::new(vec![0.0, 1.0, 2.0, 3.0], &[2, 2]).unwrap();
    assert_eq!(t.to_string(), "\n[\n\t[0.00 1.00]\n\t[2.00 3.00]]");
    let v = TensorData::new(vec![0.0, 1.5, -2.0], &[3]).unwrap();
    assert_eq!(v.to_string(), "\n[0.00 1.50 -2.00]");
    let cube = TensorData::new((0..8).map(f64::from).collect(), &[2, 2, 2]).unwrap();
    assert!(cube.to_string().starts_with("\n[\n\t[\n\t\t[0.00 1.00]"));
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
