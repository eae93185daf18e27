//! The `minitorch` command: smoke tests of `bench` and `train`, and clear errors for bad flags.

use std::process::Command;

fn minitorch(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_minitorch"))
        .args(args)
        .output()
        .expect("run minitorch");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
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
        (&["train", "--hidden", "0"], "hidden: must be at least 1"),
        (
            &["train", "--dataset", "moons"],
            "unknown dataset \"moons\"",
        ),
        (
            &["train", "--rate", "-1"],
            "rate: must be a positive number, got -1",
        ),
        (&["train", "--backend", "tpu"], "unknown backend \"tpu\""),
        (
            &["bench", "matmul", "--sizes", "0"],
            "--sizes: sizes must be positive, got 0",
        ),
        (&["bench", "matmul", "--sizes", "64,x"], "--sizes: \"64,x\""),
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
    let (plot, model, datasets) = (
        temp_path("train.png"),
        temp_path("model.safetensors"),
        temp_path("datasets.png"),
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
            "batch: must be at least 1".into(),
        ),
        (
            vec!["train", "--pts", "0"],
            "pts: must be at least 1".into(),
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
            "cannot write".into(),
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
