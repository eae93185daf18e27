//! MNIST's IDX files, plain or gzipped.
//!
//! An IDX file is a big-endian header and raw data. MNIST uses two kinds, both of unsigned
//! bytes:
//!
//! | file | magic | header | data |
//! |---|---|---|---|
//! | images (`*-images-idx3-ubyte`) | `0x00000803` (2051) | count, rows, cols (u32 each) | `count × rows × cols` pixels, row-major, 0 (background) to 255 (ink) |
//! | labels (`*-labels-idx1-ubyte`) | `0x00000801` (2049) | count (u32) | `count` digits 0–9 |
//!
//! Each file may be gzipped (`.gz`, as the mirrors serve them) or not: the content decides
//! (the gzip magic bytes `1f 8b`), not the name. The readers refuse, with an [`Error::File`]
//! naming the file, anything that is not exactly such a file: a wrong magic number, a header or
//! data cut short, bytes after the declared data, a count of zero, a label above 9, corrupt gzip
//! data, and sizes beyond [`MAX_COUNT`], [`MAX_IMAGE_PIXELS`] and [`MAX_DATA_BYTES`]. The
//! declared size is compared with what the file holds before the data is allocated (a plain
//! file's length; a gzipped file is decompressed through a limit of the declared size plus one
//! byte), so a forged header cannot make the reader allocate more than the file really holds.
//!
//! ```no_run
//! use minitorch::data::idx::{Split, load_split};
//! # fn main() -> minitorch::Result<()> {
//! let mnist = load_split("data/mnist".as_ref(), Split::Train)?;
//! let split = mnist.holdout(5000, 500)?; // train on 0..5000, validate on 5000..5500
//! let x = mnist.images_f64(split.train.clone())?; // 5000 × 28 × 28 pixel values, 0–255
//! let y = &mnist.labels[split.train];
//! # Ok(()) }
//! ```

use super::file_error;
use crate::{Error, Result};
use std::fmt;
use std::io::{self, Read};
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Magic number of an IDX file of unsigned-byte images (3 dims): `0x00000803`.
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned-byte labels (1 dim): `0x00000801`.
pub const LABELS_MAGIC: u32 = 0x0000_0801;
/// Most items (images or labels) a file may declare: 100 million, over a thousand times MNIST.
pub const MAX_COUNT: usize = 100_000_000;
/// Most pixels per image: 4096 × 4096 (MNIST's are 28 × 28).
pub const MAX_IMAGE_PIXELS: usize = 4096 * 4096;
/// Most bytes of data a file may declare: 4 GiB (MNIST's training images take 47 MB).
pub const MAX_DATA_BYTES: u64 = 1 << 32;
/// Number of classes: the digits 0–9.
pub const CLASSES: usize = 10;

/// The images of an IDX image file.
#[derive(Clone, PartialEq, Eq)]
pub struct Images {
    /// Number of images.
    pub count: usize,
    /// Rows per image.
    pub rows: usize,
    /// Columns per image.
    pub cols: usize,
    /// `count × rows × cols` pixels: image after image, each row-major.
    pub pixels: Vec<u8>,
}

impl fmt::Debug for Images {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Images {{ {} × {}×{} }}",
            self.count, self.rows, self.cols
        )
    }
}

/// Which of MNIST's two sets: the 60,000 training images or the 10,000 test images.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    /// `train-images-idx3-ubyte` and `train-labels-idx1-ubyte`.
    Train,
    /// `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`.
    Test,
}

impl Split {
    /// The file names' prefix: `train` or `t10k`.
    pub fn prefix(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "t10k",
        }
    }

    /// The images file's name without `.gz`: `train-images-idx3-ubyte`.
    pub fn images_name(self) -> String {
        format!("{}-images-idx3-ubyte", self.prefix())
    }

    /// The labels file's name without `.gz`: `train-labels-idx1-ubyte`.
    pub fn labels_name(self) -> String {
        format!("{}-labels-idx1-ubyte", self.prefix())
    }
}

