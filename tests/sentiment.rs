//! The sentiment task (4.5): the SST-2 and GloVe readers on fixtures built here (plain and
//! gzipped, well-formed and every malformed case), padding and the unknown-word vector, the
//! network's shapes and loss, learning on a tiny synthetic task (fast and cuda-sim),
//! checkpoints, and `minitorch sentiment` on fixture files. The real SST-2 files are read when
//! at hand (../shared/data/sst2 or MINITORCH_SST2_DIR); the real-data runs are CLI runs
//! (README, "Module 4: text").

mod common;

use flate2::Compression;
use flate2::write::GzEncoder;
use minitorch::data::text::{
    EmbeddingTable, Embeddings, MAX_LINE_BYTES, UNKNOWN, read_glove, read_sst2, unknown_vector,
    vocabulary,
};
use minitorch::models::sentiment::{
    Head, Sentences, SentimentCnn, SentimentConfig, bce_loss, checkpoint_tensors, evaluate,
    labels_tensor, load_checkpoint, longest, predict, train_epoch,
};
use minitorch::module::Module;
use minitorch::optim::{Adam, Sgd};
use minitorch::{Backend, Rng, Tensor, checkpoint};
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A fresh, empty directory for one test.
fn temp_dir(tag: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("minitorch-sentiment-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

const TSV: &str = "sentence\tlabel\nhide new secretions from the parental units \t0\n\
                   a gorgeous , witty , seductive movie .\t1\r\nthe best film of the year\t1\n";

const GLOVE: &str = "the 0.418 0.24968 -0.41242\n, 0.013441 0.23682 -0.16899\n\
                     movie 1e-2 -2.5E+1 3\ngorgeous 0.5 0.25 0.125\nthe 9 9 9\n";

#[test]
fn sst2_files_are_read_plain_and_gzipped() {
    let dir = temp_dir("sst2");
    for path in [
        write(&dir, "train.tsv", TSV.as_bytes()),
        write(&dir, "train.tsv.gz", &gzip(TSV.as_bytes())),
    ] {
        let s = read_sst2(&path).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].text, "hide new secretions from the parental units ");
        assert_eq!(s[0].label, 0);
        // A Windows line end is not part of the label.
        assert_eq!(
            (s[1].text.as_str(), s[1].label),
            ("a gorgeous , witty , seductive movie .", 1)
        );
        assert_eq!(s[2].label, 1);
    }
}

/// The error of reading `content` as an SST-2 file; it must name the file.
fn sst2_error(dir: &Path, content: &[u8]) -> String {
    let path = write(dir, "bad.tsv", content);
    let err = read_sst2(&path).unwrap_err().to_string();
    assert!(err.starts_with(&path.display().to_string()), "{err}");
    err
}

#[test]
fn malformed_sst2_files_are_refused_naming_the_file_and_line() {
    let dir = temp_dir("sst2-bad");
    let h = "sentence\tlabel\n";
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            b"".to_vec(),
            "empty file; an SST-2 file starts with the header",
        ),
        (b"index\tsentence\n".to_vec(), "line 1: expected the header"),
        (h.as_bytes().to_vec(), "no sentences after the header"),
        (
            format!("{h}good film 1\n").into_bytes(),
            "line 2: expected 2 tab-separated fields (sentence, label), found 1",
        ),
        (
            format!("{h}good\tfilm\t1\n").into_bytes(),
            "line 2: expected 2 tab-separated fields (sentence, label), found 3",
        ),
        (
            format!("{h}ok\t1\nbad film\t2\n").into_bytes(),
            "line 3: label \"2\" is not 0 or 1",
        ),
        (
            format!("{h}bad film\tpositive\n").into_bytes(),
            "line 2: label \"positive\" is not 0 or 1",
        ),
        (
            format!("{h}bad film\t\n").into_bytes(),
            "line 2: label \"\" is not 0 or 1",
        ),
        (
            format!("{h}  \t0\n").into_bytes(),
            "line 2: empty sentence (no tokens)",
        ),
        (
            format!("{h}ok\t1\n\nfine\t0\n").into_bytes(),
            "line 3: empty line",
        ),
        (
            [h.as_bytes(), b"caf\xe9\t1\n"].concat(),
            "line 2: not valid UTF-8",
        ),
    ];
    for (content, expected) in cases {
        let err = sst2_error(&dir, &content);
        assert!(err.contains(expected), "{expected:?} not in {err:?}");
    }
    let long = format!("{h}{}\t1\n", "a ".repeat(MAX_LINE_BYTES));
    assert!(sst2_error(&dir, long.as_bytes()).contains("line 2: longer than 1048576 bytes"));
    // Corrupt gzip data (here a wrong CRC, found at the end) names the line being read.
    let mut gz = gzip(TSV.as_bytes());
    let n = gz.len();
    gz[n - 8] ^= 0xff;
    let e = sst2_error(&dir, &gz);
    assert!(e.contains("line 5: corrupt gzip data"), "{e}");
    gz.truncate(n - 4);
    let e = sst2_error(&dir, &gz);
    assert!(e.contains("corrupt gzip data"), "{e}");
    let missing = read_sst2(&dir.join("absent.tsv")).unwrap_err().to_string();
    assert!(missing.contains("absent.tsv: cannot read"), "{missing}");
    assert!(
        read_sst2(&dir)
            .unwrap_err()
            .to_string()
            .contains("is a directory")
    );
}

