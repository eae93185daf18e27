//! The `minitorch` command: smoke tests of `bench` and `train`, and clear errors for bad flags.

use std::path::Path;
use std::process::Command;

/// Runs the command: its exit code (`None` when killed by a signal), stdout and stderr.
fn minitorch_status(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_minitorch"))
        .args(args)
        .output()
        .expect("run minitorch");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn minitorch(args: &[&str]) -> (bool, String, String) {
    let (code, out, err) = minitorch_status(args);
    (code == Some(0), out, err)
}

/// Runs a command that must fail at once with exit status 1 and one `error:` line containing
/// every one of `expected`, before any training or timing; returns stderr.
fn refused(args: &[&str], expected: &[&str]) -> String {
    let (code, out, err) = minitorch_status(args);
    assert_eq!(code, Some(1), "{args:?}: exit {code:?}\n{err}");
    for needle in expected {
        assert!(
            err.contains(needle),
            "{args:?}: {needle:?} missing in\n{err}"
        );
    }
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error")).count(),
        1,
        "{args:?}: {err}"
    );
    assert!(
        !out.contains("Epoch") && !out.contains("Timing summary") && !out.contains("seed "),
        "{args:?} did work before failing:\n{out}"
    );
    err
}

fn temp_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("minitorch-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Decodes a PNG and returns its size.
fn png_size(path: &std::path::Path) -> (u32, u32) {
    let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    // Not a blank image: more than one distinct byte value.
    assert!(
        buf[..info.buffer_size()].iter().any(|&b| b != buf[0]),
        "blank PNG"
    );
    (info.width, info.height)
}

#[test]
fn bench_matmul_prints_the_timing_summary_and_writes_a_png() {
    let png = temp_path("timing.png");
    let (ok, out, err) = minitorch(&[
        "bench",
        "matmul",
        "--sizes",
        "64,128",
        "--trials",
        "1",
        "--plot",
        png.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    for needle in [
        "Timing summary",
        "Size: 64",
        "Size: 128",
        "    simple: ",
        "    fast: ",
        "GFLOP/s",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
    assert_eq!(png_size(&png), (900, 600));
}

#[test]
fn bench_matmul_skips_the_reference_backend_on_big_sizes() {
    let (ok, out, err) = minitorch(&[
        "bench",
        "matmul",
        "--sizes",
        "32",
        "--trials",
        "1",
        "--simple-max",
        "16",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("skipping simple at n = 32"), "{out}");
}

#[test]
fn bench_ops_runs() {
    let (ok, out, err) = minitorch(&["bench", "ops", "--sizes", "1000", "--reps", "2"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("zip add (1,1000)+(1000,)") && out.contains("plain slice loop"),
        "{out}"
    );
    // The bandwidth limit and every op's ratio to it.
    assert!(out.contains("copy, 1 thread (bandwidth limit)"), "{out}");
    let relu = out
        .lines()
        .find(|l| l.starts_with("fast") && l.contains("map relu (1,1000) "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(relu.trim_end().ends_with('%'), "{relu}");
}

#[test]
fn bench_train_times_the_training_step() {
    let (ok, out, err) = minitorch(&[
        "bench",
        "train",
        "--hidden",
        "4,8",
        "--batch",
        "2",
        "--no-torch",
    ]);
    assert!(ok, "{err}");
    let rows: Vec<&str> = out
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|w| w == "4" || w == "8")
        })
        .collect();
    assert_eq!(rows.len(), 2, "{out}");
    for row in rows {
        // hidden, batch, points, epochs, ms per step
        let fields: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(&fields[1..3], ["2", "10"], "{row}");
        let ms: f64 = fields[4].parse().unwrap();
        assert!(ms > 0.0, "{row}");
    }
    assert!(!out.contains("torch 1t"), "{out}");
    refused(&["bench", "train", "--hidden", "0"], &["--hidden 0"]);
    refused(&["bench", "train", "--batch", "2,x"], &["--batch"]);
    refused(
        &["bench", "train", "--torch-threads", "0"],
        &["--torch-threads 0"],
    );
}

#[test]
fn train_prints_the_course_log_and_the_profile() {
    let (ok, out, err) = minitorch(&[
        "train",
        "--epochs",
        "20",
        "--hidden",
        "10",
        "--seed",
        "3",
        "--profile",
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains("Epoch 10 loss ") && out.contains("Epoch 20 loss "),
        "{out}"
    );
    assert!(out.contains("Time per epoch"), "{out}");
    assert!(
        err.contains("minitorch profile") && err.contains("matmul"),
        "{err}"
    );
}

#[test]
fn bad_flags_give_one_clear_error() {
    let cases: [(&[&str], &str); 6] = [
        (
            &["train", "--hidden", "0"],
            "--hidden 0: must be at least 1",
        ),
        (
            &["train", "--dataset", "moons"],
            "unknown dataset \"moons\"",
        ),
        (
            &["train", "--rate", "-1"],
            "--rate -1: must be a positive finite number",
        ),
        (&["train", "--backend", "tpu"], "unknown backend \"tpu\""),
        (
            &["bench", "matmul", "--sizes", "64,0"],
            "--sizes 0: must be at least 1",
        ),
        (
            &["bench", "matmul", "--sizes", "64,x"],
            "--sizes \"64,x\": \"x\": invalid digit",
        ),
    ];
    for (args, expected) in cases {
        let (ok, _, err) = minitorch(args);
        assert!(!ok, "{args:?} should fail");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn train_plot_save_eval_and_datasets() {
    // A directory of its own, so that other tests' in-flight temporary files are not counted.
    let dir = temp_path("train-plot-save");
    std::fs::create_dir_all(&dir).unwrap();
    let (plot, model, datasets) = (
        dir.join("train.png"),
        dir.join("model.safetensors"),
        dir.join("datasets.png"),
    );
    let (ok, out, err) = minitorch(&[
        "train",
        "--dataset",
        "xor",
        "--epochs",
        "30",
        "--hidden",
        "16",
        "--seed",
        "5",
        "--quiet",
        "--plot",
        plot.to_str().unwrap(),
        "--save",
        model.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains("Epoch 30 loss") && out.contains("saved ") && out.contains("wrote "),
        "{out}"
    );
    assert_eq!(png_size(&plot), (1400, 600));
    assert!(temp_files(&dir).is_empty(), "{:?}", temp_files(&dir));
    let (ok, out, err) = minitorch(&[
        "eval",
        "--load",
        model.to_str().unwrap(),
        "--dataset",
        "xor",
        "--seed",
        "5",
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains("correct ") && out.contains("/50") && out.contains("hidden 16"),
        "{out}"
    );
    let (ok, _, err) = minitorch(&["datasets", "--plot", datasets.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert_eq!(png_size(&datasets), (1200, 800));
    // Without a seed, the seed used is printed so the run can be repeated.
    let (ok, out, _) = minitorch(&["train", "--epochs", "1", "--hidden", "4"]);
    assert!(ok && out.starts_with("seed "), "{out}");
}

#[test]
fn bad_training_flags_and_files() {
    let model = temp_path("absent.safetensors");
    let junk = temp_path("junk.safetensors");
    std::fs::write(&junk, b"junk").unwrap();
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["train", "--batch", "0"],
            "--batch 0: must be at least 1".into(),
        ),
        (
            vec!["train", "--pts", "0"],
            "--pts 0: must be at least 1".into(),
        ),
        (
            vec!["train", "--load", model.to_str().unwrap()],
            format!("{}: cannot read", model.display()),
        ),
        (
            vec!["eval", "--load", junk.to_str().unwrap()],
            "not a valid safetensors file".into(),
        ),
        (
            vec![
                "train",
                "--plot",
                "/nonexistent-dir/x.png",
                "--epochs",
                "1",
                "--hidden",
                "2",
            ],
            "/nonexistent-dir/x.png".into(),
        ),
        (
            vec![
                "train",
                "--save",
                "/nonexistent-dir/m.safetensors",
                "--epochs",
                "1",
                "--hidden",
                "2",
            ],
            "--save /nonexistent-dir/m.safetensors: directory /nonexistent-dir does not exist"
                .into(),
        ),
    ];
    let mut cases = cases;
    if minitorch::backend::cuda::device::gpu().is_err() {
        cases.push((
            vec!["train", "--backend", "cuda", "--epochs", "1"],
            "CUDA is not available".into(),
        ));
    }
    for (args, expected) in cases {
        let (ok, _, err) = minitorch(&args);
        assert!(!ok, "{args:?} should fail");
        assert!(err.contains(&expected), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        // One error line (clap adds a "try --help" hint after its parse errors).
        assert_eq!(
            err.lines().filter(|l| l.starts_with("error")).count(),
            1,
            "{args:?}: {err}"
        );
    }
}

/// Names in `dir` that look like the temporary files of a save.
fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect()
}

#[test]
fn numeric_flags_are_bounded_and_refused_before_any_work() {
    let cases: [(&[&str], &[&str]); 14] = [
        (
            &["train", "--epochs", "18446744073709551615"],
            &["--epochs 18446744073709551615: at most 1000000 ("],
        ),
        (
            &["train", "--hidden", "100000000"],
            &["--hidden 100000000: at most 16384 (", "would take 80.0 PB"],
        ),
        (
            &["train", "--hidden", "100000"],
            &["--hidden 100000: at most 16384 (", "would take 80.0 GB"],
        ),
        (
            &["train", "--pts", "100000000000"],
            &["--pts 100000000000: at most 10000000 ("],
        ),
        (
            &["train", "--batch", "100000000"],
            &["--batch 100000000: at most 10000000 ("],
        ),
        (
            &["train", "--rate", "1e9"],
            &["--rate 1000000000: at most 1000 ("],
        ),
        (
            &[
                "eval",
                "--pts",
                "100000000000",
                "--load",
                "/nonexistent-dir/m",
            ],
            &["--pts 100000000000: at most 10000000 ("],
        ),
        (
            &[
                "datasets",
                "--pts",
                "100000000",
                "--plot",
                "/nonexistent-dir/d.png",
            ],
            &["--pts 100000000: at most 1000000 ("],
        ),
        (
            &["bench", "matmul", "--sizes", "64,100000"],
            &["--sizes 100000: at most 8192 ("],
        ),
        (
            &["bench", "matmul", "--trials", "1000000"],
            &["--trials 1000000: at most 100 ("],
        ),
        (
            &["bench", "matmul", "--simple-max", "100000"],
            &["--simple-max 100000: at most 2048 ("],
        ),
        (
            &["bench", "ops", "--sizes", "100000000000"],
            &["--sizes 100000000000: at most 100000000 ("],
        ),
        (
            &["bench", "ops", "--reps", "100000000"],
            &["--reps 100000000: at most 10000 ("],
        ),
        (
            &["train", "--epochs", "0"],
            &["--epochs 0: must be at least 1"],
        ),
    ];
    for (args, expected) in cases {
        refused(args, expected);
    }
}

#[test]
fn runs_too_large_for_memory_are_refused_before_they_allocate() {
    // 16384 hidden units evaluated on ten million points: terabytes of activations, more than
    // any machine running these tests has.
    refused(
        &["train", "--hidden", "16384", "--pts", "10000000"],
        &[
            "--pts 10000000: the run would need about ",
            " TB (hidden 16384",
            "more than the ",
        ],
    );
    refused(
        &[
            "train",
            "--backend",
            "scalar",
            "--hidden",
            "16384",
            "--batch",
            "1000",
        ],
        &[
            "--hidden 16384: the run would need about ",
            "scalar backend",
        ],
    );
}

#[test]
fn rates_must_be_positive_finite_numbers() {
    for rate in ["-inf", "inf", "nan", "-nan", "0", "-0.5"] {
        let err = refused(
            &["train", "--rate", rate, "--epochs", "1"],
            &["--rate ", ": must be a positive finite number"],
        );
        assert!(!err.contains("unexpected argument"), "{rate}: {err}");
    }
}

#[test]
fn every_error_exits_1_and_help_and_version_exit_0() {
    for args in [
        &["train", "--bogus"][..],
        &["train", "--hidden", "abc"],
        &["train", "--hidden", "-5"],
        &["frobnicate"],
        &[],
        &["train", "--hidden", "0"],
    ] {
        let (code, _, err) = minitorch_status(args);
        assert_eq!(code, Some(1), "{args:?}: {err}");
        assert_eq!(
            err.lines().filter(|l| l.starts_with("error")).count(),
            usize::from(!args.is_empty()),
            "{args:?}: {err}"
        );
    }
    for args in [&["--help"][..], &["--version"], &["train", "--help"]] {
        let (code, out, err) = minitorch_status(args);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        assert!(out.contains("minitorch"), "{args:?}: {out}");
    }
    // The bounds are in the help.
    let (_, help, _) = minitorch_status(&["train", "--help"]);
    assert!(
        help.contains("1 to 16384") && help.contains("epochs, 1 to 1000000 ["),
        "{help}"
    );
}

#[test]
fn output_paths_are_checked_before_training_and_a_failed_run_keeps_the_checkpoint() {
    // A directory of its own: the other tests save into the shared one concurrently, and their
    // in-flight temporary files must not count as this test's leftovers.
    let dir = temp_path("checked-before-training");
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("kept.safetensors");
    let (ok, _, err) = minitorch(&[
        "train",
        "--epochs",
        "2",
        "--hidden",
        "3",
        "--seed",
        "1",
        "--save",
        model.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let before = std::fs::read(&model).unwrap();
    let m = model.to_str().unwrap();
    // Each of these fails before training, naming the user's path, and leaves the checkpoint.
    refused(
        &[
            "train",
            "--epochs",
            "5",
            "--hidden",
            "4",
            "--save",
            m,
            "--plot",
            "/nonexistent-dir/p.png",
        ],
        &["--plot /nonexistent-dir/p.png: directory /nonexistent-dir does not exist"],
    );
    let plot = dir.join("chart.gif");
    refused(
        &[
            "train",
            "--epochs",
            "5",
            "--hidden",
            "4",
            "--save",
            m,
            "--plot",
            plot.to_str().unwrap(),
        ],
        &[
            "unsupported image format \"gif\"",
            ".png, .jpg, .jpeg or .bmp",
        ],
    );
    refused(
        &[
            "train",
            "--epochs",
            "5",
            "--hidden",
            "4",
            "--save",
            m,
            "--load",
            "/nonexistent-dir/m",
        ],
        &["/nonexistent-dir/m: cannot read"],
    );
    let both = dir.join("both.png");
    let both = both.to_str().unwrap();
    refused(
        &["train", "--epochs", "5", "--save", both, "--plot", both],
        &["--save ", "both.png: the same file as --plot"],
    );
    assert_eq!(
        std::fs::read(&model).unwrap(),
        before,
        "the checkpoint was replaced"
    );
    // A long run with a bad save path fails at once, naming the path (not a temporary file).
    let err = refused(
        &["train", "--epochs", "20000", "--save", "/nonexistent-dir/x"],
        &["--save /nonexistent-dir/x: directory /nonexistent-dir does not exist"],
    );
    assert!(!err.contains(".tmp-"), "{err}");
    assert!(temp_files(&dir).is_empty(), "{:?}", temp_files(&dir));
}

#[test]
fn save_never_replaces_a_link_a_fifo_or_a_directory() {
    let dir = temp_path("special");
    std::fs::create_dir_all(&dir).unwrap();
    let target = dir.join("target.safetensors");
    std::fs::write(&target, b"precious").unwrap();
    let link = dir.join("link.safetensors");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let fifo = dir.join("fifo.safetensors");
    let _ = std::fs::remove_file(&fifo);
    let c_fifo = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo reads the NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_fifo.as_ptr(), 0o644) }, 0);
    let cases = [
        (&link, "is a symbolic link"),
        (&fifo, "is a FIFO"),
        (&dir, "is a directory"),
    ];
    for (path, what) in cases {
        let p = path.to_str().unwrap();
        refused(
            &["train", "--epochs", "3", "--hidden", "2", "--save", p],
            &[&format!("--save {p}: {what}"), "refusing to replace it"],
        );
    }
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read(&target).unwrap(), b"precious");
    use std::os::unix::fs::FileTypeExt;
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert!(temp_files(&dir).is_empty());
}

#[test]
fn plot_paths_are_checked_before_drawing_or_timing() {
    let gif = temp_path("datasets.gif");
    refused(
        &["datasets", "--plot", gif.to_str().unwrap()],
        &["unsupported image format \"gif\"; the file name must end in .png"],
    );
    refused(
        &["datasets", "--plot", temp_path("noext").to_str().unwrap()],
        &["no file extension"],
    );
    assert!(!gif.exists());
    refused(
        &[
            "bench",
            "matmul",
            "--sizes",
            "32",
            "--trials",
            "1",
            "--plot",
            "/nonexistent-dir/t.png",
        ],
        &["--plot /nonexistent-dir/t.png: directory /nonexistent-dir does not exist"],
    );
}

#[test]
fn bench_conv_prints_time_and_gflops_per_layer() {
    let (ok, out, err) = minitorch(&["bench", "conv", "--reps", "1"]);
    assert!(ok, "{err}");
    for layer in ["mnist conv1 1→4", "mnist conv2 4→8", "64×16→32 28×28"] {
        let line = out
            .lines()
            .find(|l| l.starts_with(layer))
            .unwrap_or_else(|| panic!("{out}"));
        // ... time ms, GFLOP/s, PyTorch ms, speed-up (the last two "-" without torch).
        let fields: Vec<&str> = line.split_whitespace().collect();
        let gflops: f64 = fields[fields.len() - 3].parse().unwrap();
        assert!(gflops > 0.0, "{line}");
    }
    refused(&["bench", "conv", "--reps", "0"], &["--reps 0"]);
}

/// Writes a small MNIST-format training set (gzipped IDX) of `n` digits whose class is a
/// bright band at rows 2k+3..2k+6.
fn mnist_fixture(n: usize) -> std::path::PathBuf {
    use std::io::Write;
    // One folder per size: tests run in parallel in one process (one temp folder).
    let dir = temp_path(&format!("mnist-fixture-{n}"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut images = vec![0, 0, 8, 3];
    let mut labels = vec![0, 0, 8, 1];
    for header in [&mut images, &mut labels] {
        header.extend((n as u32).to_be_bytes());
    }
    images.extend(28u32.to_be_bytes());
    images.extend(28u32.to_be_bytes());
    for i in 0..n {
        let label = (i % 10) as u8;
        labels.push(label);
        for r in 0..28 {
            for c in 0..28 {
                let band = (2 * label as usize + 3..2 * label as usize + 6).contains(&r);
                images.push(if band && (4..24).contains(&c) {
                    220
                } else {
                    (i * 7 + r + c) as u8 % 40
                });
            }
        }
    }
    for (name, bytes) in [
        ("train-images-idx3-ubyte.gz", images),
        ("train-labels-idx1-ubyte.gz", labels),
    ] {
        let file = std::fs::File::create(dir.join(name)).unwrap();
        let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        gz.write_all(&bytes).unwrap();
        gz.finish().unwrap();
    }
    dir
}

#[test]
fn mnist_trains_logs_each_epoch_plots_and_saves() {
    let dir = mnist_fixture(120);
    let (plot, model) = (temp_path("mnist.png"), temp_path("mnist.safetensors"));
    let data = dir.to_str().unwrap();
    let (ok, out, err) = minitorch(&[
        "mnist",
        "--data",
        data,
        "--train",
        "100",
        "--valid",
        "20",
        "--epochs",
        "2",
        "--seed",
        "1",
        "--plot",
        plot.to_str().unwrap(),
        "--save",
        model.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(ok, "{err}");
    let epochs: Vec<&str> = out.lines().filter(|l| l.starts_with("Epoch ")).collect();
    assert_eq!(epochs.len(), 2, "{out}");
    for line in &epochs {
        // Epoch E loss L valid V/N (acc %) time T s
        let w: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            (w[2], w[4], w[7], w[9]),
            ("loss", "valid", "time", "s"),
            "{line}"
        );
        assert!(w[5].ends_with("/20"), "{line}");
        assert!(w[3].parse::<f64>().unwrap().is_finite());
    }
    assert!(png_size(&plot).0 > 0);
    // The saved model loads again (and its shapes are checked).
    let (ok, out, err) = minitorch(&[
        "mnist",
        "--data",
        data,
        "--train",
        "100",
        "--valid",
        "20",
        "--epochs",
        "1",
        "--seed",
        "1",
        "--load",
        model.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(ok, "{err}\n{out}");
    // No t10k files in the fixture: --eval names what is missing.
    let (code, _, err) = minitorch_status(&[
        "mnist",
        "--data",
        data,
        "--eval",
        "--load",
        model.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1));
    assert!(err.contains("t10k-images-idx3-ubyte"), "{err}");
    for p in [&plot, &model] {
        let _ = std::fs::remove_file(p);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mnist_refuses_bad_flags_before_any_work() {
    let dir = mnist_fixture(30);
    let data = dir.to_str().unwrap();
    refused(
        &["mnist", "--data", "/no/such/dir"],
        &["--data /no/such/dir", "minitorch data mnist"],
    );
    refused(&["mnist", "--data", data, "--batch", "0"], &["--batch 0"]);
    refused(&["mnist", "--data", data, "--epochs", "0"], &["--epochs 0"]);
    refused(&["mnist", "--data", data, "--rate", "-1"], &["--rate -1"]);
    refused(
        &["mnist", "--data", data, "--backend", "scalar"],
        &["needs a tensor backend"],
    );
    refused(
        &["mnist", "--data", data, "--eval"],
        &["--eval", "needs --load"],
    );
    refused(
        &["mnist", "--data", data, "--plot", "/missing-dir/p.png"],
        &["--plot /missing-dir/p.png"],
    );
    let err = refused(
        &["mnist", "--data", data, "--train", "25", "--valid", "10"],
        &["holdout"],
    );
    assert!(err.contains("30"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `bench conv` runs its PyTorch script with `MINITORCH_PYTHON` and prints its times and the
/// speed-up beside minitorch's; a Python that fails is named and the table still printed.
#[test]
fn bench_conv_prints_pytorch_beside_minitorch() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_path("fake-python");
    std::fs::create_dir_all(&dir).unwrap();
    // A stand-in for Python with torch: swallows the script, prints the JSON it would.
    let fake = dir.join("python");
    std::fs::write(
        &fake,
        "#!/bin/sh\ncat > /dev/null\necho '{\"torch\": \"9.9\", \"threads\": 2, \"ms\": \
         {\"mnist conv1 1→4\": 1000.0, \"mnist conv2 4→8\": 2000.0, \"64×16→32 28×28\": 3000.0}}'\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let run = |python: &std::path::Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_minitorch"))
            .args(["bench", "conv", "--reps", "1"])
            .env("MINITORCH_PYTHON", python)
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let out = run(&fake);
    assert!(out.contains("PyTorch 9.9 f64, 2 threads"), "{out}");
    let line = out.lines().find(|l| l.starts_with("mnist conv2")).unwrap();
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (ms, theirs): (f64, f64) = (fields[4].parse().unwrap(), fields[6].parse().unwrap());
    let speedup: f64 = fields[7].trim_end_matches('×').parse().unwrap();
    assert_eq!(theirs, 2000.0, "{line}");
    assert!(
        (speedup - 2000.0 / ms).abs() <= 0.01 * speedup + 0.01,
        "{line}"
    );
    let out = run(&dir.join("no-such-python"));
    assert!(
        out.contains("PyTorch: not measured (cannot run") && out.contains("no-such-python"),
        "{out}"
    );
    assert!(out.lines().any(|l| l.starts_with("mnist conv1")), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}