/// Images with their labels: one of MNIST's sets (or Fashion-MNIST's, in the same format).
#[derive(Clone, PartialEq, Eq)]
pub struct Mnist {
    /// `count × rows × cols` pixels, 0 (background) to 255 (ink): image after image, each
    /// row-major.
    pub images: Vec<u8>,
    /// `count` labels, each 0–9.
    pub labels: Vec<u8>,
    /// Number of images (and labels).
    pub count: usize,
    /// Rows per image (28 for MNIST).
    pub rows: usize,
    /// Columns per image (28 for MNIST).
    pub cols: usize,
}

impl fmt::Debug for Mnist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Mnist {{ {} images of {}×{}, labels {:?} }}",
            self.count,
            self.rows,
            self.cols,
            self.label_counts()
        )
    }
}

/// Training and validation ranges of image indices: see [`holdout`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holdout {
    /// The first images: the ones to train on.
    pub train: Range<usize>,
    /// The images right after them, held out (never trained on) to measure accuracy.
    pub valid: Range<usize>,
}

/// The first `train` of `count` images for training and the next `valid` for validation
/// (`0..train` and `train..train + valid`; `valid` may be 0). The course trains on the first
/// 5,000 MNIST images and validates on the next 500.
///
/// Errors ([`Error::Invalid`]) when `train` is 0 or `train + valid` exceeds `count`.
pub fn holdout(count: usize, train: usize, valid: usize) -> Result<Holdout> {
    if train == 0 {
        return Err(Error::Invalid {
            what: "holdout",
            message: "the training range must hold at least 1 image, not 0".into(),
        });
    }
    match train.checked_add(valid) {
        Some(end) if end <= count => Ok(Holdout {
            train: 0..train,
            valid: train..end,
        }),
        _ => Err(Error::Invalid {
            what: "holdout",
            message: format!(
                "{train} training + {valid} validation images = {} images, but the data has \
                 only {count}",
                u128::from(train as u64) + u128::from(valid as u64)
            ),
        }),
    }
}

impl Mnist {
    /// Pairs images with labels; errors ([`Error::Invalid`]) when their counts differ.
    /// [`load_split`] names the two files instead.
    pub fn new(images: Images, labels: Vec<u8>) -> Result<Mnist> {
        let pixels = images
            .count
            .checked_mul(images.rows)
            .and_then(|n| n.checked_mul(images.cols));
        if images.count != labels.len() || pixels != Some(images.pixels.len()) {
            return Err(Error::Invalid {
                what: "Mnist::new",
                message: format!(
                    "{} images of {}×{} ({} pixels) with {} labels",
                    images.count,
                    images.rows,
                    images.cols,
                    images.pixels.len(),
                    labels.len()
                ),
            });
        }
        if let Some(i) = labels.iter().position(|&l| usize::from(l) >= CLASSES) {
            return Err(Error::Invalid {
                what: "Mnist::new",
                message: format!("label {} at index {i} is not a digit 0–9", labels[i]),
            });
        }
        Ok(Mnist {
            count: images.count,
            rows: images.rows,
            cols: images.cols,
            images: images.pixels,
            labels,
        })
    }

    /// Pixels per image: `rows × cols`.
    pub fn pixels_per_image(&self) -> usize {
        self.rows * self.cols
    }

    /// The pixels of image `i`, row-major. Panics when `i >= count`, as slice indexing does.
    pub fn image(&self, i: usize) -> &[u8] {
        assert!(i < self.count, "image {i} of {}", self.count);
        let n = self.pixels_per_image();
        &self.images[i * n..(i + 1) * n]
    }

    /// How many images of each digit: `counts[d]` for `d` in 0–9.
    pub fn label_counts(&self) -> [usize; CLASSES] {
        let mut counts = [0; CLASSES];
        for &l in &self.labels {
            counts[usize::from(l)] += 1;
        }
        counts
    }