#[test]
fn glove_files_are_read_plain_and_gzipped_keeping_the_words_asked_for() {
    let dir = temp_dir("glove");
    let plain = write(&dir, "g.txt", GLOVE.as_bytes());
    let gz = write(&dir, "g.txt.gz", &gzip(GLOVE.as_bytes()));
    let all = read_glove(&plain, None).unwrap();
    assert_eq!(all, read_glove(&gz, None).unwrap());
    // The dimension comes from the file; a repeated word keeps its first vector.
    assert_eq!((all.dim(), all.len()), (3, 4));
    assert_eq!(all.get("the").unwrap(), &[0.418, 0.24968, -0.41242]);
    assert_eq!(all.get("movie").unwrap(), &[0.01, -25.0, 3.0]);
    assert_eq!(all.words(), ["the", ",", "movie", "gorgeous"]);
    let keep: HashSet<String> = ["movie", "absent", "the"].map(String::from).into();
    let some = read_glove(&gz, Some(&keep)).unwrap();
    assert_eq!((some.dim(), some.len()), (3, 2));
    assert_eq!(some.words(), ["the", "movie"]);
    assert!(some.get(",").is_none());
    // Trailing spaces (as some exporters write) and CRLF line ends are accepted.
    let loose = write(&dir, "loose.txt", b"a 1 2 \r\nb 3 4\n");
    assert_eq!(
        read_glove(&loose, None).unwrap().get("a").unwrap(),
        &[1.0, 2.0]
    );
}

/// The error of reading `content` as GloVe vectors (keeping only "kept"); it must name the file.
fn glove_error(dir: &Path, content: &[u8]) -> String {
    let path = write(dir, "bad.txt", content);
    let keep: HashSet<String> = ["kept".to_string()].into();
    let err = read_glove(&path, Some(&keep)).unwrap_err().to_string();
    assert!(err.starts_with(&path.display().to_string()), "{err}");
    err
}

#[test]
fn malformed_glove_files_are_refused_naming_the_file_and_line() {
    let dir = temp_dir("glove-bad");
    let cases: Vec<(&[u8], &str)> = vec![
        (b"", "empty file; expected GloVe vectors"),
        (
            b"a 1 2 3\nb 1 2\n",
            "line 2: 2 values, but line 1 has 3: the dimension cannot change mid-file",
        ),
        (
            b"a 1 2\nb 1 2\nkept 1 2 3 4\n",
            "line 3: 4 values, but line 1 has 2",
        ),
        (b"a 1 2\nb\n", "line 2: a word without a vector"),
        (b"a  \n", "line 1: a word without a vector"),
        (b"a 1 2\n 1 2\n", "line 2: starts with a space"),
        (b"a 1 2\n\nb 1 2\n", "line 2: empty line"),
        // Skipped words are scanned for the characters of numbers...
        (b"a 1 2\nb 1 x2\n", "line 2: \"x2\" is not a number"),
        (b"a 1 2\nb 1 nan\n", "line 2: \"nan\" is not a number"),
        // ... kept words are parsed.
        (
            b"a 1 2\nkept 1 2.3.4\n",
            "line 2: \"2.3.4\" is not a finite number",
        ),
        (
            b"a 1 2\nkept 1 1e999\n",
            "line 2: \"1e999\" is not a finite number",
        ),
        (b"kept 1 -\n", "line 1: \"-\" is not a finite number"),
        (
            b"400000 50\nthe 1 2\n",
            "line 1: \"400000 50\" looks like a word2vec header",
        ),
        (
            b"a 1 2\nk\xe9pt 1 2\n",
            "line 2: the word is not valid UTF-8",
        ),
    ];
    for (content, expected) in cases {
        let err = glove_error(&dir, content);
        assert!(err.contains(expected), "{expected:?} not in {err:?}");
        // Gzipped, the same error.
        let err = glove_error(&dir, &gzip(content));
        assert!(
            content.is_empty() || err.contains(expected),
            "gz: {expected:?} not in {err:?}"
        );
    }
    let long = format!("a {}\n", "1 ".repeat(MAX_LINE_BYTES));
    assert!(glove_error(&dir, long.as_bytes()).contains("line 1: longer than"));
}

#[test]
fn sentences_are_padded_with_zeros_and_unknown_words_share_one_vector() {
    let mut glove = Embeddings::new(2);
    glove.insert("good", &[1.0, 2.0]).unwrap();
    glove.insert("film", &[3.0, 4.0]).unwrap();
    assert!(
        !glove.insert("good", &[9.0, 9.0]).unwrap(),
        "first vector kept"
    );
    assert!(glove.insert("bad", &[1.0]).is_err());
    assert!(glove.insert("bad", &[1.0, f64::NAN]).is_err());
    let unknown = unknown_vector(2, &mut Rng::seed(7));
    assert!(
        unknown.iter().all(|v| (-0.05..0.05).contains(v)),
        "{unknown:?}"
    );
    assert_eq!(unknown, unknown_vector(2, &mut Rng::seed(7)), "seeded");
    let table = EmbeddingTable::new(glove, unknown.clone()).unwrap();
    assert_eq!((table.dim(), table.known()), (2, 2));
    let a = table.encode(" good  film\tzzz ");
    let b = table.encode("qqq good");
    assert_eq!(a.len(), 3);
    assert_eq!((a[2], b[0]), (UNKNOWN, UNKNOWN));
    assert_eq!(longest(&[a.clone(), b.clone()]), 3);
    let x = table.batch(&[&a, &b], 4, Backend::Fast).unwrap();
    assert_eq!(x.shape(), [2, 4, 2]);
    let (u0, u1) = (unknown[0], unknown[1]);
    assert_eq!(
        x.to_vec(),
        [
            [1.0, 2.0, 3.0, 4.0, u0, u1, 0.0, 0.0],
            [u0, u1, 1.0, 2.0, 0.0, 0.0, 0.0, 0.0]
        ]
        .concat()
    );
    // A sentence longer than the padding length widens its batch instead of being cut.
    assert_eq!(
        table.batch(&[&a], 1, Backend::Fast).unwrap().shape(),
        [1, 3, 2]
    );
    assert!(table.batch(&[&[7]], 4, Backend::Fast).is_err());
    assert!(table.batch(&[], 4, Backend::Fast).is_err());
    assert!(EmbeddingTable::new(Embeddings::new(2), vec![0.0; 3]).is_err());
    let v = vocabulary(["a b a", "b c"]);
    assert_eq!(v.len(), 3);
}

