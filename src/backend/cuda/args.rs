//! Kernel arguments, field for field the structs of `kernels/common.cuh` (`#[repr(C)]`), so
//! the same bytes reach a GPU kernel and its simulated twin. The fields are documented there.
#![allow(missing_docs)]

use crate::backend::{MapOp, ReduceOp, ZipOp};
use crate::layout::{Dims, Layout, MAX_DIMS};
use crate::tensor_data::TensorData;

/// `Layout` of common.cuh: shape, strides, offset and rank as 64-bit integers.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct KLayout {
    /// Sizes.
    pub shape: [i64; MAX_DIMS],
    /// Strides (0 on broadcast dimensions).
    pub strides: [i64; MAX_DIMS],
    /// Storage offset of index 0.
    pub offset: i64,
    /// Number of dimensions.
    pub dims: i64,
}

impl From<&Layout> for KLayout {
    /// The kernels' view of a layout whose element count passed [`check_kernel_sizes`] (so
    /// every size fits `i64`; offsets and strides of a `TensorData` lie inside its storage).
    /// A size-1 dimension's stride never applies and may be anything: it becomes 0.
    fn from(l: &Layout) -> KLayout {
        let mut k = KLayout {
            offset: l.offset() as i64,
            dims: l.dims() as i64,
            ..KLayout::default()
        };
        for d in 0..l.dims() {
            k.shape[d] = l.shape()[d] as i64;
            k.strides[d] = if l.shape()[d] == 1 {
                0
            } else {
                l.strides()[d] as i64
            };
        }
        k
    }
}

/// Refuses operands the kernels' 64-bit signed indices cannot describe: an element count past
/// `i64::MAX` (possible for a broadcast view over a small storage), or more blocks than a
/// grid dimension holds (2³²−1).
pub fn check_kernel_sizes(op: &'static str, operands: &[&TensorData]) -> crate::error::Result<()> {
    for t in operands {
        if t.size() > i64::MAX as usize
            || t.size() / super::launch::THREADS_PER_BLOCK > u32::MAX as usize
        {
            return Err(crate::error::Error::Invalid {
                what: op,
                message: format!(
                    "a tensor of shape {:?} has too many elements for the CUDA kernels' indices",
                    t.shape()
                ),
            });
        }
    }
    Ok(())
}

/// Arguments of `map_kernel`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct MapArgs {
    pub out: *mut f64,
    pub input: *const f64,
    pub out_layout: KLayout,
    pub in_layout: KLayout,
    pub size: i64,
    pub op: i64,
    pub contiguous: i64,
}

impl MapArgs {
    /// `op` on `a` broadcast into the packed `out_shape`, given the device addresses of the
    /// output and of `a`'s whole storage.
    pub fn new(op: MapOp, a: &TensorData, out_shape: Dims, [out, input]: [*mut f64; 2]) -> MapArgs {
        MapArgs {
            out,
            input,
            out_layout: KLayout::from(&Layout::packed(out_shape)),
            in_layout: KLayout::from(a.layout()),
            size: out_shape.product() as i64,
            op: op.code(),
            contiguous: i64::from(a.shape() == &*out_shape && a.is_contiguous()),
        }
    }
}

/// Arguments of `zip_kernel`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ZipArgs {
    pub out: *mut f64,
    pub a: *const f64,
    pub b: *const f64,
    pub out_layout: KLayout,
    pub a_layout: KLayout,
    pub b_layout: KLayout,
    pub size: i64,
    pub op: i64,
    pub contiguous: i64,
}

impl ZipArgs {
    /// `op` on `a` and `b` broadcast into the packed `out_shape`, given the device addresses
    /// of the output and of both operands' whole storages.
    pub fn new(
        op: ZipOp,
        [a, b]: [&TensorData; 2],
        out_shape: Dims,
        [out, pa, pb]: [*mut f64; 3],
    ) -> ZipArgs {
        let packed = |t: &TensorData| t.shape() == &*out_shape && t.is_contiguous();
        ZipArgs {
            out,
            a: pa,
            b: pb,
            out_layout: KLayout::from(&Layout::packed(out_shape)),
            a_layout: KLayout::from(a.layout()),
            b_layout: KLayout::from(b.layout()),
            size: out_shape.product() as i64,
            op: op.code(),
            contiguous: i64::from(packed(a) && packed(b)),
        }
    }
}

