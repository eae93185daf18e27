//! MiniTorch's `test_conv.py` (tasks 4.1 and 4.2) and more: convolution forward against an
//! independent loop, the golden `[0,1,2,3] ⊛ [1,2,3]`, gradients against central differences
//! on every backend, every backend against the reference on permuted, offset, sliced and
//! broadcast layouts, and bad input.

mod common;

use common::layouts::{KINDS, make, values};
use common::{BACKENDS, assert_near};
use minitorch::{Backend, Rng, Tensor, grad_check};

fn all_backends() -> Vec<Backend> {
    let mut b = vec![Backend::Simple];
    b.extend(BACKENDS.iter().copied());
    b
}

fn rand_on(shape: &[usize], seed: u64, backend: Backend) -> Tensor {
    let n = shape.iter().product();
    Tensor::from_vec(
        values(n, seed).iter().map(|v| v.clamp(-3.0, 3.0)).collect(),
        shape,
    )
    .unwrap()
    .to(backend)
}

/// The 2-D cross-correlation computed independently of the library: plain loops over packed
/// row-major values (1-D as height 1).
fn naive(input: &[f64], is: [usize; 4], weight: &[f64], ws: [usize; 4]) -> Vec<f64> {
    let [b, cin, h, w] = is;
    let [cout, _, kh, kw] = ws;
    let mut out = vec![0.0; b * cout * h * w];
    for bi in 0..b {
        for o in 0..cout {
            for y in 0..h {
                for x in 0..w {
                    let mut acc = 0.0;
                    for c in 0..cin {
                        for i in 0..kh {
                            for j in 0..kw {
                                if y + i < h && x + j < w {
                                    acc += weight[((o * cin + c) * kh + i) * kw + j]
                                        * input[((bi * cin + c) * h + y + i) * w + x + j];
                                }
                            }
                        }
                    }
                    out[((bi * cout + o) * h + y) * w + x] = acc;
                }
            }
        }
    }
    out
}

#[test]
fn test_conv1d_simple() {
    for backend in all_backends() {
        let t = Tensor::from_vec(vec![0.0, 1.0, 2.0, 3.0], &[1, 1, 4])
            .unwrap()
            .to(backend);
        let w = Tensor::from_vec(vec![1.0, 2.0, 3.0], &[1, 1, 3])
            .unwrap()
            .to(backend);
        let out = t.conv1d(&w).unwrap();
        assert_eq!(out.shape(), &[1, 1, 4]);
        assert_eq!(out.to_vec(), vec![8.0, 14.0, 8.0, 3.0], "{backend}");
    }
}

/// A fixed 2-D case worked by hand: a 3×3 image against a 2×2 kernel, zero past the
/// bottom-right edges (PyTorch's `conv2d` with padding (0, 1, 0, 1) gives the same).
#[test]
fn conv2d_fixed_case_worked_by_hand() {
    let image: Vec<f64> = (1..=9).map(f64::from).collect();
    let kernel = vec![1.0, -1.0, 2.0, 0.5];
    // out[y][x] = in[y][x] - in[y][x+1] + 2 in[y+1][x] + 0.5 in[y+1][x+1]
    let want = vec![
        1.0 - 2.0 + 8.0 + 2.5,
        2.0 - 3.0 + 10.0 + 3.0,
        3.0 + 12.0,
        4.0 - 5.0 + 14.0 + 4.0,
        5.0 - 6.0 + 16.0 + 4.5,
        6.0 + 18.0,
        7.0 - 8.0,
        8.0 - 9.0,
        9.0,
    ];
    for backend in all_backends() {
        let x = Tensor::from_vec(image.clone(), &[1, 1, 3, 3])
            .unwrap()
            .to(backend);
        let w = Tensor::from_vec(kernel.clone(), &[1, 1, 2, 2])
            .unwrap()
            .to(backend);
        assert_eq!(x.conv2d(&w).unwrap().to_vec(), want, "{backend}");
    }
}