#[test]
fn the_network_maps_sentences_to_probabilities() {
    let mut rng = Rng::seed(1);
    let net = SentimentCnn::new(50, 100, &[3, 4, 5], Backend::Fast, &mut rng).unwrap();
    let names: Vec<(String, Vec<usize>)> = net
        .named_parameters()
        .into_iter()
        .map(|(n, p)| (n, p.tensor().unwrap().shape().to_vec()))
        .collect();
    let expected: Vec<(String, Vec<usize>)> = [
        ("conv1.weights", vec![100, 50, 3]),
        ("conv1.bias", vec![100, 1]),
        ("conv2.weights", vec![100, 50, 4]),
        ("conv2.bias", vec![100, 1]),
        ("conv3.weights", vec![100, 50, 5]),
        ("conv3.bias", vec![100, 1]),
        ("linear.weights", vec![100, 1]),
        ("linear.bias", vec![1]),
    ]
    .into_iter()
    .map(|(n, s)| (n.to_string(), s))
    .collect();
    assert_eq!(names, expected);
    for p in net.parameters() {
        let values = p.tensor().unwrap().to_vec();
        assert!(values.iter().all(|v| (-0.05..0.05).contains(v)));
    }
    // Sentences shorter than a filter still work (zeros past the end).
    let relu = SentimentCnn::new(50, 100, &[3, 4, 5], Backend::Fast, &mut rng)
        .unwrap()
        .with_head(Head::CourseRelu);
    relu.eval();
    for length in [2, 7, 51] {
        let x = Tensor::rand(&[3, length, 50], &mut rng).unwrap();
        net.eval();
        let p = net.forward(&x, &mut rng).unwrap();
        assert_eq!(p.shape(), [3]);
        assert!(p.to_vec().iter().all(|v| (0.0..1.0).contains(v)), "{p:?}");
        // MiniTorch's ReLU before the sigmoid: every probability is at least 0.5.
        let p = relu.forward(&x, &mut rng).unwrap();
        assert!(p.to_vec().iter().all(|v| (0.5..1.0).contains(v)), "{p:?}");
    }
    let err = net
        .forward(&Tensor::zeros(&[2, 5, 49]).unwrap(), &mut rng)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "SentimentCnn: expected embedded sentences of shape (B, L, 50), got [2, 5, 49]"
    );
    assert!(SentimentCnn::new(50, 10, &[], Backend::Fast, &mut rng).is_err());
    assert!(SentimentCnn::new(50, 10, &[3, 0], Backend::Fast, &mut rng).is_err());
    assert!(
        SentimentCnn::new(5, 2, &[2], Backend::Fast, &mut rng)
            .unwrap()
            .with_dropout(1.0)
            .is_err()
    );
    // Dropout only in training: evaluation is deterministic, training is not.
    let net = SentimentCnn::new(4, 8, &[2], Backend::Fast, &mut rng).unwrap();
    let x = Tensor::rand(&[64, 5, 4], &mut rng).unwrap();
    net.eval();
    let a = net.forward(&x, &mut Rng::seed(1)).unwrap().to_vec();
    assert_eq!(a, net.forward(&x, &mut Rng::seed(2)).unwrap().to_vec());
    net.train();
    let b = net.forward(&x, &mut Rng::seed(1)).unwrap().to_vec();
    assert!(b.iter().filter(|&&v| v == 0.5).count() >= 5, "{b:?}");
}

#[test]
fn the_loss_stays_finite_at_probabilities_0_and_1() {
    let p = Tensor::from_vec(vec![0.0, 1.0, 0.0, 1.0, 0.5], &[5])
        .unwrap()
        .requires_grad_(true);
    let y = labels_tensor(&[1, 0, 0, 1, 1], Backend::Fast).unwrap();
    let loss = bce_loss(&p, &y).unwrap();
    let v = loss.item().unwrap();
    // Two certain mistakes cost −ln(1e-6) each; right answers ≈ 0; p = 0.5 costs ln 2.
    let expected =
        (2.0 * -(1e-6f64).ln() + 2.0 * -(1.0 + 1e-6f64).ln() - (0.5 + 1e-6f64).ln()) / 5.0;
    assert!(
        v.is_finite() && (v - expected).abs() < 1e-9,
        "{v} vs {expected}"
    );
    loss.backward().unwrap();
    let g = p.grad().unwrap().to_vec();
    assert!(g.iter().all(|v| v.is_finite()), "{g:?}");
    assert!(g[0] < 0.0 && g[1] > 0.0, "{g:?}");
    assert!(labels_tensor(&[0, 2], Backend::Fast).is_err());
}

/// A synthetic task: each sentence is 3–8 filler words with one "good" (label 1) or "bad"
/// (label 0) word somewhere; the words' vectors are random.
struct Synthetic {
    table: EmbeddingTable,
    ids: Vec<Vec<u32>>,
    labels: Vec<u8>,
}

