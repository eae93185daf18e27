//! Text data for MiniTorch's sentiment task (4.5): GLUE's SST-2 sentences and GloVe word
//! vectors, plain or gzipped, and the embedding of tokenized sentences as the course does it.
//!
//! - [`read_sst2`] reads a GLUE SST-2 TSV file (`train.tsv`, `dev.tsv`): the header
//!   `sentence<TAB>label`, then one `sentence<TAB>label` per line, label 0 (negative) or 1
//!   (positive).
//! - [`read_glove`] reads GloVe's text format (`word v1 … vD` per line, the dimension `D` taken
//!   from the first line), streaming, and keeps only the words asked for: the full
//!   `glove.6B.50d.txt` (400,000 words, 171 MB) is scanned without parsing the numbers of the
//!   words it skips.
//! - [`EmbeddingTable`] gives each known word its GloVe row and every unknown word one shared
//!   vector (the course's `0.1 · (rand − 0.5)`, see [`unknown_vector`]); it turns sentences
//!   into token ids ([`EmbeddingTable::encode`]) and ids into zero-padded `(B, L, D)` batches
//!   ([`EmbeddingTable::batch`]).
//!
//! Tokens are the whitespace-separated pieces of a sentence (Python's `str.split()`), see
//! [`tokens`]. Either file may be gzipped: the content decides (the gzip magic bytes `1f 8b`),
//! not the name. Every malformed file is refused with an [`Error::File`] naming the file and,
//! where there is one, the line: an empty file, a wrong header, a line without its tab or with
//! more than one, a label other than 0 or 1, an empty sentence, a GloVe line without values or
//! with a value that is not a finite number, a dimension that changes mid-file, an empty line,
//! a line longer than [`MAX_LINE_BYTES`], bytes that are not UTF-8, corrupt gzip data.
//!
//! ```no_run
//! use minitorch::data::text::{EmbeddingTable, read_glove, read_sst2, unknown_vector, vocabulary};
//! use minitorch::{Backend, Rng};
//! # fn main() -> minitorch::Result<()> {
//! let train = read_sst2("data/sst2/train.tsv".as_ref())?;
//! let first = &train[..450];
//! let vocab = vocabulary(first.iter().map(|s| s.text.as_str()));
//! let glove = read_glove("data/sst2/glove.6B.50d.txt".as_ref(), Some(&vocab))?;
//! let unknown = unknown_vector(glove.dim(), &mut Rng::seed(1));
//! let table = EmbeddingTable::new(glove, unknown)?;
//! let ids: Vec<Vec<u32>> = first.iter().map(|s| table.encode(&s.text)).collect();
//! let x = table.batch(&[&ids[0], &ids[1]], 52, Backend::Fast)?; // (2, 52, 50)
//! # Ok(()) }
//! ```

use super::file_error;
use crate::backend::Backend;
use crate::random::Rng;
use crate::tensor::Tensor;
use crate::{Error, Result};
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, Read};
use std::path::Path;

/// Longest line either reader accepts, in bytes: 1 MiB (a 300-dimensional GloVe line takes
/// about 3 kB, an SST-2 line under 300 bytes). A longer line is refused rather than buffered.
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// Largest GloVe dimension accepted (GloVe's largest is 300).
pub const MAX_DIM: usize = 10_000;
/// Most words a vocabulary may hold, so token ids fit in `u32` (GloVe 840B has 2.2 million).
pub const MAX_WORDS: usize = u32::MAX as usize - 1;
/// The header line of a GLUE SST-2 file.
pub const SST2_HEADER: &str = "sentence\tlabel";

/// The whitespace-separated tokens of a sentence (Python's `str.split()`).
pub fn tokens(sentence: &str) -> impl Iterator<Item = &str> {
    sentence.split_whitespace()
}

/// Lines of a plain or gzipped file, each without its `\n` (and `\r`), numbered from 1, with
/// the file's errors named.
struct Lines<'p> {
    path: &'p Path,
    reader: Box<dyn BufRead>,
    gzip: bool,
    line: usize,
    buf: Vec<u8>,
}