/// Arguments of `reduce_kernel`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ReduceArgs {
    pub out: *mut f64,
    pub input: *const f64,
    pub out_layout: KLayout,
    pub in_layout: KLayout,
    pub out_size: i64,
    pub dim: i64,
    pub op: i64,
}

impl ReduceArgs {
    /// `op` folded along `dim` of `a` into the packed `out_shape` (`a`'s shape with `dim` set
    /// to 1), given the device addresses of the output and of `a`'s whole storage.
    pub fn new(
        op: ReduceOp,
        a: &TensorData,
        dim: usize,
        out_shape: Dims,
        [out, input]: [*mut f64; 2],
    ) -> ReduceArgs {
        ReduceArgs {
            out,
            input,
            out_layout: KLayout::from(&Layout::packed(out_shape)),
            in_layout: KLayout::from(a.layout()),
            out_size: out_shape.product() as i64,
            dim: dim as i64,
            op: op.code(),
        }
    }
}

/// Arguments of `matmul_kernel`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct MatmulArgs {
    pub out: *mut f64,
    pub a: *const f64,
    pub b: *const f64,
    pub a_offset: i64,
    pub a_batch_stride: i64,
    pub a_row_stride: i64,
    pub a_col_stride: i64,
    pub b_offset: i64,
    pub b_batch_stride: i64,
    pub b_row_stride: i64,
    pub b_col_stride: i64,
    pub batch: i64,
    pub rows: i64,
    pub cols: i64,
    pub inner: i64,
}

impl MatmulArgs {
    /// The arguments for `(n, rows, inner) @ (n, inner, cols)` of `a` and `b` (3-D layouts,
    /// a batch of 1 read with batch stride 0), given the device addresses of out, a and b.
    pub fn new(
        a: &Layout,
        b: &Layout,
        [out, pa, pb]: [*mut f64; 3],
        [n, rows, cols]: [usize; 3],
    ) -> MatmulArgs {
        let batch_stride = |l: &Layout| {
            if l.shape()[0] == 1 {
                0
            } else {
                l.strides()[0] as i64
            }
        };
        MatmulArgs {
            out,
            a: pa,
            b: pb,
            a_offset: a.offset() as i64,
            a_batch_stride: batch_stride(a),
            a_row_stride: a.strides()[1] as i64,
            a_col_stride: a.strides()[2] as i64,
            b_offset: b.offset() as i64,
            b_batch_stride: batch_stride(b),
            b_row_stride: b.strides()[1] as i64,
            b_col_stride: b.strides()[2] as i64,
            batch: n as i64,
            rows: rows as i64,
            cols: cols as i64,
            inner: a.shape()[2] as i64,
        }
    }
}

/// Arguments of `axpy_kernel` (`y += alpha · x` in place).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct AxpyArgs {
    pub y: *mut f64,
    pub x: *const f64,
    pub y_layout: KLayout,
    pub x_layout: KLayout,
    pub size: i64,
    pub alpha: f64,
}

impl AxpyArgs {
    /// `y += alpha · x` for `x` of `y`'s shape, given the device addresses of both storages.
    pub fn new(y: &TensorData, alpha: f64, x: &TensorData, [py, px]: [*mut f64; 2]) -> AxpyArgs {
        AxpyArgs {
            y: py,
            x: px,
            y_layout: KLayout::from(y.layout()),
            x_layout: KLayout::from(x.layout()),
            size: y.size() as i64,
            alpha,
        }
    }
}

/// Arguments of `gather_rows_kernel` and `scatter_rows_kernel` (`kernels/embedding.cu`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RowsArgs {
    pub out: *mut f64,
    pub input: *const f64,
    pub ids: *const f64,
    pub offsets: *const f64,
    pub in_layout: KLayout,
    pub size: i64,
    pub dim: i64,
}

impl RowsArgs {
    /// The gather of `ids.len()` rows of the 2-D `table` (addresses: output, table storage,
    /// ids), or, with `offsets`, the scatter of the 2-D gradient `table` into `size / dim`
    /// rows.
    pub fn new(
        table: &TensorData,
        size: usize,
        [out, input, ids, offsets]: [*mut f64; 4],
    ) -> RowsArgs {
        RowsArgs {
            out,
            input,
            ids,
            offsets,
            in_layout: KLayout::from(table.layout()),
            size: size as i64,
            dim: table.shape()[1] as i64,
        }
    }
}

