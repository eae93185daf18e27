//! Model checkpoints: named f64 tensors in the safetensors format (readable by PyTorch's
//! `safetensors.torch.load_file`), written atomically.
//!
//! ```
//! use minitorch::checkpoint::{load, save, NamedTensor};
//! let path = std::env::temp_dir().join(format!("doc-{}.safetensors", std::process::id()));
//! let w = NamedTensor { name: "layer1.weights".into(), shape: vec![2, 3], values: vec![0.5; 6] };
//! save(&path, &[w.clone()]).unwrap();
//! assert_eq!(load(&path).unwrap(), vec![w]);
//! # std::fs::remove_file(&path).unwrap();
//! ```

use crate::error::{Error, Result};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::path::Path;

/// A tensor's name, shape and row-major values.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    /// The parameter's dotted name (`layer1.weights`).
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its values in row-major order.
    pub values: Vec<f64>,
}

fn file_error(path: &Path, message: impl Into<String>) -> Error {
    Error::File {
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// Writes the tensors to `path`: first to a temporary file beside it, then renamed over it, so
/// a crash never leaves a half-written checkpoint.
pub fn save(path: &Path, tensors: &[NamedTensor]) -> Result<()> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|t| t.values.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|(t, b)| {
            Ok((
                t.name.clone(),
                TensorView::new(Dtype::F64, t.shape.clone(), b)
                    .map_err(|e| file_error(path, e.to_string()))?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let data =
        safetensors::tensor::serialize(views, None).map_err(|e| file_error(path, e.to_string()))?;
    let name = path
        .file_name()
        .ok_or_else(|| file_error(path, "not a file path"))?;
    let tmp = path.with_file_name(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    std::fs::write(&tmp, data).map_err(|e| file_error(&tmp, format!("cannot write: {e}")))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        file_error(path, format!("cannot replace: {e}"))
    })
}

/// Reads every tensor of a safetensors file, in name order. Fails with a message naming the
/// file when it is missing, truncated, not safetensors, or holds something other than f64.
pub fn load(path: &Path) -> Result<Vec<NamedTensor>> {
    let bytes = std::fs::read(path).map_err(|e| file_error(path, format!("cannot read: {e}")))?;
    let file = SafeTensors::deserialize(&bytes)
        .map_err(|e| file_error(path, format!("not a valid safetensors file ({e})")))?;
    let mut out: Vec<NamedTensor> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            if view.dtype() != Dtype::F64 {
                return Err(file_error(
                    path,
                    format!("tensor {name} is {:?}, expected F64", view.dtype()),
                ));
            }
            let values = view
                .data()
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect();
            Ok(NamedTensor {
                name,
                shape: view.shape().to_vec(),
                values,
            })
        })
        .collect::<Result<_>>()?;
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Checks that `found` has exactly the names and shapes of `expected` (any order), naming the
/// first difference.
pub fn check_matches(path: &Path, expected: &[NamedTensor], found: &[NamedTensor]) -> Result<()> {
    for e in expected {
        match found.iter().find(|f| f.name == e.name) {
            None => {
                return Err(file_error(
                    path,
                    format!("missing tensor {} (expected shape {:?})", e.name, e.shape),
                ));
            }
            Some(f) if f.shape != e.shape => {
                return Err(file_error(
                    path,
                    format!(
                        "tensor {} has shape {:?}, the model needs {:?}",
                        e.name, f.shape, e.shape
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = found
        .iter()
        .find(|f| !expected.iter().any(|e| e.name == f.name))
    {
        return Err(file_error(
            path,
            format!(
                "unexpected tensor {} (the model has no such parameter)",
                extra.name
            ),
        ));
    }
    Ok(())
}