fn synthetic(n: usize, dim: usize, seed: u64) -> Synthetic {
    let mut rng = Rng::seed(seed);
    let mut glove = Embeddings::new(dim);
    let words = ["good", "bad", "the", "a", "film", "of", "and", "it"];
    for w in words {
        let v: Vec<f64> = (0..dim).map(|_| 2.0 * rng.uniform() - 1.0).collect();
        glove.insert(w, &v).unwrap();
    }
    let table = EmbeddingTable::new(glove, unknown_vector(dim, &mut rng)).unwrap();
    let mut ids = Vec::new();
    let mut labels = Vec::new();
    for i in 0..n {
        let label = (i % 2) as u8;
        let len = 3 + rng.below(6);
        let at = rng.below(len);
        let sentence: Vec<&str> = (0..len)
            .map(|k| {
                if k == at {
                    if label == 1 { "good" } else { "bad" }
                } else {
                    words[2 + rng.below(words.len() - 2)]
                }
            })
            .collect();
        ids.push(table.encode(&sentence.join(" ")));
        labels.push(label);
    }
    Synthetic { table, ids, labels }
}

fn data(s: &Synthetic) -> Sentences<'_> {
    Sentences {
        table: &s.table,
        ids: &s.ids,
        labels: &s.labels,
        length: longest(&s.ids),
    }
}

fn learns(head: Head, seed: u64) {
    let s = synthetic(80, 8, 1);
    let mut rng = Rng::seed(seed);
    let net = SentimentCnn::new(8, 16, &[2, 3], Backend::Fast, &mut rng)
        .unwrap()
        .with_head(head);
    let optim = Sgd::new(net.parameters(), 0.5).unwrap();
    let before = evaluate(&net, data(&s), 32).unwrap();
    let config = SentimentConfig {
        batch: 8,
        shuffle: true,
    };
    let mut calls = 0;
    for _ in 0..30 {
        let stats = train_epoch(&net, &optim, data(&s), &config, &mut rng, |done, total| {
            calls += 1;
            assert!(done <= total && total == 10);
        })
        .unwrap();
        assert_eq!(stats.total, 80);
        assert!(stats.loss.is_finite());
    }
    assert_eq!(calls, 300);
    assert!(net.is_training());
    let after = evaluate(&net, data(&s), 32).unwrap();
    assert!(net.is_training(), "evaluate restores the training flag");
    assert_eq!((after.total, after.probabilities.len()), (80, 80));
    assert!(
        after.loss < before.loss * 0.6,
        "{head:?}: loss {} -> {}",
        before.loss,
        after.loss
    );
    assert!(after.correct >= 76, "{head:?}: {} of 80", after.correct);
}

#[test]
fn the_network_learns_a_synthetic_task_on_the_fast_backend() {
    // The course's head, and Kim's, learn from any start.
    learns(Head::Course, 3);
    learns(Head::Kim, 3);
    // MiniTorch's ReLU head: negative sentences can only reach p = 0.5 (loss ln 2), so the
    // loss falls to about ln 2 / 2. Seed 0 is one whose output ReLU stays alive: with this
    // step size it dies (every linear output negative, no gradient) on most seeds.
    learns(Head::CourseRelu, 0);
}

#[test]
fn trained_vectors_tell_apart_words_whose_glove_vectors_are_equal() {
    // "good" and "bad" start with the same vector: with fixed vectors no network can tell a
    // positive sentence from a negative one; trained vectors (Adam) pull the two apart. Both
    // are scored on sentences they were not trained on.
    let dim = 6;
    let mut rng = Rng::seed(4);
    let mut glove = Embeddings::new(dim);
    let same: Vec<f64> = (0..dim).map(|_| rng.uniform() - 0.5).collect();
    glove.insert("good", &same).unwrap();
    glove.insert("bad", &same).unwrap();
    for w in ["the", "a", "film", "plot", "unused"] {
        let v: Vec<f64> = (0..dim).map(|_| rng.uniform() - 0.5).collect();
        glove.insert(w, &v).unwrap();
    }
    let table = EmbeddingTable::new(glove, unknown_vector(dim, &mut rng)).unwrap();
    let sentences = |n: usize, rng: &mut Rng| {
        let filler = ["the", "a", "film", "plot", "zzz"];
        let (mut ids, mut labels) = (Vec::new(), Vec::new());
        for i in 0..n {
            let label = (i % 2) as u8;
            let len = 3 + rng.below(4);
            let at = rng.below(len);
            let words: Vec<&str> = (0..len)
                .map(|k| match (k == at, label) {
                    (true, 1) => "good",
                    (true, _) => "bad",
                    _ => filler[rng.below(filler.len())],
                })
                .collect();
            ids.push(table.encode(&words.join(" ")));
            labels.push(label);
        }
        (ids, labels)
    };
    let (train_ids, train_labels) = sentences(60, &mut rng);
    let (test_ids, test_labels) = sentences(40, &mut rng);
    let length = longest(&train_ids).max(longest(&test_ids));
    let set = |ids, labels| Sentences {
        table: &table,
        ids,
        labels,
        length,
    };
    let unused_row = 7 * dim; // rows: unknown, good, bad, the, a, film, plot, unused
    for tuned in [false, true] {
        let mut net = SentimentCnn::new(dim, 8, &[2], Backend::Fast, &mut Rng::seed(1)).unwrap();
        if tuned {
            net = net.with_tuned_vectors(&table).unwrap();
        }
        let adam = Adam::new(net.parameters(), 0.05).unwrap();
        let config = SentimentConfig {
            batch: 6,
            shuffle: true,
        };
        let mut rng = Rng::seed(2);
        for _ in 0..40 {
            let train = set(&train_ids, &train_labels);
            train_epoch(&net, &adam, train, &config, &mut rng, |_, _| {}).unwrap();
        }
        let score = evaluate(&net, set(&test_ids, &test_labels), 16).unwrap();
        if tuned {
            assert!(
                score.correct >= 38,
                "trained vectors: {} of 40",
                score.correct
            );
            let rows = net.tuned_vectors().unwrap().weights.get().to_vec();
            assert_ne!(
                rows[dim..2 * dim],
                rows[2 * dim..3 * dim],
                "good and bad moved apart"
            );
            assert_eq!(
                rows[unused_row..unused_row + dim],
                table.values()[unused_row..unused_row + dim],
                "a word no sentence uses keeps its vector"
            );
            // The checkpoint carries the trained vectors and their words.
            let dir = temp_dir("tuned-checkpoint");
            let path = dir.join("m.safetensors");
            checkpoint::save(&path, &checkpoint_tensors(&net, &table, length)).unwrap();
            let restored = load_checkpoint(&path, Backend::Fast).unwrap();
            let words = restored.table.as_ref().unwrap();
            assert_eq!(words.words(), table.words());
            for sentence in ["the good film", "a bad plot zzz"] {
                let a = predict(&net, &table, sentence, length).unwrap();
                let b = predict(&restored.net, words, sentence, length).unwrap();
                assert!((a - b).abs() < 1e-12, "{sentence}: {a} vs {b}");
            }
        } else {
            assert!(
                score.correct <= 28,
                "fixed vectors: {} of 40",
                score.correct
            );
        }
    }
}