#[test]
fn conv_forward_matches_an_independent_loop() {
    let cases: [([usize; 4], [usize; 4]); 6] = [
        ([2, 3, 1, 7], [4, 3, 1, 3]), // 1-D shapes as height 1
        ([1, 1, 1, 3], [1, 1, 1, 5]), // kernel wider than the input
        ([2, 2, 5, 6], [3, 2, 3, 3]), // channels and batch > 1
        ([1, 3, 4, 4], [2, 3, 2, 3]), // non-square kernel
        ([3, 1, 6, 5], [2, 1, 4, 1]), // a column kernel
        ([1, 2, 2, 2], [1, 2, 3, 3]), // kernel bigger than the image both ways
    ];
    for (seed, (is, ws)) in cases.into_iter().enumerate() {
        let xv = values(is.iter().product(), seed as u64);
        let wv = values(ws.iter().product(), 100 + seed as u64);
        let want = naive(&xv, is, &wv, ws);
        for backend in all_backends() {
            let x = Tensor::from_vec(xv.clone(), &is).unwrap().to(backend);
            let w = Tensor::from_vec(wv.clone(), &ws).unwrap().to(backend);
            let out = x.conv2d(&w).unwrap();
            let expected = Tensor::from_vec(want.clone(), &[is[0], ws[0], is[2], is[3]]).unwrap();
            assert_near(
                &out,
                &expected,
                &format!("conv2d {is:?} {ws:?} on {backend}"),
            );
            if is[2] == 1 && ws[2] == 1 {
                let x1 = x.view(&[is[0], is[1], is[3]]).unwrap();
                let w1 = w
                    .contiguous()
                    .unwrap()
                    .view(&[ws[0], ws[1], ws[3]])
                    .unwrap();
                let out1 = x1.conv1d(&w1).unwrap();
                let e1 = expected.view(&[is[0], ws[0], is[3]]).unwrap();
                assert_near(&out1, &e1, &format!("conv1d {is:?} {ws:?} on {backend}"));
            }
        }
    }
}

#[test]
fn test_conv1d_grad_every_backend() {
    let cases: [([usize; 3], [usize; 3]); 4] = [
        ([1, 1, 6], [1, 1, 4]),
        ([2, 2, 6], [3, 2, 2]),
        ([2, 3, 4], [2, 3, 6]), // kernel wider than the input
        ([3, 1, 5], [2, 1, 1]),
    ];
    for backend in all_backends() {
        for (seed, (is, ws)) in cases.into_iter().enumerate() {
            let x = rand_on(&is, seed as u64, backend);
            let w = rand_on(&ws, 50 + seed as u64, backend);
            grad_check(|v| v[0].conv1d(&v[1]), &[x, w])
                .unwrap_or_else(|e| panic!("conv1d {is:?} {ws:?} on {backend}: {e}"));
        }
    }
}

#[test]
fn test_conv2d_grad_every_backend() {
    let cases: [([usize; 4], [usize; 4]); 4] = [
        ([1, 1, 4, 4], [1, 1, 2, 2]),
        ([2, 2, 4, 5], [3, 2, 3, 2]), // non-square kernel, channels and batch > 1
        ([1, 2, 3, 3], [2, 2, 4, 4]), // kernel bigger than the image
        ([2, 1, 5, 3], [1, 1, 1, 3]),
    ];
    for backend in all_backends() {
        for (seed, (is, ws)) in cases.into_iter().enumerate() {
            let x = rand_on(&is, seed as u64, backend);
            let w = rand_on(&ws, 70 + seed as u64, backend);
            // Several checked indices per case (grad_check draws one per input).
            for _ in 0..3 {
                grad_check(|v| v[0].conv2d(&v[1]), &[x.clone(), w.clone()])
                    .unwrap_or_else(|e| panic!("conv2d {is:?} {ws:?} on {backend}: {e}"));
            }
        }
    }
}

/// The fused layer + ReLU's gradients against central differences, every backend (values
/// kept away from the ReLU's kink, where a difference quotient straddles it).
#[test]
fn conv_add_relu_grad_every_backend() {
    for backend in all_backends() {
        for seed in 0..3u64 {
            let x = rand_on(&[2, 2, 4, 5], seed, backend);
            let w = rand_on(&[3, 2, 3, 2], 80 + seed, backend);
            let b = rand_on(&[3, 1, 1], 90 + seed, backend);
            let out = x.conv2d_add_relu(&w, &b).unwrap().to_vec();
            if out.iter().any(|&v| v > 0.0 && v < 1e-3) {
                continue;
            }
            grad_check(|v| v[0].conv2d_add_relu(&v[1], &v[2]), &[x, w, b])
                .unwrap_or_else(|e| panic!("conv2d_add_relu seed {seed} on {backend}: {e}"));
            let x = rand_on(&[2, 2, 6], seed, backend);
            let w = rand_on(&[3, 2, 2], 60 + seed, backend);
            let b = rand_on(&[3, 1], 70 + seed, backend);
            grad_check(|v| v[0].conv1d_add_relu(&v[1], &v[2]), &[x, w, b])
                .unwrap_or_else(|e| panic!("conv1d_add_relu seed {seed} on {backend}: {e}"));
        }
    }
}

