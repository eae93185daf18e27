#!/usr/bin/env python3
"""Drives the page of `minitorch serve` in headless Chromium (run by tests/serve_browser.rs).

Starts the server on a free port, loads the page, and goes through every tab as a person would:
the datasets are drawn; a training run is started and watched until its loss curve has points
and the accuracy reads 50/50; an expression is typed and its displayed derivative checked against
the formula; a shape is permuted and broadcast; a digit is drawn on the Digits canvas and the
ten probabilities of a tiny MNIST model (trained first, one epoch on a synthetic IDX fixture)
must appear and sum to 1. The browser console must stay free of errors.
Then bad input (hidden 0, a malformed expression) must show the server's message on the page.
A screenshot of each tab goes to --screenshots. Ctrl-C (SIGINT) must stop the server cleanly.
"""

import argparse
import math
import os
import signal
import subprocess
import struct
import sys
import tempfile
import time

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

WAIT = 30  # seconds for any one thing to appear


def log(message):
    print(f"[{time.monotonic() - START:5.1f}s] {message}", flush=True)


START = time.monotonic()


def tiny_mnist_model(binary, directory):
    """Trains the MNIST network for one epoch on 60 synthetic digits (a bright band whose row
    depends on the label, as tests/cli.rs `mnist_fixture`) and returns the checkpoint's path."""
    n = 60
    images = bytearray(struct.pack(">IIII", 0x803, n, 28, 28))
    labels = bytearray(struct.pack(">II", 0x801, n))
    for i in range(n):
        label = i % 10
        labels.append(label)
        for r in range(28):
            for c in range(28):
                band = 2 * label + 3 <= r < 2 * label + 6 and 4 <= c < 24
                images.append(220 if band else (i * 7 + r + c) % 256 % 40)
    with open(os.path.join(directory, "train-images-idx3-ubyte"), "wb") as f:
        f.write(images)
    with open(os.path.join(directory, "train-labels-idx1-ubyte"), "wb") as f:
        f.write(labels)
    model = os.path.join(directory, "digits.safetensors")
    subprocess.run(
        [binary, "mnist", "--data", directory, "--train", "50", "--valid", "10", "--epochs", "1",
         "--seed", "1", "--quiet", "--save", model],
        check=True, stdout=subprocess.DEVNULL,
    )
    return model


def start_server(binary, model):
    server = subprocess.Popen(
        [binary, "serve", "--port", "0", "--mnist-model", model],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = server.stdout.readline().strip()
    if not url.startswith("http://127.0.0.1:"):
        server.kill()
        raise SystemExit(f"the server's first line is not its URL: {url!r}\n{server.stderr.read()}")
    return server, url


def stop_server(server):
    server.send_signal(signal.SIGINT)
    try:
        code = server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        raise SystemExit("the server did not stop within 10 s of Ctrl-C")
    out = server.stdout.read()
    if code != 0 or "stopped" not in out:
        raise SystemExit(f"the server exited with {code} after Ctrl-C:\n{out}\n{server.stderr.read()}")


def browser(chromium, chromedriver):
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in [
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1000",
        "--hide-scrollbars",
    ]:
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))


def console_errors(driver, allowed=()):
    entries = driver.get_log("browser")
    return [
        e["message"]
        for e in entries
        if e["level"] == "SEVERE" and not any(a in e["message"] for a in allowed)
    ]


def wait_for(driver, what, condition):
    # A panel re-drawn between finding it and reading it is stale: look again, don't fail.
    try:
        return WebDriverWait(
            driver, WAIT, poll_frequency=0.05, ignored_exceptions=[StaleElementReferenceException]
        ).until(lambda d: condition(d))
    except Exception:
        raise SystemExit(f"timed out waiting for {what}; console: {driver.get_log('browser')}")


def text(driver, element_id):
    return driver.find_element(By.ID, element_id).text


def fill(driver, element_id, value):
    field = driver.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(str(value))