    /// The pixels of the images in `range` as `f64`, unscaled (0.0–255.0, as the course feeds
    /// them to its network): `range.len() × rows × cols` values, ready for a tensor of shape
    /// `[range.len(), rows, cols]`. Errors ([`Error::Invalid`]) on a range outside `0..count`.
    pub fn images_f64(&self, range: Range<usize>) -> Result<Vec<f64>> {
        if range.start > range.end || range.end > self.count {
            return Err(Error::Invalid {
                what: "Mnist::images_f64",
                message: format!(
                    "range {}..{} is not within the {} images",
                    range.start, range.end, self.count
                ),
            });
        }
        let n = self.pixels_per_image();
        Ok(self.images[range.start * n..range.end * n]
            .iter()
            .map(|&p| f64::from(p))
            .collect())
    }

    /// [`holdout`] over this set's images.
    pub fn holdout(&self, train: usize, valid: usize) -> Result<Holdout> {
        holdout(self.count, train, valid)
    }
}

/// The file `name` or `name.gz` in `dir`, whichever exists (the plain one when both do).
/// Errors ([`Error::File`], naming `dir`) when neither does.
pub fn find_file(dir: &Path, name: &str) -> Result<PathBuf> {
    let gz = format!("{name}.gz");
    for candidate in [name, gz.as_str()] {
        let path = dir.join(candidate);
        if std::fs::symlink_metadata(&path).is_ok() {
            return Ok(path);
        }
    }
    let message = match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => format!(
            "neither {name} nor {gz} is here (`minitorch data mnist --dir {}` downloads MNIST)",
            dir.display()
        ),
        Ok(_) => "not a directory".to_string(),
        Err(e) => format!("cannot read the directory: {e}"),
    };
    Err(file_error(dir, message))
}

/// Reads one of MNIST's sets from `dir`: [`Split::images_name`] and [`Split::labels_name`],
/// each plain or `.gz` (see [`find_file`]). Both files must hold the same number of items.
pub fn load_split(dir: &Path, split: Split) -> Result<Mnist> {
    let images_path = find_file(dir, &split.images_name())?;
    let labels_path = find_file(dir, &split.labels_name())?;
    let images = read_images(&images_path)?;
    let labels = read_labels(&labels_path)?;
    if labels.len() != images.count {
        return Err(file_error(
            &labels_path,
            format!(
                "holds {} labels, but {} holds {} images",
                labels.len(),
                images_path.display(),
                images.count
            ),
        ));
    }
    Mnist::new(images, labels)
}

/// Reads an IDX image file (magic [`IMAGES_MAGIC`]), plain or gzipped.
pub fn read_images(path: &Path) -> Result<Images> {
    let (dims, pixels) = read_idx(path, &IMAGES)?;
    Ok(Images {
        count: dims[0],
        rows: dims[1],
        cols: dims[2],
        pixels,
    })
}

/// Reads an IDX label file (magic [`LABELS_MAGIC`]), plain or gzipped; every label must be a
/// digit 0–9.
pub fn read_labels(path: &Path) -> Result<Vec<u8>> {
    let (_, labels) = read_idx(path, &LABELS)?;
    if let Some(i) = labels.iter().position(|&l| usize::from(l) >= CLASSES) {
        return Err(file_error(
            path,
            format!("label {} at index {i} is not a digit 0–9", labels[i]),
        ));
    }
    Ok(labels)
}

/// What one kind of IDX file looks like.
struct Kind {
    magic: u32,
    /// Header fields after the magic number: the count, then the item's dims.
    dims: usize,
    /// `images`, `labels`.
    items: &'static str,
    /// `image`, `label`.
    kind: &'static str,
}

const IMAGES: Kind = Kind {
    magic: IMAGES_MAGIC,
    dims: 3,
    items: "images",
    kind: "image",
};