#[test]
fn malformed_trained_vocabularies_are_refused_naming_the_file() {
    let s = synthetic(20, 4, 1);
    let net = SentimentCnn::new(4, 3, &[2], Backend::Fast, &mut Rng::seed(1))
        .unwrap()
        .with_tuned_vectors(&s.table)
        .unwrap();
    let good = checkpoint_tensors(&net, &s.table, 9);
    let dir = temp_dir("bad-words");
    let load = |tensors: Vec<checkpoint::NamedTensor>, tag: &str| -> String {
        let path = dir.join(format!("{tag}.safetensors"));
        checkpoint::save(&path, &tensors).unwrap();
        let err = load_checkpoint(&path, Backend::Fast)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains(path.to_str().unwrap()), "{tag}: {err}");
        err
    };
    let with_words = |bytes: Vec<u8>| -> Vec<checkpoint::NamedTensor> {
        let mut t = good.clone();
        let w = t.iter_mut().find(|t| t.name == "embedding.words").unwrap();
        w.shape = vec![bytes.len()];
        w.values = bytes.into_iter().map(f64::from).collect();
        t
    };
    let words = s.table.words().to_vec();
    let missing: Vec<_> = good
        .iter()
        .filter(|t| t.name != "embedding.words")
        .cloned()
        .collect();
    assert!(load(missing, "missing").contains("missing tensor embedding.words"));
    let mut not_byte = good.clone();
    not_byte
        .iter_mut()
        .find(|t| t.name == "embedding.words")
        .unwrap()
        .values[0] = 300.0;
    assert!(load(not_byte, "not-byte").contains("not a byte"));
    assert!(load(with_words(vec![0xFF, 0xFE]), "not-utf8").contains("not UTF-8"));
    let fewer = words[..words.len() - 1].join("\n").into_bytes();
    assert!(load(with_words(fewer), "fewer").contains("words for the"));
    let mut twice = words.clone();
    twice[1] = twice[0].clone();
    assert!(load(with_words(twice.join("\n").into_bytes()), "twice").contains("twice"));
    // The well-formed checkpoint loads, with the trained table's row 0 as its unknown vector.
    let path = dir.join("good.safetensors");
    checkpoint::save(&path, &good).unwrap();
    let restored = load_checkpoint(&path, Backend::Fast).unwrap();
    let row0 = net.tuned_vectors().unwrap().weights.get().to_vec()[..4].to_vec();
    assert_eq!(restored.unknown, row0);
}

#[test]
fn minitorchs_relu_head_can_die() {
    // The ReLU on the output stops every gradient once every linear output is negative: the
    // loss then stays at ln 2 for good. (Why the default head has no ReLU.)
    let s = synthetic(80, 8, 1);
    let mut rng = Rng::seed(1);
    let net = SentimentCnn::new(8, 16, &[2, 3], Backend::Fast, &mut rng)
        .unwrap()
        .with_head(Head::CourseRelu);
    let optim = Sgd::new(net.parameters(), 0.5).unwrap();
    for _ in 0..5 {
        train_epoch(
            &net,
            &optim,
            data(&s),
            &SentimentConfig::default(),
            &mut rng,
            |_, _| {},
        )
        .unwrap();
    }
    let e = evaluate(&net, data(&s), 80).unwrap();
    assert!(e.probabilities.iter().all(|&p| p == 0.5));
    assert!((e.loss - 2f64.ln()).abs() < 1e-5, "{}", e.loss);
}

