//! The Digits tab: a saved MNIST model (`serve --mnist-model PATH`) classifying a digit drawn on
//! the page.
//!
//! Tensors are `Rc`-based (not `Send`), so the shared state keeps the checkpoint's plain values
//! and each request builds the small network afresh on a blocking thread (a few milliseconds).

use super::Shared;
use super::reply::{ApiError, ApiResult, ok};
use super::validate::body_fields;
use crate::cli::{CliError, Result, paths};
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use minitorch::checkpoint::{self, NamedTensor};
use minitorch::models::mnist::{CLASSES, MnistNet, Pool, SIDE, predictions};
use minitorch::module::Module;
use minitorch::{Backend, Rng, Tensor};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// Pixels of one image.
pub const PIXELS: usize = SIDE * SIDE;

/// A checked checkpoint of the MNIST network.
pub struct Model {
    path: PathBuf,
    state: Vec<NamedTensor>,
    pool: Pool,
    normalize: bool,
}

impl Model {
    /// Reads the checkpoint at `path` and checks that it fits the network (at startup, so that a
    /// wrong file fails before the server listens).
    pub fn open(path: &Path, pool: Pool, normalize: bool) -> Result<Model> {
        paths::readable("--mnist-model", path)?;
        let as_flag = |e: minitorch::Error| match e {
            minitorch::Error::File { message, .. } => {
                CliError::flag("--mnist-model", path.display(), message)
            }
            other => other.into(),
        };
        let state = checkpoint::load(path).map_err(as_flag)?;
        let model = Model {
            path: path.to_path_buf(),
            state,
            pool,
            normalize,
        };
        model.net().map_err(as_flag)?;
        Ok(model)
    }

    /// A network with the checkpoint's parameters, in evaluation mode (no dropout).
    fn net(&self) -> minitorch::Result<MnistNet> {
        let net = MnistNet::new(Backend::Fast, self.pool, &mut Rng::seed(0))?;
        net.load_state(&self.path, &self.state)?;
        net.eval();
        Ok(net)
    }

    /// The ten class probabilities of one image (pixels 0–255, row by row) and the digit.
    pub fn predict(&self, pixels: &[f64]) -> minitorch::Result<(Vec<f64>, u8)> {
        let scale = if self.normalize { 1.0 / 255.0 } else { 1.0 };
        let x = Tensor::from_vec(
            pixels.iter().map(|p| p * scale).collect(),
            &[1, 1, SIDE, SIDE],
        )?;
        let out = self.net()?.forward(&x, &mut Rng::seed(0))?;
        let probs: Vec<f64> = out.to_vec().iter().map(|l| l.exp()).collect();
        let digit = predictions(&out)[0];
        Ok((probs, digit))
    }

    /// What the page shows about the model.
    pub fn info(&self) -> Value {
        json!({
            "file": self.path.file_name().map(|f| f.to_string_lossy().into_owned()),
            "pool": format!("{:?}", self.pool).to_lowercase(),
            "normalize": self.normalize,
        })
    }
}

/// The `pixels` field: exactly 784 numbers from 0 to 255.
fn pixels(value: Option<&Value>) -> std::result::Result<Vec<f64>, ApiError> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Err(ApiError::bad(format!(
            "pixels are needed: {PIXELS} numbers (28×28, row by row) from 0 to 255"
        )));
    };
    let Value::Array(items) = value else {
        return Err(ApiError::bad(format!(
            "pixels must be an array of {PIXELS} numbers, not {value}"
        )));
    };
    if items.len() != PIXELS {
        return Err(ApiError::bad(format!(
            "pixels: expected {PIXELS} numbers (28×28), got {}",
            items.len()
        )));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, v)| match v.as_f64() {
            Some(p) if (0.0..=255.0).contains(&p) => Ok(p),
            Some(_) => Err(ApiError::bad(format!(
                "pixels[{i}] = {v}: must be from 0 to 255"
            ))),
            None => Err(ApiError::bad(format!(
                "pixels[{i}] = {v}: must be a number from 0 to 255"
            ))),
        })
        .collect()
}

/// `POST /api/mnist/predict` with `{"pixels": [784 numbers]}`: `{"probabilities", "digit"}`.
pub async fn predict(
    State(app): State<Shared>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> ApiResult {
    let Some(model) = app.mnist.clone() else {
        return Err(ApiError {
            status: StatusCode::CONFLICT,
            message: "no MNIST model is loaded: start serve with --mnist-model PATH (a \
                      checkpoint from `minitorch mnist --save PATH`)"
                .into(),
        });
    };
    let f = body_fields(&body?, &["pixels"])?;
    let pixels = pixels(f.get("pixels"))?;
    let result = tokio::task::spawn_blocking(move || model.predict(&pixels))
        .await
        .map_err(|e| ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: format!("the prediction failed: {e}"),
        })?;
    let (probs, digit) = result.map_err(|e| ApiError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        message: format!("the prediction failed: {e}"),
    })?;
    debug_assert_eq!(probs.len(), CLASSES);
    ok(json!({ "probabilities": probs, "digit": digit }))
}
