//! Data sets read from files, beside the generated 2-D sets of [`crate::datasets`].
//!
//! [`idx`] reads MNIST (MiniTorch task 4.5) and the data sets that share its IDX format, such as
//! Fashion-MNIST, plain or gzipped. The binary's `minitorch data mnist` downloads the files.
//! [`text`] reads the sentiment task's GLUE SST-2 sentences and GloVe word vectors.

pub mod idx;
pub mod text;

use crate::Error;
use crate::error::Result;
use flate2::read::MultiGzDecoder;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// An error about the file at `path`.
fn file_error(path: &Path, message: impl Into<String>) -> Error {
    Error::File {
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// Opens a regular file for reading, decompressing it when its content is gzip (the first
/// two bytes decide, not the name); returns the reader, whether it was gzip, and the file's
/// length in bytes (as stored). Directories,
/// FIFOs and devices are refused (a FIFO would block the reader; a device could be endless).
fn open_data_file(path: &Path, buffer: usize) -> Result<(Box<dyn BufRead>, bool, u64)> {
    let fail = |message: String| file_error(path, message);
    let meta = std::fs::metadata(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    if meta.is_dir() {
        return Err(fail("cannot read: is a directory".into()));
    }
    if !meta.is_file() {
        return Err(fail("cannot read: not a regular file".into()));
    }
    let file = File::open(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    let mut buffered = BufReader::with_capacity(buffer, file);
    let head = buffered
        .fill_buf()
        .map_err(|e| fail(format!("cannot read: {e}")))?;
    let gzip = head.starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn BufRead> = if gzip {
        Box::new(BufReader::with_capacity(
            buffer,
            MultiGzDecoder::new(buffered),
        ))
    } else {
        Box::new(buffered)
    };
    Ok((reader, gzip, meta.len()))
}