/// A few steps on `backend`: the loss before, the epoch's mean training loss, the loss after.
fn few_steps_on(backend: Backend) -> (f64, f64, f64) {
    let s = synthetic(12, 4, 2);
    let config = SentimentConfig {
        batch: 4,
        shuffle: false,
    };
    let mut rng = Rng::seed(5);
    let net = SentimentCnn::new(4, 3, &[2, 3], backend, &mut rng)
        .unwrap()
        .with_head(Head::Kim);
    let optim = Sgd::new(net.parameters(), 0.5).unwrap();
    let before = evaluate(&net, data(&s), 12).unwrap().loss;
    let stats = train_epoch(&net, &optim, data(&s), &config, &mut rng, |_, _| {}).unwrap();
    let after = evaluate(&net, data(&s), 12).unwrap().loss;
    (before, stats.loss, after)
}

fn matches_the_fast_backend(backend: Backend) {
    let (fast, other) = (few_steps_on(Backend::Fast), few_steps_on(backend));
    for (a, b) in [(fast.0, other.0), (fast.1, other.1), (fast.2, other.2)] {
        assert!((a - b).abs() < 1e-9, "fast {fast:?} vs {backend} {other:?}");
    }
    assert!(
        other.2 < other.0,
        "{backend} loss {} -> {}",
        other.0,
        other.2
    );
}

#[test]
fn a_few_steps_on_cuda_sim_match_the_fast_backend() {
    matches_the_fast_backend(Backend::CudaSim);
}

/// As on cuda-sim, on a real GPU; says why it skips without one (fails then under
/// `MINITORCH_REQUIRE_CUDA=1`).
#[test]
fn a_few_steps_on_a_gpu_match_the_fast_backend() {
    if common::cuda_or_skip("a_few_steps_on_a_gpu_match_the_fast_backend") {
        matches_the_fast_backend(Backend::Cuda);
    }
}

#[test]
fn checkpoints_restore_the_network_its_unknown_vector_and_length() {
    let dir = temp_dir("ckpt");
    let s = synthetic(10, 6, 4);
    let mut rng = Rng::seed(6);
    let net = SentimentCnn::new(6, 5, &[2, 4], Backend::Fast, &mut rng)
        .unwrap()
        .with_head(Head::Kim);
    let path = dir.join("m.safetensors");
    let tensors = checkpoint_tensors(&net, &s.table, 9);
    checkpoint::save(&path, &tensors).unwrap();
    let r = load_checkpoint(&path, Backend::Fast).unwrap();
    assert_eq!(
        (r.net.filters(), r.net.maps(), r.net.embedding()),
        (&[2, 4][..], 5, 6)
    );
    assert_eq!((r.unknown.as_slice(), r.length), (s.table.unknown(), 9));
    assert_eq!(r.net.head(), Head::Kim);
    // Every head round-trips, and checkpoints from before `head.kind` (`head.relu`: 1 for the
    // ReLU head, 0 for Kim's) still load.
    for head in [Head::Course, Head::CourseRelu, Head::Kim] {
        let net = SentimentCnn::new(6, 5, &[2], Backend::Fast, &mut rng)
            .unwrap()
            .with_head(head);
        let mut tensors = checkpoint_tensors(&net, &s.table, 9);
        checkpoint::save(&path, &tensors).unwrap();
        assert_eq!(
            load_checkpoint(&path, Backend::Fast).unwrap().net.head(),
            head
        );
        if head != Head::Course {
            let kind = tensors.iter_mut().find(|t| t.name == "head.kind").unwrap();
            kind.name = "head.relu".into();
            checkpoint::save(&path, &tensors).unwrap();
            assert_eq!(
                load_checkpoint(&path, Backend::Fast).unwrap().net.head(),
                head
            );
        }
    }
    let p = predict(&net, &s.table, "good film zzz", 9).unwrap();
    assert_eq!(p, predict(&r.net, &s.table, "good film zzz", 9).unwrap());
    assert!(predict(&net, &s.table, "  ", 9).is_err());
    // Broken checkpoints are named.
    let mut bad = tensors.clone();
    bad.retain(|t| t.name != "embedding.length");
    checkpoint::save(&path, &bad).unwrap();
    let err = load_checkpoint(&path, Backend::Fast)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("missing tensor embedding.length"), "{err}");
    let mut bad = tensors.clone();
    bad.iter_mut()
        .find(|t| t.name == "embedding.length")
        .unwrap()
        .values = vec![2.5];
    checkpoint::save(&path, &bad).unwrap();
    let err = load_checkpoint(&path, Backend::Fast)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("embedding.length is 2.5"), "{err}");
    let mut bad = tensors.clone();
    bad.iter_mut()
        .find(|t| t.name == "head.kind")
        .unwrap()
        .values = vec![0.5];
    checkpoint::save(&path, &bad).unwrap();
    let err = load_checkpoint(&path, Backend::Fast)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("head.kind is [0.5], not [0] (Kim), [1] (CourseRelu), [2] (Course)"),
        "{err}"
    );
    let mut bad = tensors.clone();
    bad.iter_mut()
        .find(|t| t.name == "linear.bias")
        .unwrap()
        .shape = vec![1, 1];
    checkpoint::save(&path, &bad).unwrap();
    let err = load_checkpoint(&path, Backend::Fast)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("tensor linear.bias has shape [1, 1]"), "{err}");
    checkpoint::save(&path, &tensors[2..]).unwrap();
    let err = load_checkpoint(&path, Backend::Fast)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("no tensor conv1.weights"), "{err}");
}

/// The directory of the real SST-2 files, when at hand.
fn sst2_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("MINITORCH_SST2_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/sst2"),
    };
    if dir.join("dev.tsv").is_file() {
        Some(dir)
    } else {
        println!(
            "skipped: no SST-2 files in {} (set MINITORCH_SST2_DIR)",
            dir.display()
        );
        None
    }
}