/// The scatter kernel's lists for `ids` into `rows` rows: the positions sorted by id (stably:
/// increasing within an id) and where each id's run starts (`rows + 1` offsets), as the f64
/// values the kernel reads. Every id must be below `rows` (the callers check it first, with
/// `simple::check_scatter`).
pub fn scatter_lists(ids: &[u32], rows: usize) -> (Vec<f64>, Vec<f64>) {
    let mut offsets = vec![0usize; rows + 1];
    for &id in ids {
        offsets[id as usize + 1] += 1;
    }
    for v in 0..rows {
        offsets[v + 1] += offsets[v];
    }
    let mut next = offsets.clone();
    let mut positions = vec![0.0; ids.len()];
    for (p, &id) in ids.iter().enumerate() {
        positions[next[id as usize]] = p as f64;
        next[id as usize] += 1;
    }
    (positions, offsets.into_iter().map(|o| o as f64).collect())
}

/// Arguments of `conv2d_kernel`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ConvArgs {
    pub out: *mut f64,
    pub input: *const f64,
    pub weight: *const f64,
    pub out_layout: KLayout,
    pub in_layout: KLayout,
    pub w_layout: KLayout,
    pub size: i64,
    pub reverse: i64,
}

impl ConvArgs {
    /// The cross-correlation of `input` with `weight` into the packed `out_shape`, given the
    /// device addresses of the output and of both operands' whole storages.
    pub fn new(
        [input, weight]: [&TensorData; 2],
        out_shape: Dims,
        reverse: bool,
        [out, pi, pw]: [*mut f64; 3],
    ) -> ConvArgs {
        ConvArgs {
            out,
            input: pi,
            weight: pw,
            out_layout: KLayout::from(&Layout::packed(out_shape)),
            in_layout: KLayout::from(input.layout()),
            w_layout: KLayout::from(weight.layout()),
            size: out_shape.product() as i64,
            reverse: i64::from(reverse),
        }
    }
}

/// Arguments of the practice kernels (`sum_practice`: out, a, size; `mm_practice`: all four).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PracticeArgs {
    pub out: *mut f64,
    pub a: *const f64,
    pub b: *const f64,
    pub size: i64,
}

/// CUDA's `dim3`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dim3 {
    /// x extent.
    pub x: u32,
    /// y extent.
    pub y: u32,
    /// z extent.
    pub z: u32,
}

impl Dim3 {
    /// `(x, 1, 1)`.
    pub fn x(x: usize) -> Dim3 {
        Dim3 {
            x: x as u32,
            y: 1,
            z: 1,
        }
    }
}