/// The fused ReLU clamps as `operators::relu` does: NaN → 0, −0 → +0, on every backend.
#[test]
fn conv_add_relu_clamps_nan_and_negative_zero_like_relu() {
    // 1×1 kernel of weight 1 and bias 0: the output is the input, then the ReLU. Rows of 8
    // or more, for the fast backend's direct kernel.
    let special = [
        f64::NAN,
        -0.0,
        0.0,
        -2.0,
        3.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        0.5,
    ];
    let xv: Vec<f64> = special.iter().cycle().take(2 * 12).copied().collect();
    for backend in all_backends() {
        let x = Tensor::from_vec(xv.clone(), &[1, 1, 2, 12])
            .unwrap()
            .to(backend);
        let w = Tensor::from_vec(vec![1.0], &[1, 1, 1, 1])
            .unwrap()
            .to(backend);
        let b = Tensor::zeros(&[1, 1, 1]).unwrap().to(backend);
        let got = x.conv2d_add_relu(&w, &b).unwrap().to_vec();
        let want: Vec<f64> = xv
            .iter()
            .map(|&v| minitorch::operators::relu(v + 0.0))
            .collect();
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got), bits(&want), "{backend}: {got:?}");
    }
}

/// The whole gradient (not one checked index) of every backend equals the reference's, for
/// inputs stored contiguous, permuted, offset and sliced, with an uneven upstream gradient.
#[test]
fn conv_gradients_match_the_reference_on_every_layout() {
    let (is, ws) = ([2, 3, 4, 5], [2, 3, 3, 2]);
    let (xv, wv) = (values(120, 1), values(36, 2));
    let gv = values(2 * 2 * 4 * 5, 3);
    let run = |backend: Backend, kind| {
        let x = make(&xv, &is, kind, backend).requires_grad_(true);
        let w = make(&wv, &ws, kind, backend).requires_grad_(true);
        let out = x.conv2d(&w).unwrap();
        let g = Tensor::from_vec(gv.clone(), out.shape())
            .unwrap()
            .to(backend);
        out.backward_with(&g).unwrap();
        (out, x.grad().unwrap(), w.grad().unwrap())
    };
    for kind in KINDS {
        let (o, gx, gw) = run(Backend::Simple, common::layouts::Kind::Contiguous);
        for backend in BACKENDS.iter().copied() {
            let (o2, gx2, gw2) = run(backend, kind);
            let what = format!("{backend} {kind:?}");
            assert_near(&o2, &o, &format!("{what} forward"));
            assert_near(&gx2, &gx, &format!("{what} grad input"));
            assert_near(&gw2, &gw, &format!("{what} grad weight"));
        }
    }
}

#[test]
fn conv_reads_broadcast_inputs() {
    // A batch made by broadcasting one image (stride 0 on the batch dim).
    let image = values(12, 9);
    let x = common::layouts::broadcast(&image, &[3, 1, 3, 4], 0, Backend::Simple);
    let w = Tensor::from_vec(values(4, 10), &[1, 1, 2, 2])
        .unwrap()
        .to(Backend::Simple);
    let want = x.conv2d(&w).unwrap();
    for backend in BACKENDS.iter().copied() {
        let xb = common::layouts::broadcast(&image, &[3, 1, 3, 4], 0, backend);
        assert_near(
            &xb.conv2d(&w.to(backend)).unwrap(),
            &want,
            &format!("{backend}"),
        );
    }
}

#[test]
fn conv_layers_have_the_course_shapes() {
    let mut rng = Rng::seed(1);
    let c1 = minitorch::nn::Conv1d::new(50, 100, 3, Backend::Fast, &mut rng).unwrap();
    let x = Tensor::rand(&[2, 50, 7], &mut rng).unwrap();
    assert_eq!(c1.forward(&x).unwrap().shape(), &[2, 100, 7]);
    let c2 = minitorch::nn::Conv2d::new(1, 4, (3, 3), Backend::Fast, &mut rng).unwrap();
    let x = Tensor::rand(&[2, 1, 28, 28], &mut rng).unwrap();
    assert_eq!(c2.forward(&x).unwrap().shape(), &[2, 4, 28, 28]);
    let w = c2.weights.get().to_vec();
    assert!(w.iter().all(|v| (-0.05..0.05).contains(v)));
    assert!(minitorch::nn::Conv2d::new(0, 4, (3, 3), Backend::Fast, &mut rng).is_err());
}

