//! The fast backend's convolution kernels at their edges, against the reference backend: the
//! direct tiles at every row width, Winograd's rows (F(4, 3)) and weight gradients (F(3, 2))
//! on values whose sums cancel and on non-finite ones, the weight gradients' vectors of 4 and
//! 8 channels at every channel count, and MNIST's shapes split across the threads. (The
//! convolution ops themselves, on every backend: `tests/conv.rs`.)

mod common;

use common::layouts::{KINDS, make, values};
use common::{BACKENDS, assert_near};
use minitorch::{Backend, Tensor};

/// MNIST's convolutions at batch 16 have enough multiply-adds for the fast backend's direct
/// kernels to split their work across its threads, each thread padding the entries it
/// convolves (a run of consecutive ones) and zeroing the cells it writes (and conv 1 → 4's
/// weight gradient, a single entry, splitting its channels into two partial sums): forward
/// and both gradients against the reference backend, for inputs in every layout.
#[test]
fn threaded_direct_convolutions_match_the_reference() {
    for (is, ws) in [
        ([16, 4, 28, 28], [8, 4, 3, 3]),
        ([16, 1, 28, 28], [4, 1, 3, 3]),
        ([5, 4, 28, 28], [8, 4, 3, 3]), // a batch that does not split evenly
    ] {
        let xv = values(is.iter().product(), 4);
        let wv = values(ws.iter().product(), 5);
        let gv = values(is[0] * ws[0] * is[2] * is[3], 6);
        let run = |backend: Backend, kind| {
            let x = make(&xv, &is, kind, backend).requires_grad_(true);
            let w = make(&wv, &ws, kind, backend).requires_grad_(true);
            let out = x.conv2d(&w).unwrap();
            let g = make(&gv, out.shape(), kind, backend);
            out.backward_with(&g).unwrap();
            (out, x.grad().unwrap(), w.grad().unwrap())
        };
        let (o, gx, gw) = run(Backend::Simple, common::layouts::Kind::Contiguous);
        for kind in KINDS {
            let (o2, gx2, gw2) = run(Backend::Fast, kind);
            let what = format!("{is:?} * {ws:?} {kind:?}");
            assert_near(&o2, &o, &format!("{what} forward"));
            assert_near(&gx2, &gx, &format!("{what} grad input"));
            assert_near(&gw2, &gw, &format!("{what} grad weight"));
        }
    }
}

/// A convolution layer with its bias and ReLU, input `is` and weight `ws` (values from seeds
/// `seed`..`seed + 4`), forward and both gradients on the fast backend against the reference;
/// returns the reference's output values.
fn relu_layer_matches_the_reference(is: [usize; 4], ws: [usize; 4], seed: u64) -> Vec<f64> {
    let xv = values(is.iter().product(), seed);
    let wv = values(ws.iter().product(), seed + 1);
    let bv = values(ws[0], seed + 2);
    let gv = values(is[0] * ws[0] * is[2] * is[3], seed + 3);
    let run = |backend: Backend| {
        let x = Tensor::from_vec(xv.clone(), &is).unwrap().to(backend);
        let w = Tensor::from_vec(wv.clone(), &ws).unwrap().to(backend);
        let b = Tensor::from_vec(bv.clone(), &[ws[0], 1, 1])
            .unwrap()
            .to(backend);
        let (x, w) = (x.requires_grad_(true), w.requires_grad_(true));
        let out = x.conv2d_add_relu(&w, &b).unwrap();
        let g = Tensor::from_vec(gv.clone(), out.shape())
            .unwrap()
            .to(backend);
        out.backward_with(&g).unwrap();
        (out, x.grad().unwrap(), w.grad().unwrap())
    };
    let (o, gx, gw) = run(Backend::Simple);
    let (o2, gx2, gw2) = run(Backend::Fast);
    let what = format!("{is:?} * {ws:?}");
    assert_near(&o2, &o, &format!("{what} forward"));
    assert_near(&gx2, &gx, &format!("{what} grad input"));
    assert_near(&gw2, &gw, &format!("{what} grad weight"));
    o.to_vec()
}

/// The fast direct kernel covers each output row with tiles of 32 columns, the last computed
/// 256 bits wide when it holds at most 28 (`direct_conv.rs`): rows of every width around those
/// bounds, forward with bias and ReLU and both gradients, against the reference.
#[test]
fn direct_tiles_of_every_row_width_match_the_reference() {
    for width in [
        1, 4, 5, 8, 9, 24, 25, 28, 29, 31, 32, 33, 56, 60, 61, 64, 65,
    ] {
        let o = relu_layer_matches_the_reference([2, 3, 3, width], [5, 3, 2, 3], 41);
        assert!(
            o.iter().any(|&v| v > 0.0) && o.contains(&0.0),
            "width {width}"
        );
    }
}

