//! Data sets read from files, beside the generated 2-D sets of [`crate::datasets`].
//!
//! [`idx`] reads MNIST (MiniTorch task 4.5) and the data sets that share its IDX format, such as
//! Fashion-MNIST, plain or gzipped. The binary's `minitorch data mnist` downloads the files.
//! [`text`] reads the sentiment task's GLUE SST-2 sentences and GloVe word vectors.

pub mod idx;
pub mod text;