impl<'p> Lines<'p> {
    fn open(path: &'p Path) -> Result<Lines<'p>> {
        let (reader, gzip, _) = super::open_data_file(path, 1 << 20)?;
        Ok(Lines {
            path,
            reader,
            gzip,
            line: 0,
            buf: Vec::with_capacity(4096),
        })
    }

    fn error(&self, message: impl std::fmt::Display) -> Error {
        file_error(self.path, format!("line {}: {message}", self.line))
    }

    /// Reads the next line into [`bytes`](Self::bytes) (without the line break); false at the
    /// end of the file.
    fn advance(&mut self) -> Result<bool> {
        self.buf.clear();
        let limit = MAX_LINE_BYTES as u64 + 2;
        let read = (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut self.buf);
        let n = match read {
            Ok(n) => n,
            Err(e) => {
                self.line += 1;
                return Err(if self.gzip {
                    self.error(format!("corrupt gzip data: {e}"))
                } else {
                    self.error(format!("cannot read: {e}"))
                });
            }
        };
        if n == 0 {
            return Ok(false);
        }
        self.line += 1;
        if self.buf.last() == Some(&b'\n') {
            self.buf.pop();
        }
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        if self.buf.len() > MAX_LINE_BYTES {
            return Err(self.error(format!(
                "longer than {MAX_LINE_BYTES} bytes; not a text file of this kind"
            )));
        }
        Ok(true)
    }

    /// The current line.
    fn bytes(&self) -> &[u8] {
        &self.buf
    }
}

/// One labelled sentence of SST-2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sentence {
    /// The sentence as written (GLUE's SST-2 is lower-cased and tokenized: words and
    /// punctuation separated by spaces).
    pub text: String,
    /// 1 = positive, 0 = negative.
    pub label: u8,
}

/// Reads a GLUE SST-2 TSV file, plain or gzipped: the header [`SST2_HEADER`], then
/// `sentence<TAB>label` per line. Refuses (naming the file and the line) an empty file, a
/// different header, a file with no sentence, a line without exactly one tab, a label other
/// than `0` or `1`, a sentence with no tokens, a line that is not UTF-8 or too long.
pub fn read_sst2(path: &Path) -> Result<Vec<Sentence>> {
    let mut lines = Lines::open(path)?;
    if !lines.advance()? {
        return Err(file_error(
            path,
            format!("empty file; an SST-2 file starts with the header {SST2_HEADER:?}"),
        ));
    }
    if lines.bytes() != SST2_HEADER.as_bytes() {
        let found = String::from_utf8_lossy(lines.bytes());
        let shown: String = found.chars().take(60).collect();
        return Err(lines.error(format!(
            "expected the header {SST2_HEADER:?} (GLUE's SST-2 format), found {shown:?}"
        )));
    }
    let mut out = Vec::new();
    while lines.advance()? {
        let Ok(text) = std::str::from_utf8(lines.bytes()) else {
            return Err(lines.error("not valid UTF-8"));
        };
        let fields = text.split('\t').count();
        let parsed = text.split_once('\t').filter(|_| fields == 2);
        let Some((sentence, label)) = parsed else {
            return Err(if text.is_empty() {
                lines.error("empty line; expected `sentence<TAB>label`")
            } else {
                lines.error(format!(
                    "expected 2 tab-separated fields (sentence, label), found {fields}"
                ))
            });
        };
        let label = match label.trim() {
            "0" => 0,
            "1" => 1,
            other => {
                let shown: String = other.chars().take(20).collect();
                return Err(lines.error(format!("label {shown:?} is not 0 or 1")));
            }
        };
        if tokens(sentence).next().is_none() {
            return Err(lines.error("empty sentence (no tokens)"));
        }
        out.push(Sentence {
            text: sentence.to_string(),
            label,
        });
    }
    if out.is_empty() {
        return Err(file_error(path, "no sentences after the header"));
    }
    Ok(out)
}

/// The distinct tokens of `sentences`.
pub fn vocabulary<'a>(sentences: impl IntoIterator<Item = &'a str>) -> HashSet<String> {
    let mut words = HashSet::new();
    for s in sentences {
        for t in tokens(s) {
            if !words.contains(t) {
                words.insert(t.to_string());
            }
        }
    }
    words
}