/// The fast backend's same-size convolutions with 3-wide kernels and at least 4 input
/// channels use Winograd's F(4, 3) along each row (`direct_conv/winograd.rs`): tiles of 8
/// groups of four output columns, 4 output channels at a time, any kernel height. Rows of every width
/// around the tile bounds (odd ones too), output channel counts around 4, kernel heights 1, 3
/// and 5: forward with bias and ReLU (through the reverse kernel for the input's gradient as
/// well) against the reference, on values of mixed magnitudes whose sums cancel.
#[test]
fn winograd_rows_match_the_reference() {
    for width in [8, 9, 15, 16, 17, 23, 24, 28, 31, 32, 33, 40, 47, 48, 49] {
        for (cin, cout, kh, h) in [(4, 8, 3, 5), (6, 5, 1, 2), (4, 1, 5, 7), (5, 4, 3, 1)] {
            let (is, ws) = ([2, cin, h, width], [cout, cin, kh, 3]);
            let o = relu_layer_matches_the_reference(is, ws, 51);
            assert!(o.iter().any(|&v| v > 0.0), "{is:?} * {ws:?}: all clamped");
        }
    }
}

/// Winograd's transforms subtract neighbouring inputs, so an infinite input can make
/// ∞ − ∞ = NaN where the direct sum is ±∞; the fast backend then convolves that entry
/// directly. Inputs with +∞, −∞ and NaN in some entries (and one entry all finite): every
/// output of the same class as the reference's (NaN, the same infinity, or near), with and
/// without the ReLU.
#[test]
fn winograd_rows_keep_the_reference_values_for_non_finite_inputs() {
    let (is, ws) = ([4, 4, 3, 20], [5, 4, 3, 3]);
    let mut xv = values(is.iter().product(), 61);
    let plane = is[2] * is[3];
    let entry = is[1] * plane;
    xv[5] = f64::INFINITY; // entry 0, channel 0
    xv[entry + plane + 21] = f64::NEG_INFINITY; // entry 1, channel 1
    xv[2 * entry + 3 * plane + 40] = f64::NAN; // entry 2, channel 3
    let wv = values(ws.iter().product(), 62);
    let bv = values(ws[0], 63);
    for relu in [false, true] {
        let run = |backend: Backend| {
            let x = Tensor::from_vec(xv.clone(), &is).unwrap().to(backend);
            let w = Tensor::from_vec(wv.clone(), &ws).unwrap().to(backend);
            let b = Tensor::from_vec(bv.clone(), &[ws[0], 1, 1])
                .unwrap()
                .to(backend);
            if relu {
                x.conv2d_add_relu(&w, &b).unwrap().to_vec()
            } else {
                x.conv2d_add(&w, &b).unwrap().to_vec()
            }
        };
        let (want, got) = (run(Backend::Simple), run(Backend::Fast));
        // (The ReLU maps NaN and −∞ to 0: `operators::relu`.)
        assert!(want.iter().any(|v| v.is_infinite()));
        assert!(relu || want.iter().any(|v| v.is_nan()));
        same_classes(&got, &want, &format!("relu {relu}"));
    }
}

/// Each value of `got` of the same class as `want`'s: NaN, the same infinity, or near.
fn same_classes(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let same = if w.is_nan() {
            g.is_nan()
        } else if w.is_infinite() {
            g == w
        } else {
            (g - w).abs() <= 1e-9 * (1.0 + w.abs())
        };
        assert!(same, "{what}: element {i}: {g} vs {w}");
    }
}