// The sizes `kernels/common.cuh` asserts for its structs (`static_assert(sizeof(...))`); the
// unit test below checks that both files name the same numbers.
const _: () = assert!(std::mem::size_of::<KLayout>() == 144);
const _: () = assert!(std::mem::size_of::<MapArgs>() == 328);
const _: () = assert!(std::mem::size_of::<ZipArgs>() == 480);
const _: () = assert!(std::mem::size_of::<ReduceArgs>() == 328);
const _: () = assert!(std::mem::size_of::<MatmulArgs>() == 120);
const _: () = assert!(std::mem::size_of::<AxpyArgs>() == 320);
const _: () = assert!(std::mem::size_of::<RowsArgs>() == 192);
const _: () = assert!(std::mem::size_of::<PracticeArgs>() == 32);
const _: () = assert!(std::mem::size_of::<ConvArgs>() == 472);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cuda::launch;
    use crate::backend::{MapOp, ReduceOp, ZipOp};
    use crate::{layout, operators};
    use std::collections::BTreeMap;

    const COMMON: &str = include_str!("../../../kernels/common.cuh");

    /// `#define NAME VALUE` lines of common.cuh.
    fn defines() -> BTreeMap<String, String> {
        COMMON
            .lines()
            .filter_map(|l| l.trim().strip_prefix("#define "))
            .filter_map(|l| {
                let mut words = l.split_whitespace();
                Some((words.next()?.to_string(), words.next()?.to_string()))
            })
            .collect()
    }

    /// `static_assert(sizeof(NAME) == N, ...)` lines of common.cuh.
    fn sizes() -> BTreeMap<String, usize> {
        COMMON
            .lines()
            .filter_map(|l| l.trim().strip_prefix("static_assert(sizeof("))
            .filter_map(|l| {
                let (name, rest) = l.split_once(") == ")?;
                let n = rest.split(',').next()?.trim().parse().ok()?;
                Some((name.to_string(), n))
            })
            .collect()
    }

    #[test]
    fn every_op_code_matches_the_rust_table() {
        let defines = defines();
        let mut expected: Vec<(String, i64)> = Vec::new();
        expected.extend(MapOp::ALL.iter().map(|o| (o.name().to_string(), o.code())));
        expected.extend(ZipOp::ALL.iter().map(|o| (o.name().to_string(), o.code())));
        expected.extend(
            ReduceOp::ALL
                .iter()
                .map(|o| (o.name().to_string(), o.code())),
        );
        for (name, code) in &expected {
            let key = format!("OP_{}", name.to_uppercase());
            let value = defines.get(&key).unwrap_or_else(|| panic!("{key} missing"));
            assert_eq!(value.parse::<i64>().unwrap(), *code, "{key}");
        }
        // And no op on the CUDA side that Rust does not know.
        let cuda_ops = defines.keys().filter(|k| k.starts_with("OP_")).count();
        assert_eq!(cuda_ops, expected.len(), "OP_ defines vs Rust ops");
        // Each code appears once per kind, in a `case` of the kernels' switch.
        for (name, _) in &expected {
            let case = format!("case OP_{}:", name.to_uppercase());
            assert!(COMMON.contains(&case), "{case} missing in common.cuh");
        }
    }

    #[test]
    fn every_constant_matches_rust() {
        let d = defines();
        let int = |k: &str| d[k].parse::<usize>().unwrap();
        let float = |k: &str| d[k].parse::<f64>().unwrap();
        assert_eq!(int("MAX_DIMS"), layout::MAX_DIMS);
        assert_eq!(int("THREADS_PER_BLOCK"), launch::THREADS_PER_BLOCK);
        assert_eq!(int("TILE"), launch::TILE);
        assert_eq!(int("REDUCE_MAX_THREADS"), launch::REDUCE_MAX_THREADS);
        assert_eq!(
            int("CONV_BLOCK_MAX_THREADS"),
            launch::CONV_BLOCK_MAX_THREADS
        );
        assert_eq!(float("LOG_EPS"), operators::LOG_EPS);
        assert_eq!(float("IS_CLOSE_TOL"), operators::IS_CLOSE_TOL);
        let known = [
            "MAX_DIMS",
            "THREADS_PER_BLOCK",
            "TILE",
            "REDUCE_MAX_THREADS",
            "CONV_BLOCK_MAX_THREADS",
            "LOG_EPS",
            "IS_CLOSE_TOL",
        ];
        for key in d.keys().filter(|k| !k.starts_with("OP_")) {
            assert!(
                known.contains(&key.as_str()),
                "{key} is not checked against Rust"
            );
        }
    }

    #[test]
    fn every_struct_size_matches_rust() {
        use std::mem::size_of;
        let expected = [
            ("Layout", size_of::<KLayout>()),
            ("MapArgs", size_of::<MapArgs>()),
            ("ZipArgs", size_of::<ZipArgs>()),
            ("ReduceArgs", size_of::<ReduceArgs>()),
            ("MatmulArgs", size_of::<MatmulArgs>()),
            ("AxpyArgs", size_of::<AxpyArgs>()),
            ("PracticeArgs", size_of::<PracticeArgs>()),
            ("ConvArgs", size_of::<ConvArgs>()),
            ("RowsArgs", size_of::<RowsArgs>()),
        ];
        let sizes = sizes();
        assert_eq!(sizes.len(), expected.len());
        for (name, size) in expected {
            assert_eq!(sizes.get(name), Some(&size), "{name}");
        }
        let structs = COMMON.lines().filter(|l| l.starts_with("struct ")).count();
        assert_eq!(structs, expected.len(), "every struct has a size assertion");
    }
}