const LABELS: Kind = Kind {
    magic: LABELS_MAGIC,
    dims: 1,
    items: "labels",
    kind: "label",
};

/// Reads until `buf` is full or the input ends; the number of bytes read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// The magic number's meaning, for a message about a file of the wrong kind.
fn describe_magic(magic: u32) -> String {
    match magic {
        IMAGES_MAGIC => "an IDX image file".into(),
        LABELS_MAGIC => "an IDX label file".into(),
        m if m >> 16 == 0 && m & 0xff <= 4 => format!(
            "an IDX file of element type 0x{:02x} in {} dims",
            (m >> 8) & 0xff,
            m & 0xff
        ),
        _ => "not an IDX file".into(),
    }
}

/// Reads an IDX file of `kind`: its dims (the count first) and its data, checked against the
/// header.
fn read_idx(path: &Path, kind: &Kind) -> Result<(Vec<usize>, Vec<u8>)> {
    let fail = |message: String| file_error(path, message);
    let (mut reader, gzip, file_len) = super::open_data_file(path, 1 << 16)?;
    let io_fail = |e: io::Error| {
        if gzip {
            fail(format!("corrupt gzip data: {e}"))
        } else {
            fail(format!("cannot read: {e}"))
        }
    };
    let decompressed = if gzip { " (decompressed)" } else { "" };

    let header_len = 4 * (1 + kind.dims);
    let mut header = vec![0u8; header_len];
    let truncated = |got: usize| {
        fail(format!(
            "truncated header: {got} bytes{decompressed}, but an IDX {} file starts with \
             {header_len}",
            kind.kind
        ))
    };
    // The magic number first, so that a short file of the wrong kind is named as such.
    let got = read_full(&mut reader, &mut header[..4]).map_err(io_fail)?;
    if got < 4 {
        return Err(truncated(got));
    }
    let magic = u32::from_be_bytes(header[..4].try_into().unwrap());
    if magic != kind.magic {
        let gz_note = if !gzip && path.extension().is_some_and(|e| e == "gz") {
            " (the name ends in .gz, but the content is not gzip data)"
        } else {
            ""
        };
        return Err(fail(format!(
            "bad magic number 0x{magic:08x} ({}); an IDX {} file starts with 0x{:08x}{gz_note}",
            describe_magic(magic),
            kind.kind,
            kind.magic
        )));
    }
    let got = 4 + read_full(&mut reader, &mut header[4..]).map_err(io_fail)?;
    if got < header_len {
        return Err(truncated(got));
    }
    let field = |i: usize| u32::from_be_bytes(header[4 * i..4 * i + 4].try_into().unwrap());
    let dims: Vec<usize> = (1..=kind.dims).map(|i| field(i) as usize).collect();
    let count = dims[0];
    if count == 0 {
        return Err(fail(format!(
            "the header declares 0 {}: nothing to read",
            kind.items
        )));
    }
    if count > MAX_COUNT {
        return Err(fail(format!(
            "the header declares {count} {}, more than the {MAX_COUNT} this reader accepts",
            kind.items
        )));
    }
    // At most two u32 factors: the product fits in u64.
    let item: u64 = dims[1..].iter().map(|&d| d as u64).product();
    if kind.dims == 3 {
        let (rows, cols) = (dims[1], dims[2]);
        if rows == 0 || cols == 0 {
            return Err(fail(format!(
                "the header declares images of {rows}×{cols} pixels: an image needs at least one"
            )));
        }
        if item > MAX_IMAGE_PIXELS as u64 {
            return Err(fail(format!(
                "the header declares images of {rows}×{cols} pixels, more than the \
                 {MAX_IMAGE_PIXELS} (4096×4096) this reader accepts"
            )));
        }
    }
    // Both factors are bounded above, so the product fits in u64.
    let declared = count as u64 * item;
    let what = if kind.dims == 3 {
        format!("{count} images of {}×{}", dims[1], dims[2])
    } else {
        format!("{count} labels")
    };
    if declared > MAX_DATA_BYTES {
        return Err(fail(format!(
            "the header declares {what} ({declared} bytes), more than the {MAX_DATA_BYTES} \
             bytes this reader accepts"
        )));
    }
    if !gzip {
        // The file's length is known: compare before allocating.
        let after = file_len.saturating_sub(header_len as u64);
        if after < declared {
            return Err(fail(format!(
                "truncated: the header declares {what} ({declared} bytes), but only {after} \
                 bytes follow it"
            )));
        }
        if after > declared {
            let extra = after - declared;
            let s = if extra == 1 { "" } else { "s" };
            return Err(fail(format!(
                "{extra} byte{s} of trailing data after the {what} its header declares"
            )));
        }
    }
    let declared = declared as usize;
    // A plain file was measured; gzipped data grows the buffer only as it really decompresses.
    let mut data = Vec::with_capacity(if gzip {
        declared.min(1 << 24)
    } else {
        declared
    });
    reader
        .take(declared as u64 + 1)
        .read_to_end(&mut data)
        .map_err(io_fail)?;
    if data.len() < declared {
        return Err(fail(format!(
            "truncated: the header declares {what} ({declared} bytes), but only {} bytes{decompressed} \
             follow it",
            data.len()
        )));
    }
    if data.len() > declared {
        return Err(fail(format!(
            "trailing data{decompressed} after the {what} its header declares"
        )));
    }
    Ok((dims, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holdout_takes_the_first_images_and_the_next_ones() {
        assert_eq!(
            holdout(10, 6, 3).unwrap(),
            Holdout {
                train: 0..6,
                valid: 6..9
            }
        );
        assert_eq!(holdout(10, 10, 0).unwrap().valid, 10..10);
        let msg = holdout(10_000, 9000, 2000).unwrap_err().to_string();
        assert_eq!(
            msg,
            "holdout: 9000 training + 2000 validation images = 11000 images, but the data has \
             only 10000"
        );
        assert!(
            holdout(10, 0, 3)
                .unwrap_err()
                .to_string()
                .contains("at least 1")
        );
        // No overflow on absurd requests.
        let msg = holdout(10, usize::MAX, usize::MAX).unwrap_err().to_string();
        assert!(
            msg.contains(&(2 * u128::from(u64::MAX)).to_string()),
            "{msg}"
        );
    }

    #[test]
    fn magic_numbers_are_described() {
        assert_eq!(describe_magic(IMAGES_MAGIC), "an IDX image file");
        assert_eq!(describe_magic(LABELS_MAGIC), "an IDX label file");
        assert_eq!(
            describe_magic(0x0000_0d02),
            "an IDX file of element type 0x0d in 2 dims"
        );
        assert_eq!(describe_magic(0x8950_4e47), "not an IDX file");
    }

    #[test]
    fn split_names() {
        assert_eq!(Split::Train.images_name(), "train-images-idx3-ubyte");
        assert_eq!(Split::Test.labels_name(), "t10k-labels-idx1-ubyte");
    }

    #[test]
    fn mnist_new_checks_counts_and_labels() {
        let images = Images {
            count: 2,
            rows: 1,
            cols: 2,
            pixels: vec![0, 1, 2, 3],
        };
        let m = Mnist::new(images.clone(), vec![3, 9]).unwrap();
        assert_eq!(m.image(1), &[2, 3]);
        assert_eq!(m.label_counts()[3], 1);
        assert_eq!(m.images_f64(1..2).unwrap(), vec![2.0, 3.0]);
        assert!(m.images_f64(1..3).is_err());
        assert_eq!(
            format!("{m:?}"),
            "Mnist { 2 images of 1×2, labels [0, 0, 0, 1, 0, 0, 0, 0, 0, 1] }"
        );
        assert!(Mnist::new(images.clone(), vec![3]).is_err());
        assert!(Mnist::new(images, vec![3, 10]).is_err());
    }
}
