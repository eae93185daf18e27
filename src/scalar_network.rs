//! The course network built from scalars (MiniTorch Module 1's `run_scalar.py`): every weight
//! and bias is its own [`Scalar`] parameter, and a layer computes `y_j = b_j + Σ_i x_i · w_ij`
//! one multiplication at a time. Slow by design — it shows what the tensor engine batches.
//!
//! Initialised from the same random stream as [`Network`](crate::nn::Network), so both engines
//! start from identical weights.

use crate::checkpoint::NamedTensor;
use crate::error::{Error, Result};
use crate::module::{Mode, Module, Param, Parameter};
use crate::random::Rng;
use crate::scalar::Scalar;

/// A fully connected layer of scalars.
pub struct ScalarLinear {
    mode: Mode,
    inputs: usize,
    outputs: usize,
    /// `weights[i * outputs + j]` is w_ij.
    weights: Vec<Param<Scalar>>,
    bias: Vec<Param<Scalar>>,
    names: Vec<String>,
}

impl ScalarLinear {
    /// Weights uniform on [−0.5, 0.5) drawn row-major (as `Tensor::rand(&[in, out])`), bias 0.1.
    pub fn new(inputs: usize, outputs: usize, rng: &mut Rng) -> ScalarLinear {
        let weights = (0..inputs * outputs)
            .map(|_| Param::new(Scalar::new(rng.uniform() - 0.5)))
            .collect();
        let bias = (0..outputs).map(|_| Param::new(Scalar::new(0.1))).collect();
        let mut names: Vec<String> = (0..inputs)
            .flat_map(|i| (0..outputs).map(move |j| format!("weight_{i}_{j}")))
            .collect();
        names.extend((0..outputs).map(|j| format!("bias_{j}")));
        ScalarLinear {
            mode: Mode::default(),
            inputs,
            outputs,
            weights,
            bias,
            names,
        }
    }

    /// `y_j = b_j + Σ_i x_i · w_ij`.
    pub fn forward(&self, x: &[Scalar]) -> Vec<Scalar> {
        (0..self.outputs)
            .map(|j| {
                let mut y = self.bias[j].get();
                for (i, xi) in x.iter().enumerate() {
                    y = y + xi * &self.weights[i * self.outputs + j].get();
                }
                y
            })
            .collect()
    }

    /// The weights as an (in, out) tensor and the bias as (out,), named like the tensor layer's.
    fn state(&self, prefix: &str) -> [NamedTensor; 2] {
        let values = |ps: &[Param<Scalar>]| ps.iter().map(|p| p.get().data()).collect();
        [
            NamedTensor {
                name: format!("{prefix}.weights"),
                shape: vec![self.inputs, self.outputs],
                values: values(&self.weights),
            },
            NamedTensor {
                name: format!("{prefix}.bias"),
                shape: vec![self.outputs],
                values: values(&self.bias),
            },
        ]
    }

    fn load(&self, weights: &[f64], bias: &[f64]) {
        for (p, &v) in self
            .weights
            .iter()
            .zip(weights)
            .chain(self.bias.iter().zip(bias))
        {
            p.set(Scalar::new(v));
        }
    }
}

impl Module for ScalarLinear {
    fn mode(&self) -> &Mode {
        &self.mode
    }
    fn own_parameters(&self) -> Vec<(&str, &Parameter)> {
        self.names
            .iter()
            .map(String::as_str)
            .zip(self.weights.iter().chain(&self.bias).map(Param::parameter))
            .collect()
    }
}

/// 2 → hidden → hidden → 1 with ReLU, ReLU and a sigmoid output, in scalars.
pub struct ScalarNetwork {
    mode: Mode,
    layers: [ScalarLinear; 3],
}

impl ScalarNetwork {
    /// A new network with `hidden` units per hidden layer.
    pub fn new(hidden: usize, rng: &mut Rng) -> Result<ScalarNetwork> {
        if hidden == 0 {
            return Err(Error::Invalid {
                what: "hidden",
                message: "must be at least 1".into(),
            });
        }
        Ok(ScalarNetwork {
            mode: Mode::default(),
            layers: [
                ScalarLinear::new(2, hidden, rng),
                ScalarLinear::new(hidden, hidden, rng),
                ScalarLinear::new(hidden, 1, rng),
            ],
        })
    }

    /// The class-1 probability of one point.
    pub fn forward(&self, point: [f64; 2]) -> Scalar {
        let x = [Scalar::constant(point[0]), Scalar::constant(point[1])];
        let h: Vec<Scalar> = self.layers[0]
            .forward(&x)
            .iter()
            .map(Scalar::relu)
            .collect();
        let h: Vec<Scalar> = self.layers[1]
            .forward(&h)
            .iter()
            .map(Scalar::relu)
            .collect();
        self.layers[2].forward(&h)[0].sigmoid()
    }

    /// Parameters as tensors named like [`Network`](crate::nn::Network)'s, so checkpoints are
    /// interchangeable between the engines.
    pub fn state(&self) -> Vec<NamedTensor> {
        self.layers
            .iter()
            .enumerate()
            .flat_map(|(i, l)| l.state(&format!("layer{}", i + 1)))
            .collect()
    }

    /// Loads values from a state with exactly this network's names and shapes (checked by the
    /// caller).
    pub fn load_state(&self, state: &[NamedTensor]) {
        let get = |name: String| {
            state
                .iter()
                .find(|t| t.name == name)
                .map(|t| t.values.as_slice())
                .unwrap_or(&[])
        };
        for (i, layer) in self.layers.iter().enumerate() {
            layer.load(
                get(format!("layer{}.weights", i + 1)),
                get(format!("layer{}.bias", i + 1)),
            );
        }
    }
}

impl Module for ScalarNetwork {
    fn mode(&self) -> &Mode {
        &self.mode
    }
    fn children(&self) -> Vec<(&str, &dyn Module)> {
        vec![
            ("layer1", &self.layers[0]),
            ("layer2", &self.layers[1]),
            ("layer3", &self.layers[2]),
        ]
    }
}