#[test]
fn bad_convolutions_are_errors_naming_the_op_and_shapes() {
    let x = Tensor::zeros(&[2, 3, 5]).unwrap();
    let msg = |r: minitorch::Result<Tensor>| r.unwrap_err().to_string();
    assert_eq!(
        msg(x.conv1d(&Tensor::zeros(&[4, 2, 3]).unwrap())),
        "conv1d: input [2, 3, 5], weight [4, 2, 3]: the input has 3 channels but the weight expects 2"
    );
    assert_eq!(
        msg(x.conv1d(&Tensor::zeros(&[4, 3, 3, 1]).unwrap())),
        "conv1d: input [2, 3, 5], weight [4, 3, 3, 1]: expected 3-D operands (B, Cin, W) and (Cout, Cin, K)"
    );
    assert!(
        msg(x.conv2d(&Tensor::zeros(&[4, 3, 3]).unwrap())).starts_with("conv2d: input [2, 3, 5]")
    );
    let s = Tensor::zeros(&[4, 3, 3]).unwrap().to(Backend::Simple);
    assert!(msg(x.conv1d(&s)).contains("different backends"));
}

/// Batches whose im2col matrices outgrow one group (over 2²⁰ cells) are convolved in groups
/// of entries; the result is the same as one pass.
#[test]
fn big_batches_convolve_in_groups_with_the_same_result() {
    let (is, ws) = ([18, 2, 64, 64], [3, 2, 3, 3]);
    let xv = values(is.iter().product(), 31);
    let wv = values(ws.iter().product(), 32);
    let want = naive(&xv, is, &wv, ws);
    let x = Tensor::from_vec(xv, &is).unwrap().to(Backend::Fast);
    let w = Tensor::from_vec(wv, &ws).unwrap().to(Backend::Fast);
    let expected = Tensor::from_vec(want, &[18, 3, 64, 64]).unwrap();
    assert_near(&x.conv2d(&w).unwrap(), &expected, "grouped conv2d");
}

/// Few output cells with long windows (a weight gradient's shape) take the GPU's block-per-cell
/// kernel: it sums what the reference sums, in both directions, on every backend and layout.
#[test]
fn few_cells_with_long_windows_match_the_reference() {
    use minitorch::backend::cuda::launch::{self, ConvKernel};
    // (input, weight, output height and width, the block's threads): a window of 360 terms,
    // and one of 20 000 (the widest block).
    let cases = [
        ([3, 5, 10, 12], [2, 5, 8, 9], [10, 12], 256),
        ([1, 1, 1, 20_000], [2, 1, 1, 20_000], [1, 3], 1024),
    ];
    // The launch rule on the network's shapes: MNIST's forward convolutions (100 352 cells of
    // 36 terms) a thread per cell; its second weight gradient a block per weight, 512 threads
    // at batch 16, 1024 at batch 256; the big layer's 4608 weights fill a GPU at 256 threads.
    for (cells, terms, kernel, threads) in [
        (100_352, 36, ConvKernel::ThreadPerCell, 32),
        (288, 16 * 784, ConvKernel::BlockPerCell, 512),
        (288, 256 * 784, ConvKernel::BlockPerCell, 1024),
        (4608, 64 * 784, ConvKernel::BlockPerCell, 256),
    ] {
        let (k, _, block) = launch::conv2d(cells, terms);
        assert_eq!(
            (k, block.x as usize),
            (kernel, threads),
            "{cells} × {terms}"
        );
    }
    for (is, ws, out_hw, threads) in cases {
        let cells = is[0] * ws[0] * out_hw[0] * out_hw[1];
        let (kernel, _, block) = launch::conv2d(cells, ws[1] * ws[2] * ws[3]);
        assert_eq!(
            (kernel, block.x as usize),
            (ConvKernel::BlockPerCell, threads)
        );
        let xv = values(is.iter().product(), 21);
        let wv = values(ws.iter().product(), 22);
        for reverse in [false, true] {
            let run = |backend: Backend, kind| {
                let x = make(&xv, &is, kind, backend);
                let w = make(&wv, &ws, kind, backend);
                let out = backend
                    .kernels()
                    .conv2d(x.data(), w.data(), out_hw, reverse)
                    .unwrap();
                Tensor::from_data(out, backend)
            };
            let want = run(Backend::Simple, common::layouts::Kind::Contiguous);
            for &backend in BACKENDS.iter() {
                for kind in KINDS {
                    let what = format!("{is:?} {ws:?} reverse {reverse} {backend} {kind:?}");
                    assert_near(&run(backend, kind), &want, &what);
                }
            }
        }
    }
}