/// The weight gradient's Winograd sums (3-wide kernels, more than 4 output channels) subtract
/// neighbouring inputs and neighbouring gradient values alike; an input channel whose sums come
/// out NaN is summed again directly. Infinite and NaN values in the input, then in the
/// output's gradient: every value of the weight's gradient of the reference's class. (The
/// gradient's are placed where all their reads are inside the input: at the edges the fast
/// kernels multiply by the zero padding, 0 · ∞ = NaN, where the reference skips the read.)
#[test]
fn winograd_weight_gradients_keep_the_reference_values_for_non_finite_inputs() {
    let (is, ws) = ([3, 3, 4, 18], [6, 3, 3, 3]);
    let plane = is[2] * is[3];
    let (n, ng) = (is.iter().product(), is[0] * ws[0] * plane);
    for in_gradient in [false, true] {
        let (mut xv, mut gv) = (values(n, 71), values(ng, 72));
        let v = if in_gradient { &mut gv } else { &mut xv };
        v[7] = f64::INFINITY; // entry 0, channel 0
        v[4 * plane + 30] = f64::NEG_INFINITY; // entry 1, channel 1 (entry 0, channel 4 of g)
        v[2 * plane + 20] = f64::NAN; // entry 0, channel 2
        let run = |backend: Backend| {
            let x = Tensor::from_vec(xv.clone(), &is).unwrap().to(backend);
            let w = Tensor::from_vec(values(ws.iter().product(), 73), &ws)
                .unwrap()
                .to(backend)
                .requires_grad_(true);
            let g = Tensor::from_vec(gv.clone(), &[is[0], ws[0], is[2], is[3]])
                .unwrap()
                .to(backend);
            x.conv2d(&w).unwrap().backward_with(&g).unwrap();
            w.grad().unwrap().to_vec()
        };
        let (want, got) = (run(Backend::Simple), run(Backend::Fast));
        assert!(want.iter().any(|v| v.is_infinite()) && want.iter().any(|v| v.is_nan()));
        assert!(want.iter().any(|v| v.is_finite()));
        same_classes(
            &got,
            &want,
            &format!("non-finite in the gradient: {in_gradient}"),
        );
    }
}

/// The fast backend's weight gradient holds the output channels in vectors: one 4-lane vector
/// for at most 4 channels, else 8-lane ones with the last padded; with 3-wide kernels and more
/// than 4 channels it sums by Winograd's F(3, 2) (`direct_conv/winograd.rs`). Every channel
/// count around those edges, kernels from 1 × 1 to 5 × 5 (the gradient's output), widths odd
/// and even, at a batch small enough for one thread and one big enough to split: weight
/// gradients against the reference. Each value is a sum of a few thousand products of the
/// mixed-magnitude values (up to 10⁶ each) that mostly cancel, and Winograd's sums hold
/// products of sums of neighbours (each of a kernel row's outputs holds terms of the others), so
/// the rounding allowed grows with the magnitudes of the row's terms (the reference's gradient
/// of |x| and |g|, summed over the row): 10⁻¹⁴ of it (45 ulps; 9 seen), on top of the suite's
/// 10⁻⁹ relative.
#[test]
fn weight_gradients_of_every_channel_count_match_the_reference() {
    for cout in [1, 2, 3, 4, 5, 7, 8, 9, 12, 17] {
        for (batch, kh, kw, w) in [
            (1, 3, 3, 19),
            (2, 1, 5, 19),
            (2, 5, 2, 19),
            (12, 3, 3, 19),
            (12, 3, 3, 20),
            (12, 4, 1, 19),
        ] {
            let (is, ws) = ([batch, 2, 20, w], [cout, 2, kh, kw]);
            let xv = values(is.iter().product(), 7 + cout as u64);
            let wv = values(ws.iter().product(), 8);
            let gv = values(batch * cout * 20 * w, 9);
            let run = |backend: Backend, xv: &[f64], gv: &[f64]| {
                let x = make(xv, &is, common::layouts::Kind::Permuted, backend);
                let w =
                    make(&wv, &ws, common::layouts::Kind::Contiguous, backend).requires_grad_(true);
                let out = x.conv2d(&w).unwrap();
                let g = make(gv, out.shape(), common::layouts::Kind::Sliced, backend);
                out.backward_with(&g).unwrap();
                w.grad().unwrap().to_vec()
            };
            let want = run(Backend::Simple, &xv, &gv);
            let abs = |v: &[f64]| v.iter().map(|x| x.abs()).collect::<Vec<_>>();
            // Each kernel row's terms together: Winograd's sums mix the row's outputs.
            let terms: Vec<f64> = run(Backend::Simple, &abs(&xv), &abs(&gv))
                .chunks(kw)
                .flat_map(|row| [row.iter().sum::<f64>(); 5].into_iter().take(kw))
                .collect();
            for backend in BACKENDS.iter().copied() {
                let got = run(backend, &xv, &gv);
                for (i, ((g, w), t)) in got.iter().zip(&want).zip(&terms).enumerate() {
                    let err = (g - w).abs();
                    assert!(
                        err <= 1e-9 * (1.0 + w.abs()) + 1e-14 * t,
                        "{backend} {is:?} * {ws:?} grad weight: element {i}: {g} vs {w} \
                         (terms' magnitudes {t})"
                    );
                }
            }
        }
    }
}