/// Word vectors: each word's row of `dim` values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Embeddings {
    dim: usize,
    index: HashMap<String, u32>,
    words: Vec<String>,
    values: Vec<f64>,
}

impl Embeddings {
    /// No words, vectors of `dim` values.
    pub fn new(dim: usize) -> Embeddings {
        Embeddings {
            dim,
            ..Embeddings::default()
        }
    }

    /// Values per vector.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of words.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// True when there are no words.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The words, in the order they were added (file order for [`read_glove`]).
    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// The vector of `word`, if known.
    pub fn get(&self, word: &str) -> Option<&[f64]> {
        self.index
            .get(word)
            .map(|&i| &self.values[i as usize * self.dim..][..self.dim])
    }

    /// Adds `word` with `vector` (a word already present keeps its first vector; returns
    /// false then). Errors ([`Error::Invalid`]) when the vector has another length than
    /// [`dim`](Embeddings::dim) or a value that is not finite.
    pub fn insert(&mut self, word: &str, vector: &[f64]) -> Result<bool> {
        if vector.len() != self.dim {
            return Err(Error::Invalid {
                what: "Embeddings::insert",
                message: format!(
                    "the vector of {word:?} has {} values, the embeddings {}",
                    vector.len(),
                    self.dim
                ),
            });
        }
        if vector.iter().any(|v| !v.is_finite()) {
            return Err(Error::Invalid {
                what: "Embeddings::insert",
                message: format!("the vector of {word:?} holds a value that is not finite"),
            });
        }
        Ok(self.push(word, vector))
    }

    fn push(&mut self, word: &str, vector: &[f64]) -> bool {
        if self.index.contains_key(word) || self.words.len() >= MAX_WORDS {
            return false;
        }
        self.index.insert(word.to_string(), self.words.len() as u32);
        self.words.push(word.to_string());
        self.values.extend_from_slice(vector);
        true
    }
}

/// Bytes a GloVe value may contain: digits, sign, decimal point, exponent.
const fn numeric_bytes() -> [bool; 256] {
    let mut table = [false; 256];
    let allowed = b"0123456789+-.eE";
    let mut i = 0;
    while i < allowed.len() {
        table[allowed[i] as usize] = true;
        i += 1;
    }
    table
}
static NUMERIC: [bool; 256] = numeric_bytes();

/// The number of space-separated fields of `values` and whether every byte outside the
/// separators may belong to a number.
fn scan_fields(values: &[u8]) -> (usize, bool) {
    let mut fields = 0;
    let mut inside = false;
    let mut numeric = true;
    for &b in values {
        if b == b' ' {
            inside = false;
        } else {
            fields += usize::from(!inside);
            inside = true;
            numeric &= NUMERIC[usize::from(b)];
        }
    }
    (fields, numeric)
}