/// The combinations of gradients the layers' backward ops are asked for in these tests.
const NEEDS: [[bool; 3]; 4] = [
    [true, true, true],
    [false, true, true],
    [true, false, false],
    [false, false, true],
];

/// The gradients a layer's backward op returned against the reference's: the ones asked for
/// (`needs`) near, the others absent.
fn same_gradients(
    got: &[Option<Tensor>; 3],
    want: &[Option<Tensor>; 3],
    needs: [bool; 3],
    what: &str,
) {
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        let what = format!("{what} gradient {k}");
        match (g, w) {
            (Some(g), Some(w)) => assert_near(g, w, &what),
            (None, None) => {}
            _ => panic!("{what}: asked for {}", needs[k]),
        }
    }
}

/// `TensorOps::conv2d_add_relu_backward` on every backend against the reference's, for each
/// combination of the gradients asked for, with `out` and `grad` packed (the fast backend's
/// one-pass mask and sums, threaded at MNIST's size) and in the other layouts (its fallback),
/// and an error naming the op and the shapes when `out` or `grad` is not the output's shape.
#[test]
fn conv_relu_backward_op_matches_the_reference() {
    use minitorch::TensorData;
    let cases: [([usize; 4], [usize; 4]); 3] = [
        ([2, 3, 4, 9], [4, 3, 3, 2]),
        ([16, 4, 28, 28], [8, 4, 3, 3]),
        ([1, 1, 5, 8], [3, 1, 2, 2]),
    ];
    for (is, ws) in cases {
        let os = [is[0], ws[0], is[2], is[3]];
        let n: usize = os.iter().product();
        let (xv, wv, gv) = (
            values(is.iter().product(), 21),
            values(ws.iter().product(), 22),
            values(n, 23),
        );
        // A ReLU's output: zeros and positive values (NaN where the mask must read it as 0).
        let ov: Vec<f64> = values(n, 24)
            .iter()
            .enumerate()
            .map(|(i, &v)| if i % 97 == 5 { f64::NAN } else { v.max(0.0) })
            .collect();
        let run = |backend: Backend, kind, needs: [bool; 3]| {
            let [x, w, o, g] = [(&xv, &is), (&wv, &ws), (&ov, &os), (&gv, &os)]
                .map(|(v, shape)| make(v, shape, kind, backend));
            backend
                .ops()
                .conv2d_add_relu_backward(x.data(), w.data(), o.data(), g.data(), needs)
                .unwrap()
                .map(|t| t.map(|t| Tensor::from_data(t, backend)))
        };
        for needs in NEEDS {
            let want = run(Backend::Simple, common::layouts::Kind::Contiguous, needs);
            let bias = want[2].as_ref().map(|b| b.shape().to_vec());
            assert!(needs[2] == (bias == Some(vec![1, ws[0], 1, 1])), "{bias:?}");
            for backend in all_backends() {
                if backend == Backend::CudaSim && is[0] > 2 {
                    continue; // the simulator runs every CUDA thread on the CPU: small cases
                }
                for kind in KINDS {
                    let what = format!("{is:?} {needs:?} {backend} {kind:?}");
                    same_gradients(&run(backend, kind, needs), &want, needs, &what);
                }
            }
        }
    }
    let zeros =
        |shape: &[usize]| TensorData::new(vec![0.0; shape.iter().product()], shape).unwrap();
    let (x, w) = (zeros(&[2, 3, 4, 5]), zeros(&[4, 3, 3, 2]));
    for backend in all_backends() {
        let ops = backend.ops();
        let (x, w) = (ops.adopt(&x).unwrap(), ops.adopt(&w).unwrap());
        let (good, bad) = (
            ops.adopt(&zeros(&[2, 4, 4, 5])).unwrap(),
            ops.adopt(&zeros(&[2, 4, 5, 4])).unwrap(),
        );
        let err = ops
            .conv2d_add_relu_backward(&x, &w, &good, &bad, [true; 3])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("conv2d_add_relu_backward:")
                && err.contains("[2, 4, 5, 4]")
                && err.contains("[2, 4, 4, 5]"),
            "{backend}: {err}"
        );
        let err = ops
            .conv2d_add_relu_backward(&x, &zeros(&[4, 2, 3, 2]), &good, &good, [true; 3])
            .unwrap_err()
            .to_string();
        assert!(err.contains("channels"), "{backend}: {err}");
    }
}

