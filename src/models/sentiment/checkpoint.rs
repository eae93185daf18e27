//! Checkpoints of the sentiment network: its parameters plus what scoring a sentence later
//! needs (the unknown-word vector, the padding length, the head and, for a network with
//! trained vectors, their words).

use super::{Head, MAX_LENGTH, SentimentCnn};
use crate::backend::Backend;
use crate::checkpoint::{self, NamedTensor};
use crate::data::text::{EmbeddingTable, Embeddings};
use crate::error::{Error, Result};
use crate::module::Module;
use crate::random::Rng;
use crate::tensor::Tensor;
use std::path::Path;

/// Checkpoint name of the unknown-word vector (shape (D,)).
pub const UNKNOWN_NAME: &str = "embedding.unknown";
/// Checkpoint name of the padding length (shape (1,)).
pub const LENGTH_NAME: &str = "embedding.length";
/// Checkpoint name of the head (shape (1,)): 0 for [`Head::Kim`], 1 for
/// [`Head::CourseRelu`], 2 for [`Head::Course`]. (Checkpoints written before the course head
/// had its ReLU-free form name it `head.relu`: 1 for the ReLU head, 0 for Kim's; they still
/// load.)
pub const HEAD_NAME: &str = "head.kind";
/// Checkpoint name of a network with trainable vectors' vocabulary: the words of rows 1, 2, …
/// of `embedding.weights` (row 0 is the unknown-word vector) in UTF-8, separated by `\n`, one
/// byte per value (a checkpoint holds only numbers; tokens never contain whitespace).
pub const WORDS_NAME: &str = "embedding.words";
/// The earlier name of [`HEAD_NAME`].
const OLD_HEAD_NAME: &str = "head.relu";

/// [`HEAD_NAME`]'s value for each head.
fn head_code(head: Head) -> f64 {
    match head {
        Head::Kim => 0.0,
        Head::CourseRelu => 1.0,
        Head::Course => 2.0,
    }
}

/// The checkpoint of a trained network: its parameters (`conv1.weights`, `conv1.bias`, …,
/// `linear.weights`, `linear.bias`, and `embedding.weights` when the vectors were trained),
/// the unknown-word vector of `table` ([`UNKNOWN_NAME`]), the padding length
/// ([`LENGTH_NAME`]), the head ([`HEAD_NAME`]) and, with trained vectors, `table`'s words
/// ([`WORDS_NAME`]), so that a sentence can be scored later as in training.
pub fn checkpoint_tensors(
    net: &SentimentCnn,
    table: &EmbeddingTable,
    length: usize,
) -> Vec<NamedTensor> {
    let mut out = checkpoint::state_of(net);
    // With trained vectors the unknown-word vector is the table's trained row 0.
    let unknown = match net.tuned_vectors() {
        Some(tuned) => tuned.weights.get().to_vec()[..table.dim()].to_vec(),
        None => table.unknown().to_vec(),
    };
    out.push(NamedTensor {
        name: UNKNOWN_NAME.into(),
        shape: vec![table.dim()],
        values: unknown,
    });
    if net.tuned.is_some() {
        let bytes = table.words().join("\n").into_bytes();
        out.push(NamedTensor {
            name: WORDS_NAME.into(),
            shape: vec![bytes.len()],
            values: bytes.into_iter().map(f64::from).collect(),
        });
    }
    out.push(NamedTensor {
        name: LENGTH_NAME.into(),
        shape: vec![1],
        values: vec![length as f64],
    });
    out.push(NamedTensor {
        name: HEAD_NAME.into(),
        shape: vec![1],
        values: vec![head_code(net.head)],
    });
    out
}

/// A network restored by [`load_checkpoint`], with the unknown-word vector and padding length
/// it was trained with.
pub struct Restored {
    /// The network, its shape read from the checkpoint.
    pub net: SentimentCnn,
    /// The vector unknown words shared in training.
    pub unknown: Vec<f64>,
    /// The padding length of training.
    pub length: usize,
    /// A network with trained vectors brings its vocabulary: the table to encode sentences
    /// with (the vectors it holds are the trained ones, as in the network).
    pub table: Option<EmbeddingTable>,
}