/// Reads GloVe's text format (`word v1 … vD` per line, separated by spaces), plain or
/// gzipped, keeping the words in `keep` (every word when `None`). The dimension is the first
/// line's number of values.
///
/// Every line is checked: it must have a word and the same number of values as the first
/// line, made of the characters of numbers. The values of the kept words are parsed (and
/// must be finite numbers); the lines of the others are only scanned, which is what makes the
/// full 400,000-word file quick to read for a few thousand words. A word that appears twice
/// keeps its first vector. Errors ([`Error::File`]) name the file and the line.
pub fn read_glove(path: &Path, keep: Option<&HashSet<String>>) -> Result<Embeddings> {
    let mut lines = Lines::open(path)?;
    let mut dim = 0;
    let mut out = Embeddings::new(0);
    let mut vector = Vec::new();
    while lines.advance()? {
        let bytes = lines.bytes();
        let bytes = bytes.strip_suffix(b" ").unwrap_or(bytes);
        if bytes.is_empty() {
            return Err(lines.error("empty line; expected `word v1 … vD`"));
        }
        let space = bytes.iter().position(|&b| b == b' ');
        let Some(space) = space.filter(|&s| s > 0) else {
            return Err(lines.error(if bytes[0] == b' ' {
                "starts with a space; expected `word v1 … vD`"
            } else {
                "a word without a vector; expected `word v1 … vD`"
            }));
        };
        let (word, values) = (&bytes[..space], &bytes[space + 1..]);
        let (fields, numeric) = scan_fields(values);
        if fields == 0 {
            return Err(lines.error("a word without a vector; expected `word v1 … vD`"));
        }
        let line = lines.line;
        if line == 1 {
            if fields == 1
                && word.iter().all(u8::is_ascii_digit)
                && values.trim_ascii().iter().all(u8::is_ascii_digit)
            {
                return Err(lines.error(format!(
                    "{:?} looks like a word2vec header (count and dimension); GloVe's text \
                     format has none: remove the first line",
                    String::from_utf8_lossy(bytes)
                )));
            }
            if fields > MAX_DIM {
                return Err(lines.error(format!(
                    "{fields} values per word; at most {MAX_DIM} are accepted"
                )));
            }
            dim = fields;
            out.dim = dim;
        } else if fields != dim {
            return Err(lines.error(format!(
                "{fields} values, but line 1 has {dim}: the dimension cannot change mid-file"
            )));
        }
        if !numeric {
            let bad = values
                .split(|&b| b == b' ')
                .find(|f| f.iter().any(|&b| !NUMERIC[usize::from(b)]))
                .unwrap_or(values);
            let shown: String = String::from_utf8_lossy(bad).chars().take(30).collect();
            return Err(lines.error(format!("{shown:?} is not a number")));
        }
        let Ok(word) = std::str::from_utf8(word) else {
            return Err(lines.error("the word is not valid UTF-8"));
        };
        if keep.is_some_and(|k| !k.contains(word)) {
            continue;
        }
        vector.clear();
        // Validated ASCII above, so this cannot fail.
        let text = std::str::from_utf8(values).unwrap_or_default();
        for field in text.split(' ').filter(|f| !f.is_empty()) {
            match field.parse::<f64>() {
                Ok(v) if v.is_finite() => vector.push(v),
                _ => {
                    let shown: String = field.chars().take(30).collect();
                    return Err(lines.error(format!("{shown:?} is not a finite number")));
                }
            }
        }
        out.push(word, &vector);
    }
    if lines.line == 0 {
        return Err(file_error(
            path,
            "empty file; expected GloVe vectors, `word v1 … vD` per line",
        ));
    }
    Ok(out)
}

/// The course's vector for unknown words: `dim` values `0.1 · (rand − 0.5)` drawn from `rng`.
pub fn unknown_vector(dim: usize, rng: &mut Rng) -> Vec<f64> {
    (0..dim).map(|_| 0.1 * (rng.uniform() - 0.5)).collect()
}

/// Token id of every word GloVe does not know: they share [`EmbeddingTable::unknown`].
pub const UNKNOWN: u32 = 0;

/// Known words' vectors plus one shared vector for unknown words: row [`UNKNOWN`] (0) is the
/// unknown vector, row `i + 1` the `i`-th word of the [`Embeddings`].
#[derive(Clone, Debug)]
pub struct EmbeddingTable {
    dim: usize,
    index: HashMap<String, u32>,
    words: Vec<String>,
    rows: Vec<f64>,
}

impl EmbeddingTable {
    /// The table of `embeddings` with `unknown` for every other word. Errors
    /// ([`Error::Invalid`]) when `unknown` has another length than the embeddings' dimension,
    /// or the dimension is 0.
    pub fn new(embeddings: Embeddings, unknown: Vec<f64>) -> Result<EmbeddingTable> {
        if embeddings.dim == 0 || unknown.len() != embeddings.dim {
            return Err(Error::Invalid {
                what: "EmbeddingTable",
                message: format!(
                    "the unknown-word vector has {} values, the word vectors {} (which must \
                     be at least 1)",
                    unknown.len(),
                    embeddings.dim
                ),
            });
        }
        let mut rows = unknown;
        rows.extend_from_slice(&embeddings.values);
        let index = embeddings
            .index
            .into_iter()
            .map(|(w, i)| (w, i + 1))
            .collect();
        Ok(EmbeddingTable {
            dim: embeddings.dim,
            index,
            words: embeddings.words,
            rows,
        })
    }

