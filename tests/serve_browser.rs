//! `minitorch serve` in a real browser: headless Chromium, driven through chromedriver by Python
//! selenium, goes through every tab of the page (`.ci/serve_browser.py` says what it checks) and
//! takes a screenshot of each.
//!
//! Needs `chromium` and `chromedriver` (Debian's `chromium` and `chromium-driver` packages) and
//! selenium in `target/selenium-py`, all of which `.ci/run` installs:
//!
//! ```text
//! apt-get install -y chromium chromium-driver
//! python3 -m pip install --no-deps --target target/selenium-py -r .ci/serve_browser-requirements.txt
//! ```
//!
//! Without them the test fails when `CI` is set (as in CI) and is skipped, with the reason
//! printed, otherwise. The screenshots go to `target/serve-screenshots/`, or to the folder named
//! by `MINITORCH_SCREENSHOTS` (`MINITORCH_SCREENSHOTS=docs` refreshes the README's).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The whole browser run takes about 5 s; this bounds a hang.
const TIMEOUT: Duration = Duration::from_secs(120);

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// The first of `names` found on PATH.
fn which(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

#[test]
fn the_page_works_in_headless_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let selenium = root.join("target/selenium-py");
    let chromium = which(&["chromium", "chromium-browser", "google-chrome"]);
    let driver = which(&["chromedriver"]);
    let python = which(&["python3"]);
    let has_selenium = python.as_ref().is_some_and(|py| {
        Command::new(py)
            .args(["-c", "import selenium"])
            .env("PYTHONPATH", &selenium)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    let missing: Vec<&str> = [
        (chromium.is_none(), "chromium (apt-get install chromium)"),
        (
            driver.is_none(),
            "chromedriver (apt-get install chromium-driver)",
        ),
        (python.is_none(), "python3"),
        (
            python.is_some() && !has_selenium,
            "selenium in target/selenium-py (python3 -m pip install --no-deps --target \
             target/selenium-py -r .ci/serve_browser-requirements.txt)",
        ),
    ]
    .into_iter()
    .filter_map(|(absent, what)| absent.then_some(what))
    .collect();
    if !missing.is_empty() {
        let reason = format!("the browser test needs {}", missing.join(", "));
        assert!(
            !in_ci(),
            "{reason} (CI is set, so this fails rather than skips)"
        );
        eprintln!("skipped: {reason}");
        return;
    }

    let screenshots = std::env::var_os("MINITORCH_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/serve-screenshots"));
    let mut child = Command::new(python.unwrap())
        .arg(root.join(".ci/serve_browser.py"))
        .arg("--binary")
        .arg(env!("CARGO_BIN_EXE_minitorch"))
        .arg("--chromium")
        .arg(chromium.unwrap())
        .arg("--chromedriver")
        .arg(driver.unwrap())
        .arg("--screenshots")
        .arg(&screenshots)
        .env("PYTHONPATH", &selenium)
        .current_dir(root)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3");
    // The log is printed through the test harness: shown when the test fails (or with
    // --nocapture).
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the browser test took over {} s", TIMEOUT.as_secs());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    println!("{}", stdout.join().unwrap());
    eprintln!("{}", stderr.join().unwrap());
    assert!(
        status.success(),
        "the browser test failed ({status}); its log is above"
    );
    for tab in ["datasets", "train", "autodiff", "tensor", "digits"] {
        let png = screenshots.join(format!("serve-{tab}.png"));
        let size = std::fs::metadata(&png).map_or(0, |m| m.len());
        assert!(
            size > 10_000,
            "{} is missing or nearly empty",
            png.display()
        );
    }
}