/// Reads a checkpoint written from [`checkpoint_tensors`] onto `backend`: the filter widths,
/// feature maps and embedding dimension come from the tensors' shapes. Errors
/// ([`Error::File`], naming `path`) on a missing or extra tensor, inconsistent shapes, or a
/// length that is not a positive whole number.
pub fn load_checkpoint(path: &Path, backend: Backend) -> Result<Restored> {
    let fail = |message: String| Error::File {
        path: path.display().to_string(),
        message,
    };
    let found = checkpoint::load(path)?;
    let get = |name: &str| found.iter().find(|t| t.name == name);
    let mut filters = Vec::new();
    let (mut maps, mut embedding) = (0, 0);
    while let Some(w) = get(&format!("conv{}.weights", filters.len() + 1)) {
        if w.shape.len() != 3 || w.shape.contains(&0) {
            return Err(fail(format!(
                "tensor {} has shape {:?}, expected (maps, embedding, width)",
                w.name, w.shape
            )));
        }
        if filters.is_empty() {
            (maps, embedding) = (w.shape[0], w.shape[1]);
        }
        filters.push(w.shape[2]);
    }
    if filters.is_empty() {
        return Err(fail(
            "no tensor conv1.weights: not a checkpoint of the sentiment network".into(),
        ));
    }
    let length = match get(LENGTH_NAME) {
        Some(t) if t.values.len() == 1 => {
            let v = t.values[0];
            if !(v >= 1.0 && v <= MAX_LENGTH as f64 && v.fract() == 0.0) {
                return Err(fail(format!(
                    "{LENGTH_NAME} is {v}, not a whole number from 1 to {MAX_LENGTH}"
                )));
            }
            v as usize
        }
        _ => {
            return Err(fail(format!(
                "missing tensor {LENGTH_NAME} of shape [1] (the padding length)"
            )));
        }
    };
    let heads = [Head::Kim, Head::CourseRelu, Head::Course];
    let (name, known) = match get(HEAD_NAME) {
        Some(_) => (HEAD_NAME, &heads[..]),
        None => (OLD_HEAD_NAME, &heads[..2]),
    };
    let values = get(name).map(|t| t.values.as_slice());
    let found_head = |v: f64| known.iter().copied().find(|&h| head_code(h) == v);
    let head = match values {
        Some(&[v]) if found_head(v).is_some() => found_head(v).expect("checked"),
        Some(v) => {
            let codes: Vec<String> = known
                .iter()
                .map(|&h| format!("[{}] ({h:?})", head_code(h)))
                .collect();
            return Err(fail(format!("{name} is {v:?}, not {}", codes.join(", "))));
        }
        None => {
            return Err(fail(format!(
                "missing tensor {HEAD_NAME} of shape [1] (which head the network has)"
            )));
        }
    };
    let mut net =
        SentimentCnn::new(embedding, maps, &filters, backend, &mut Rng::seed(0))?.with_head(head);
    let table = match get("embedding.weights") {
        Some(t) => {
            let table = tuned_table(t, get(WORDS_NAME), embedding).map_err(fail)?;
            net = net.with_tuned_vectors(&table)?;
            Some(table)
        }
        None => None,
    };
    let blank = EmbeddingTable::new(Embeddings::new(embedding), vec![0.0; embedding])?;
    let mut expected = checkpoint_tensors(&net, table.as_ref().unwrap_or(&blank), length);
    if let Some(kind) = expected.iter_mut().find(|t| t.name == HEAD_NAME) {
        kind.name = name.into(); // an earlier checkpoint's `head.relu`
    }
    checkpoint::check_matches(path, &expected, &found)?;
    for (name, p) in net.named_parameters() {
        if let Some(t) = get(&name) {
            if t.values.iter().any(|v| !v.is_finite()) {
                return Err(fail(format!(
                    "tensor {name} holds a value that is not finite"
                )));
            }
            p.update(Tensor::from_vec(t.values.clone(), &t.shape)?.try_to(backend)?)?;
        }
    }
    let unknown = get(UNKNOWN_NAME)
        .map(|t| t.values.clone())
        .unwrap_or_default();
    Ok(Restored {
        net,
        unknown,
        length,
        table,
    })
}

/// The table of a checkpoint's trained vectors `weights` (V, D) and vocabulary `words`.
fn tuned_table(
    weights: &NamedTensor,
    words: Option<&NamedTensor>,
    embedding: usize,
) -> std::result::Result<EmbeddingTable, String> {
    let [rows, dim] = weights.shape[..] else {
        return Err(format!(
            "tensor embedding.weights has shape {:?}, expected (words + 1, {embedding})",
            weights.shape
        ));
    };
    if dim != embedding || rows == 0 {
        return Err(format!(
            "tensor embedding.weights has shape {:?}, expected (words + 1, {embedding})",
            weights.shape
        ));
    }
    let words = words.ok_or(format!(
        "missing tensor {WORDS_NAME} (the vocabulary of embedding.weights)"
    ))?;
    let bytes: Vec<u8> = words
        .values
        .iter()
        .map(|&v| u8::try_from(v as i64).ok().filter(|_| v.fract() == 0.0))
        .collect::<Option<_>>()
        .ok_or(format!("{WORDS_NAME} holds a value that is not a byte"))?;
    let text = String::from_utf8(bytes).map_err(|_| format!("{WORDS_NAME} is not UTF-8"))?;
    let list: Vec<&str> = if text.is_empty() {
        Vec::new()
    } else {
        text.split('\n').collect()
    };
    if list.len() + 1 != rows {
        return Err(format!(
            "{WORDS_NAME} names {} words for the {} word rows of embedding.weights",
            list.len(),
            rows - 1
        ));
    }
    if weights.values.iter().any(|v| !v.is_finite()) {
        return Err("tensor embedding.weights holds a value that is not finite".into());
    }
    let mut known = Embeddings::new(dim);
    for (i, word) in list.iter().enumerate() {
        let vector = &weights.values[(i + 1) * dim..][..dim];
        let fresh = known.insert(word, vector).map_err(|e| e.to_string())?;
        if !fresh || word.is_empty() {
            return Err(format!("{WORDS_NAME} lists {word:?} twice or empty"));
        }
    }
    EmbeddingTable::new(known, weights.values[..dim].to_vec()).map_err(|e| e.to_string())
}