def screenshot(driver, directory, name):
    if directory:
        path = os.path.join(directory, f"serve-{name}.png")
        driver.save_screenshot(path)
        log(f"wrote {path}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--chromium", required=True)
    parser.add_argument("--chromedriver", required=True)
    parser.add_argument("--screenshots", default="")
    args = parser.parse_args()
    if args.screenshots:
        os.makedirs(args.screenshots, exist_ok=True)

    scratch = tempfile.TemporaryDirectory()
    # MINITORCH_SCREENSHOT_MODEL: a model trained on real digits (named digits.safetensors),
    # for the README's screenshot; by default a tiny one trained here on synthetic digits.
    model = os.environ.get("MINITORCH_SCREENSHOT_MODEL") or tiny_mnist_model(args.binary, scratch.name)
    log(f"MNIST model {model}")
    server, url = start_server(args.binary, model)
    log(f"server at {url}")
    driver = None
    try:
        driver = browser(args.chromium, args.chromedriver)
        log("browser started")

        # Datasets: six panels, each with its points.
        driver.get(url)
        wait_for(driver, "six dataset panels", lambda d: len(d.find_elements(By.CSS_SELECTOR, "#datasets-grid .panel")) == 6)
        names = [p.get_attribute("data-name") for p in driver.find_elements(By.CSS_SELECTOR, "#datasets-grid .panel")]
        assert names == ["simple", "diag", "split", "xor", "circle", "spiral"], names
        fill(driver, "datasets-pts", 120)
        driver.find_element(By.CSS_SELECTOR, "#datasets-form button").click()
        wait_for(driver, "120 points per dataset", lambda d: "120 points" in d.find_element(By.CSS_SELECTOR, "#datasets-grid .panel").text)
        screenshot(driver, args.screenshots, "datasets")
        log("datasets drawn")

        # Train: the course's settings (hidden 100, rate 0.05, 500 epochs) on xor, seed 3, which
        # ends with every point right.
        driver.find_element(By.CSS_SELECTOR, "#tabs button[data-tab=train]").click()
        wait_for(driver, "the dataset list", lambda d: len(Select(d.find_element(By.ID, "train-dataset")).options) == 6)
        Select(driver.find_element(By.ID, "train-dataset")).select_by_value("xor")
        Select(driver.find_element(By.ID, "train-backend")).select_by_value("fast")
        assert driver.find_element(By.ID, "train-hidden").get_attribute("value") == "100"
        fill(driver, "train-seed", 3)
        driver.find_element(By.ID, "train-start").click()
        wait_for(driver, "loss curve points", lambda d: int(d.find_element(By.ID, "loss-curve").get_attribute("data-points") or 0) > 0)
        log("loss curve has points")
        wait_for(driver, "accuracy 50/50 and the end of the run",
                 lambda d: text(d, "accuracy") == "50/50" and d.find_element(By.ID, "train-status").get_attribute("data-state") == "finished")
        points = int(driver.find_element(By.ID, "loss-curve").get_attribute("data-points"))
        assert points == 500, f"the loss curve has {points} points, not 500"
        assert text(driver, "train-epoch") == "500/500", text(driver, "train-epoch")
        assert driver.find_element(By.ID, "train-start").is_enabled()
        screenshot(driver, args.screenshots, "train")
        log(f"trained: {text(driver, 'train-state')} correct {text(driver, 'accuracy')}")

        # Autodiff: the course's example, derivatives checked against the formula.
        driver.find_element(By.CSS_SELECTOR, "#tabs button[data-tab=autodiff]").click()
        x, y = 1.5, -0.5
        fill(driver, "expr", "log(sigmoid(x*y + 2)) / x")
        fill(driver, "x-value", x)
        fill(driver, "y-value", y)
        driver.find_element(By.ID, "autodiff-go").click()
        s = 1 / (1 + math.exp(-(x * y + 2)))
        dlog = s * (1 - s) / (s + 1e-6)  # MiniTorch's log is ln(a + 1e-6)
        dx = dlog * y / x - math.log(s + 1e-6) / (x * x)
        dy = dlog
        wait_for(driver, "the derivative of x", lambda d: d.find_element(By.ID, "dx").text not in ("", "–") and abs(float(d.find_element(By.ID, "dx").text) - dx) < 1e-6)
        shown = float(text(driver, "dy"))
        assert abs(shown - dy) < 1e-6, (shown, dy)
        assert text(driver, "dx-ok") == "✓" and text(driver, "dy-ok") == "✓"
        nodes = len(driver.find_elements(By.CSS_SELECTOR, "#graph g.node"))
        assert nodes == 9, f"{nodes} graph nodes"
        screenshot(driver, args.screenshots, "autodiff")
        log(f"autodiff: df/dx shown {text(driver, 'dx')}, expected {dx:.8f}")

        # Tensor: (2, 3, 4) permuted by (2, 0, 1) has strides (1, 12, 4); broadcasting.
        driver.find_element(By.CSS_SELECTOR, "#tabs button[data-tab=tensor]").click()
        fill(driver, "layout-shape", "2,3,4")
        fill(driver, "layout-perm", "2,0,1")
        driver.find_element(By.CSS_SELECTOR, "#layout-form button").click()
        wait_for(driver, "the permuted strides", lambda d: d.find_element(By.ID, "layout-result").get_attribute("data-permuted-strides") == "1,12,4")
        wait_for(driver, "the broadcast shape", lambda d: d.find_elements(By.ID, "broadcast-shape") and "→ (2, 3, 4)" in text(d, "broadcast-shape"))
        screenshot(driver, args.screenshots, "tensor")
        log("tensor layouts drawn")

        # Digits: a stroke on the canvas gives ten probabilities that sum to 1.
        driver.find_element(By.CSS_SELECTOR, "#tabs button[data-tab=digits]").click()
        wait_for(driver, "the model note", lambda d: "digits.safetensors" in text(d, "digits-model"))
        pad = driver.find_element(By.ID, "digits-canvas")
        # A 7: a bar along the top, then down to the bottom left (offsets from the centre).
        strokes = ActionChains(driver).move_to_element_with_offset(pad, -70, -80).click_and_hold()
        for dx, dy in [(35, 0)] * 4 + [(-14, 32)] * 6:
            strokes = strokes.move_by_offset(dx, dy)
        strokes.release().perform()

        def probabilities(d):
            rows = d.find_elements(By.CSS_SELECTOR, "#digits-bars .digit-row")
            return [float(r.get_attribute("data-p")) for r in rows]

        wait_for(driver, "ten probabilities", lambda d: len(probabilities(d)) == 10 and sum(probabilities(d)) > 0.5)
        probs = probabilities(driver)
        assert abs(sum(probs) - 1) < 1e-6, probs
        best = driver.find_element(By.CSS_SELECTOR, "#digits-bars .digit-row.best").get_attribute("data-digit")
        assert int(best) == max(range(10), key=lambda k: probs[k]), (best, probs)
        assert not driver.find_element(By.ID, "digits-error").is_displayed()
        screenshot(driver, args.screenshots, "digits")
        log(f"digits: the model reads a {best} ({max(probs):.2f})")
        driver.find_element(By.ID, "digits-clear").click()
        wait_for(driver, "cleared bars", lambda d: sum(probabilities(d)) == 0)

        errors = console_errors(driver)
        assert not errors, f"console errors: {errors}"
        log("console clean")

        # Bad input: the server's 400 message is shown on the page.
        driver.find_element(By.CSS_SELECTOR, "#tabs button[data-tab=train]").click()
        fill(driver, "train-hidden", 0)
        driver.find_element(By.ID, "train-start").click()
        wait_for(driver, "the hidden-size message", lambda d: d.find_element(By.ID, "train-error").is_displayed() and "hidden 0" in text(d, "train-error"))
        driver.find_element(By.CSS_SELECTOR, "#tabs button[data-tab=autodiff]").click()
        fill(driver, "expr", "x +* y")
        driver.find_element(By.ID, "autodiff-go").click()
        wait_for(driver, "the parse error", lambda d: d.find_element(By.ID, "autodiff-error").is_displayed() and "expected a value" in text(d, "autodiff-error"))
        log(f"bad input shown: {text(driver, 'autodiff-error')!r}")
        errors = console_errors(driver, allowed=["status of 400"])
        assert not errors, f"console errors: {errors}"
    finally:
        if driver is not None:
            driver.quit()
        if server.poll() is None:
            stop_server(server)
    log("server stopped cleanly; all checks passed")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        sys.exit(1)