#[test]
fn the_real_sst2_files_load() {
    let Some(dir) = sst2_dir() else { return };
    let dev = read_sst2(&dir.join("dev.tsv")).unwrap();
    assert_eq!(dev.len(), 872);
    assert!(dev.iter().all(|s| s.label <= 1));
    let glove_path = dir.join("glove.6B.50d.sst2-vocab.txt.gz");
    if !glove_path.is_file() {
        println!("skipped GloVe: no {}", glove_path.display());
        return;
    }
    let vocab = vocabulary(dev.iter().map(|s| s.text.as_str()));
    let glove = read_glove(&glove_path, Some(&vocab)).unwrap();
    assert_eq!(glove.dim(), 50);
    assert!(
        glove.len() > vocab.len() * 9 / 10,
        "{} of {}",
        glove.len(),
        vocab.len()
    );
    assert_eq!(glove.get("the").unwrap()[..2], [0.418, 0.24968]);
}

// ---- the command line ----

fn minitorch(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_minitorch"))
        .arg("sentiment")
        .args(args)
        .output()
        .expect("run minitorch");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A data directory of 20 training and 6 validation sentences and 4-d GloVe vectors.
fn fixture_dir(tag: &str) -> PathBuf {
    let dir = temp_dir(tag);
    let mut train = String::from("sentence\tlabel\n");
    for i in 0..20 {
        let (word, label) = if i % 2 == 0 { ("good", 1) } else { ("bad", 0) };
        train.push_str(&format!(
            "the {word} film of it {}\t{label}\n",
            "and ".repeat(i % 3)
        ));
    }
    write(&dir, "train.tsv", train.as_bytes());
    let dev = "sentence\tlabel\na good film\t1\nbad\t0\nit is good\t1\nzzz bad\t0\ngood\t1\nbad film\t0\n";
    write(&dir, "dev.tsv.gz", &gzip(dev.as_bytes()));
    let glove = "the 0.1 0.2 0.3 0.4\ngood 1 0.5 -0.5 0.2\nbad -1 -0.5 0.5 0.1\nfilm 0 0.1 0 0\n\
                 of 0.2 0 0.2 0\nit 0 0 0.3 0.1\nand 0.1 0.1 0.1 0.1\n";
    write(&dir, "glove.6B.50d.txt", glove.as_bytes());
    dir
}

/// A refused command: exit 1, one `error:` line with every one of `expected`, no training.
fn refused(args: &[&str], expected: &[&str]) {
    let (code, out, err) = minitorch(args);
    assert_eq!(code, Some(1), "{args:?}: {out}\n{err}");
    for e in expected {
        assert!(err.contains(e), "{args:?}: {e:?} not in {err}");
    }
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error")).count(),
        1,
        "{args:?}: {err}"
    );
    assert!(
        !out.contains("Epoch"),
        "{args:?} trained before failing: {out}"
    );
}

#[test]
fn the_command_trains_saves_and_predicts() {
    let dir = fixture_dir("cli");
    let data = dir.to_str().unwrap();
    let model = dir.join("m.safetensors");
    let plot = dir.join("curves.png");
    let (code, out, err) = minitorch(&[
        "--data",
        data,
        "--epochs",
        "3",
        "--maps",
        "6",
        "--filters",
        "2,3",
        "--rate",
        "0.2",
        "--batch",
        "4",
        "--seed",
        "1",
        "--head",
        "kim",
        "--shuffle",
        "--save",
        model.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
        "--train",
        "all",
        "--valid",
        "all",
    ]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(
        out.contains("SST-2: 20 of 20 training sentences, 6 of 6 validation"),
        "{out}"
    );
    assert!(out.contains("padded to 7 tokens"), "{out}");
    assert!(
        out.contains("GloVe: 7 of the 10 words known (4-d, read in"),
        "{out}"
    );
    assert!(
        out.contains("3 of 131 tokens share the unknown-word vector"),
        "{out}"
    );
    let epochs: Vec<&str> = out.lines().filter(|l| l.starts_with("Epoch ")).collect();
    assert_eq!(epochs.len(), 3, "{out}");
    for line in &epochs {
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            [
                words[2], words[4], words[5], words[7], words[8], words[10], words[11], words[13],
                words[15]
            ],
            [
                "loss", "train", "acc", "valid", "acc", "best", "valid", "time", "s"
            ],
            "{line}"
        );
    }
    assert!(
        out.contains(
            "Trained 3 epochs on 20 sentences (fast backend, kim head, sgd, fixed vectors)"
        ),
        "{out}"
    );
    let loss = |line: &str| {
        line.split_whitespace()
            .nth(3)
            .unwrap()
            .parse::<f64>()
            .unwrap()
    };
    assert!(loss(epochs[2]) < loss(epochs[0]), "{out}");
    assert!(plot.metadata().unwrap().len() > 1000);
    let (code, out, err) = minitorch(&[
        "--data",
        data,
        "--load",
        model.to_str().unwrap(),
        "--predict",
        "a good film , zzz",
    ]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.starts_with("P(positive) = "), "{out}");
    assert!(out.contains("(5 words, 3 unknown to GloVe)"), "{out}");
    // The same checkpoint with --filters of another network, or another head, is refused.
    refused(
        &[
            "--data",
            data,
            "--load",
            model.to_str().unwrap(),
            "--filters",
            "3",
        ],
        &["--load", "holds a network with filters [2, 3] and 6 maps"],
    );
    refused(
        &[
            "--data",
            data,
            "--load",
            model.to_str().unwrap(),
            "--head",
            "course",
        ],
        &[
            "--load",
            "holds a network with the kim head, not --head course",
        ],
    );
}