/// `TensorOps::conv2d_add_relu_avgpool_backward` (a layer with its ReLU and the average
/// pooling after it) on every backend against the reference's `avgpool2d_backward` then
/// `conv2d_add_relu_backward`, for each combination of the gradients asked for, kernels
/// (2, 2), (4, 4) (MNIST's size: the fast backend's threaded pass), (1, 3) and (3, 1), with
/// the operands packed (the fast backend's mask reading the pooled gradient) and in the other
/// layouts (its fallback); errors naming the shapes when the pooled gradient does not fit.
#[test]
fn conv_relu_avgpool_backward_op_matches_the_reference() {
    use minitorch::TensorData;
    let cases: [([usize; 4], [usize; 4], [usize; 2]); 4] = [
        ([2, 3, 4, 6], [4, 3, 3, 2], [2, 2]),
        ([16, 4, 28, 28], [8, 4, 3, 3], [4, 4]),
        ([1, 2, 3, 9], [3, 2, 2, 3], [1, 3]),
        ([2, 1, 6, 5], [2, 1, 3, 3], [3, 1]),
    ];
    for (is, ws, [kh, kw]) in cases {
        let os = [is[0], ws[0], is[2], is[3]];
        let ps = [os[0], os[1], os[2] / kh, os[3] / kw];
        let n: usize = os.iter().product();
        let (xv, wv, gv) = (
            values(is.iter().product(), 31),
            values(ws.iter().product(), 32),
            values(ps.iter().product(), 33),
        );
        // A ReLU's output: zeros and positive values (NaN where the mask must read it as 0).
        let ov: Vec<f64> = values(n, 34)
            .iter()
            .enumerate()
            .map(|(i, &v)| if i % 89 == 7 { f64::NAN } else { v.max(0.0) })
            .collect();
        let run = |backend: Backend, kind, needs: [bool; 3], fused: bool| {
            let [x, w, o] = [(&xv, &is), (&wv, &ws), (&ov, &os)]
                .map(|(v, shape)| make(v, shape, kind, backend));
            let g = make(&gv, &ps, kind, backend);
            let ops = backend.ops();
            let (x, w, o, g) = (x.data(), w.data(), o.data(), g.data());
            let grads = if fused {
                ops.conv2d_add_relu_avgpool_backward(x, w, o, g, ([kh, kw], needs))
            } else {
                let spread = ops.avgpool2d_backward(g, [kh, kw]).unwrap();
                ops.conv2d_add_relu_backward(x, w, o, &spread, needs)
            };
            grads
                .unwrap()
                .map(|t| t.map(|t| Tensor::from_data(t, backend)))
        };
        for needs in NEEDS {
            let want = run(
                Backend::Simple,
                common::layouts::Kind::Contiguous,
                needs,
                false,
            );
            for backend in all_backends() {
                if backend == Backend::CudaSim && is[0] > 2 {
                    continue; // the simulator runs every CUDA thread on the CPU: small cases
                }
                for kind in KINDS {
                    let what = format!("{is:?} {kh}x{kw} {needs:?} {backend} {kind:?}");
                    same_gradients(&run(backend, kind, needs, true), &want, needs, &what);
                }
            }
        }
    }
    let zeros =
        |shape: &[usize]| TensorData::new(vec![0.0; shape.iter().product()], shape).unwrap();
    let (x, w) = (zeros(&[2, 3, 4, 6]), zeros(&[4, 3, 3, 2]));
    for backend in all_backends() {
        let ops = backend.ops();
        let (x, w, out) = (
            ops.adopt(&x).unwrap(),
            ops.adopt(&w).unwrap(),
            ops.adopt(&zeros(&[2, 4, 4, 6])).unwrap(),
        );
        // Pooled (2, 2): (2, 4, 2, 3) fits; (2, 4, 3, 3) spreads to (2, 4, 6, 6).
        let bad = ops.adopt(&zeros(&[2, 4, 3, 3])).unwrap();
        let err = ops
            .conv2d_add_relu_avgpool_backward(&x, &w, &out, &bad, ([2, 2], [true; 3]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("[2, 4, 6, 6]") && err.contains("[2, 4, 4, 6]"),
            "{backend}: {err}"
        );
        let flat = ops.adopt(&zeros(&[8, 6])).unwrap();
        let err = ops
            .conv2d_add_relu_avgpool_backward(&x, &w, &out, &flat, ([2, 2], [true; 3]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("[8, 6]"), "{backend}: {err}");
    }
}

/// `conv2d_add_relu_avgpool` (the layer, its ReLU and the pooling as one autodiff op) against
/// `conv2d_add_relu` then `avgpool2d`: values and all three gradients on every backend and
/// input layout, for a bias per channel (the backends' one-op backward), one that varies along
/// the width and a single value (the composed backward); the gradients also against central
/// differences; and the shapes' errors.
#[test]
fn conv_relu_avgpool_matches_the_layer_then_the_pooling() {
    use minitorch::nn::functional::avgpool2d;
    let (is, ws, kernel) = ([2, 3, 4, 6], [4, 3, 3, 2], (2, 3));
    for bs in [vec![4, 1, 1], vec![4, 1, 6], vec![1]] {
        let (xv, wv, bv) = (
            values(is.iter().product(), 41),
            values(ws.iter().product(), 42),
            values(bs.iter().product(), 43),
        );
        let gv = values(2 * 4 * 2 * 2, 44);
        let run = |backend: Backend, kind, fused: bool| {
            let x = make(&xv, &is, kind, backend).requires_grad_(true);
            let w = make(&wv, &ws, kind, backend).requires_grad_(true);
            let b = make(&bv, &bs, common::layouts::Kind::Contiguous, backend).requires_grad_(true);
            let y = if fused {
                x.conv2d_add_relu_avgpool(&w, &b, kernel).unwrap()
            } else {
                avgpool2d(&x.conv2d_add_relu(&w, &b).unwrap(), kernel).unwrap()
            };
            let g = Tensor::from_vec(gv.clone(), y.shape()).unwrap().to(backend);
            y.backward_with(&g).unwrap();
            [y, x.grad().unwrap(), w.grad().unwrap(), b.grad().unwrap()]
        };
        let want = run(Backend::Simple, common::layouts::Kind::Contiguous, false);
        assert_eq!(want[0].shape(), &[2, 4, 2, 2]);
        assert!(want[0].to_vec().iter().any(|&v| v > 0.0));
        for backend in all_backends() {
            for kind in KINDS {
                let got = run(backend, kind, true);
                for (k, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert_near(g, w, &format!("bias {bs:?} {backend} {kind:?} output {k}"));
                }
            }
        }
    }
    // Central differences (no ReLU kink near: values below 0.1 around positive biases, and a
    // second bias whose channels are clamped whole).
    let small = |n, seed| values(n, seed).iter().map(|v| v * 1e-4).collect::<Vec<_>>();
    for bias in [[0.5, 1.0, 1.5], [0.5, -1.0, 1.5]] {
        let x = Tensor::from_vec(small(2 * 4 * 4, 45), &[1, 2, 4, 4]).unwrap();
        let w = Tensor::from_vec(small(3 * 2 * 2 * 2, 46), &[3, 2, 2, 2]).unwrap();
        let b = Tensor::from_vec(bias.to_vec(), &[3, 1, 1]).unwrap();
        grad_check(
            |t| t[0].conv2d_add_relu_avgpool(&t[1], &t[2], (2, 2)),
            &[x, w, b],
        )
        .unwrap();
    }
    // Shapes.
    let x = Tensor::zeros(&[1, 2, 4, 5]).unwrap();
    let (w, b) = (
        Tensor::zeros(&[3, 2, 2, 2]).unwrap(),
        Tensor::zeros(&[3, 1, 1]).unwrap(),
    );
    let err = x
        .conv2d_add_relu_avgpool(&w, &b, (2, 2))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("(2, 2)") && err.contains("[1, 3, 4, 5]"),
        "{err}"
    );
    let err = x
        .conv2d_add_relu_avgpool(&Tensor::zeros(&[3, 1, 2, 2]).unwrap(), &b, (2, 1))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("conv2d:") && err.contains("[3, 1, 2, 2]"),
        "{err}"
    );
}