    /// The known words in row order: word `i` is row `i + 1`.
    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// Every row's values, row-major: row [`UNKNOWN`] first, then the known words' vectors
    /// (what a trainable [`Embedding`](crate::nn::Embedding) starts from).
    pub fn values(&self) -> &[f64] {
        &self.rows
    }

    /// Rows in the table: the known words plus the unknown-word row.
    pub fn rows(&self) -> usize {
        self.words.len() + 1
    }

    /// Values per vector.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of known words.
    pub fn known(&self) -> usize {
        self.index.len()
    }

    /// The vector shared by unknown words.
    pub fn unknown(&self) -> &[f64] {
        &self.rows[..self.dim]
    }

    /// The id of `word`: its row, or [`UNKNOWN`].
    pub fn id(&self, word: &str) -> u32 {
        self.index.get(word).copied().unwrap_or(UNKNOWN)
    }

    /// The vector of token `id`. Panics when `id` is not a row of the table.
    pub fn vector(&self, id: u32) -> &[f64] {
        &self.rows[id as usize * self.dim..][..self.dim]
    }

    /// The ids of a sentence's [`tokens`].
    pub fn encode(&self, sentence: &str) -> Vec<u32> {
        tokens(sentence).map(|t| self.id(t)).collect()
    }

    /// The (B, L, D) batch of `sentences` (token ids from [`encode`](Self::encode)), each
    /// followed by zero vectors up to `L`: `length`, or the longest sentence when longer.
    /// Errors ([`Error::Invalid`]) on an id beyond the table or an empty batch.
    pub fn batch(&self, sentences: &[&[u32]], length: usize, backend: Backend) -> Result<Tensor> {
        let padded = self.padded(sentences, length)?;
        let mut values = vec![0.0; padded.ids.len() * self.dim];
        for ((dst, &id), &word) in values
            .chunks_exact_mut(self.dim)
            .zip(&padded.ids)
            .zip(&padded.mask)
        {
            if word == 1.0 {
                dst.copy_from_slice(self.vector(id));
            }
        }
        Tensor::from_vec(values, &[sentences.len(), padded.length, self.dim])?.try_to(backend)
    }

    /// The token ids of `sentences` as a (B, L) grid, each followed by padding up to `L`:
    /// `length`, or the longest sentence when longer. Padding positions hold [`UNKNOWN`] and a
    /// mask of 0 (1 for words). Errors ([`Error::Invalid`]) on an id beyond the table or an
    /// empty batch.
    pub fn padded(&self, sentences: &[&[u32]], length: usize) -> Result<Padded> {
        let invalid = |message: String| Error::Invalid {
            what: "EmbeddingTable::batch",
            message,
        };
        if sentences.is_empty() {
            return Err(invalid("no sentences".into()));
        }
        let longest = sentences.iter().map(|s| s.len()).max().unwrap_or(0);
        let length = length.max(longest).max(1);
        let rows = self.rows();
        let mut ids = vec![UNKNOWN; sentences.len() * length];
        let mut mask = vec![0.0; sentences.len() * length];
        for (b, sentence) in sentences.iter().enumerate() {
            if let Some(&id) = sentence.iter().find(|&&id| id as usize >= rows) {
                return Err(invalid(format!(
                    "token id {id} beyond the table's {rows} rows"
                )));
            }
            ids[b * length..][..sentence.len()].copy_from_slice(sentence);
            mask[b * length..][..sentence.len()].fill(1.0);
        }
        Ok(Padded { ids, mask, length })
    }
}

/// Sentences laid out for a batch by [`EmbeddingTable::padded`].
#[derive(Clone, Debug, PartialEq)]
pub struct Padded {
    /// (B, L) token ids, row-major; [`UNKNOWN`] at padding positions.
    pub ids: Vec<u32>,
    /// 1.0 at words, 0.0 at padding, in the same order.
    pub mask: Vec<f64>,
    /// L, tokens per padded sentence.
    pub length: usize,
}