#[test]
fn trained_vectors_travel_in_the_checkpoint() {
    let dir = fixture_dir("cli-tuned");
    let data = dir.to_str().unwrap();
    let model = dir.join("tuned.safetensors");
    let (code, out, err) = minitorch(&[
        "--data",
        data,
        "--epochs",
        "2",
        "--maps",
        "6",
        "--filters",
        "2,3",
        "--rate",
        "0.05",
        "--optimizer",
        "adam",
        "--tune-vectors",
        "--seed",
        "1",
        "--train",
        "all",
        "--valid",
        "all",
        "--save",
        model.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(
        out.contains("(fast backend, course head, adam, trained vectors)"),
        "{out}"
    );
    let saved = checkpoint::load(&model).unwrap();
    let table = saved
        .iter()
        .find(|t| t.name == "embedding.weights")
        .unwrap();
    assert_eq!(table.shape, vec![8, 4], "7 known words and the unknown row");
    // --predict reads the checkpoint's own vocabulary: no GloVe file needed.
    let empty = temp_dir("no-glove");
    let (code, out, err) = minitorch(&[
        "--data",
        empty.to_str().unwrap(),
        "--load",
        model.to_str().unwrap(),
        "--predict",
        "a good film , zzz",
    ]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(
        out.contains("(5 words, 3 unknown to the trained vocabulary)"),
        "{out}"
    );
    // A network over fixed vectors still needs GloVe to read a sentence.
    let fixed = dir.join("fixed.safetensors");
    let (code, out, err) = minitorch(&[
        "--data",
        data,
        "--epochs",
        "1",
        "--maps",
        "6",
        "--filters",
        "2",
        "--seed",
        "1",
        "--train",
        "all",
        "--valid",
        "all",
        "--save",
        fixed.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    refused(
        &[
            "--data",
            empty.to_str().unwrap(),
            "--load",
            fixed.to_str().unwrap(),
            "--predict",
            "a good film",
        ],
        &["--glove", "(not given)"],
    );
}

#[test]
fn bad_flags_and_files_are_refused_before_any_work() {
    let dir = fixture_dir("cli-bad");
    let data = dir.to_str().unwrap();
    let d = |extra: &[&'static str]| -> Vec<String> {
        let mut v = vec!["--data".to_string(), data.to_string()];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let cases: Vec<(Vec<String>, Vec<&str>)> = vec![
        (d(&["--train", "0"]), vec!["--train 0: must be at least 1"]),
        (
            d(&["--valid", "ten"]),
            vec!["\"ten\" is neither a count of sentences nor `all`"],
        ),
        (
            d(&["--train", "21"]),
            vec!["--train 21:", "train.tsv has only 20 sentences"],
        ),
        (
            d(&["--valid", "7", "--train", "all"]),
            vec!["--valid 7:", "dev.tsv.gz has only 6 sentences"],
        ),
        (
            d(&["--filters", "3,,5"]),
            vec!["--filters \"3,,5\": needs comma-separated values"],
        ),
        (
            d(&["--filters", "3,99"]),
            vec!["--filters \"3,99\": width 99"],
        ),
        (d(&["--filters", "x"]), vec!["--filters \"x\""]),
        (d(&["--maps", "0"]), vec!["--maps 0: must be at least 1"]),
        (d(&["--maps", "5000"]), vec!["--maps 5000: at most 4096"]),
        (
            d(&["--epochs", "0"]),
            vec!["--epochs 0: must be at least 1"],
        ),
        (d(&["--batch", "0"]), vec!["--batch 0: must be at least 1"]),
        (
            d(&["--rate", "-1"]),
            vec!["--rate -1: must be a positive finite number"],
        ),
        (
            d(&["--dropout", "1"]),
            vec!["--dropout 1: must be at least 0 and below 1"],
        ),
        (
            d(&["--backend", "scalar"]),
            vec!["--backend scalar: the sentiment network needs a tensor backend"],
        ),
        (d(&["--backend", "tpu"]), vec!["unknown backend \"tpu\""]),
        (d(&["--predict", "good"]), vec!["--load"]),
        (
            d(&["--glove", "/nonexistent/g.txt"]),
            vec!["--glove /nonexistent/g.txt: cannot read"],
        ),
        (
            d(&["--load", "/nonexistent/m.safetensors"]),
            vec!["--load /nonexistent/m.safetensors: cannot read"],
        ),
        (
            d(&["--save", "/nonexistent/m.safetensors"]),
            vec!["--save /nonexistent/m.safetensors", "does not exist"],
        ),
        (
            d(&["--plot", "/tmp/x.svg"]),
            vec!["--plot /tmp/x.svg", "unsupported image format"],
        ),
        (
            vec!["--data".into(), "/nonexistent".into()],
            vec!["--data /nonexistent: is not a directory"],
        ),
    ];
    for (args, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        refused(&args, &expected);
    }
    // A malformed data file is named with its line.
    write(&dir, "dev.tsv", b"sentence\tlabel\ngood\t1\nbad\t3\n");
    let dev = dir.join("dev.tsv").display().to_string();
    refused(
        &["--data", data],
        &[&format!("{dev}: line 3: label \"3\" is not 0 or 1")],
    );
    std::fs::remove_file(dir.join("dev.tsv")).unwrap();
    std::fs::remove_file(dir.join("glove.6B.50d.txt")).unwrap();
    refused(
        &["--data", data],
        &["--glove (not given): none of glove.6B.50d.txt"],
    );
}