/// `conv1d_add` / `conv2d_add` (one op, the fast backend's bias folded into its kernel when
/// the bias has one value per channel) against `conv` then `add` on the reference backend, and
/// `conv1d_add_relu` / `conv2d_add_relu` against `conv`, `add`, `relu`: values and all three
/// gradients, for per-channel biases, a bias that varies along the width (the backends'
/// convolve-then-add path), every backend and input layout.
#[test]
fn conv_add_matches_conv_then_add() {
    // The weight gradients of the second, fifth and sixth cases sum over ≥ 256 terms per
    // weight (batch × height × width): the GPU's block-per-cell kernel.
    let cases: [(Vec<usize>, Vec<usize>, Vec<usize>); 6] = [
        (vec![2, 3, 4, 5], vec![4, 3, 3, 2], vec![4, 1, 1]),
        (vec![16, 4, 28, 28], vec![8, 4, 3, 3], vec![8, 1, 1]),
        (vec![2, 3, 4, 5], vec![4, 3, 3, 2], vec![5]),
        (vec![3, 2, 9], vec![5, 2, 3], vec![5, 1]),
        (vec![2, 2, 12, 12], vec![3, 2, 3, 3], vec![3, 1, 1]),
        (vec![4, 3, 80], vec![5, 3, 3], vec![5, 1]),
    ];
    for (is, ws, bs) in cases {
        let xv = values(is.iter().product(), 11);
        let wv = values(ws.iter().product(), 12);
        let bv = values(bs.iter().product(), 13);
        let mut out_shape = is.clone();
        out_shape[1] = ws[0];
        let gv = values(out_shape.iter().product(), 14);
        let run = |backend: Backend, kind, fused: bool, relu: bool| {
            let x = make(&xv, &is, kind, backend).requires_grad_(true);
            let w = make(&wv, &ws, kind, backend).requires_grad_(true);
            let b = make(&bv, &bs, kind, backend).requires_grad_(true);
            let out = match (fused, relu, is.len()) {
                (true, false, 3) => x.conv1d_add(&w, &b),
                (true, false, _) => x.conv2d_add(&w, &b),
                (true, true, 3) => x.conv1d_add_relu(&w, &b),
                (true, true, _) => x.conv2d_add_relu(&w, &b),
                (false, _, 3) => x.conv1d(&w).and_then(|c| c.add(&b)),
                (false, _, _) => x.conv2d(&w).and_then(|c| c.add(&b)),
            }
            .unwrap();
            let out = if relu && !fused {
                out.relu().unwrap()
            } else {
                out
            };
            out.backward_with(&make(&gv, &out_shape, kind, backend))
                .unwrap();
            [out, x.grad().unwrap(), w.grad().unwrap(), b.grad().unwrap()]
        };
        for relu in [false, true] {
            let want = run(
                Backend::Simple,
                common::layouts::Kind::Contiguous,
                false,
                relu,
            );
            // Outputs on both sides of 0, so that the ReLU clamps some and passes others.
            let out = want[0].to_vec();
            if relu {
                assert!(out.iter().any(|&v| v > 0.0) && out.contains(&0.0));
            }
            for backend in all_backends() {
                // cuda-sim runs every kernel thread on the CPU: the small cases only.
                if backend == Backend::CudaSim && is[0] > 2 && is.len() == 4 {
                    continue;
                }
                for kind in KINDS {
                    let got = run(backend, kind, true, relu);
                    for (name, (g, w)) in ["out", "grad x", "grad w", "grad b"]
                        .iter()
                        .zip(got.iter().zip(&want))
                    {
                        let what = format!("{is:?} {bs:?} relu {relu} {backend} {kind:?} {name}");
                        assert_near(g, w, &what);
                    }
                }
            }
        }
    }
    // A bias that does not broadcast into the output is an error naming the op and shapes.
    let x = Tensor::zeros(&[2, 3, 4, 5]).unwrap();
    let w = Tensor::zeros(&[4, 3, 3, 2]).unwrap();
    let err = x
        .conv2d_add(&w, &Tensor::zeros(&[3, 1, 1]).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("conv2d_add") && err.contains("[3, 1, 1]"),
        "{err}"
    );
    let x1 = Tensor::zeros(&[2, 3, 7]).unwrap();
    let w1 = Tensor::zeros(&[4, 3, 2]).unwrap();
    let err = x1
        .conv1d_add(&w1, &Tensor::zeros(&[2]).unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("conv1d_add") && err.contains("[2]"), "{err}");
}
