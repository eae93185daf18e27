//! `minitorch serve` over HTTP: every endpoint, the refusals (4xx with a message, never a
//! crash), live training as server-sent events, bounded and independent runs, a client that
//! stops reading, and a clean stop on Ctrl-C. Each test runs the binary on a free port
//! (`--port 0`; the first line of stdout is the URL) and speaks HTTP over a plain socket.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The most training runs at once (the server's `MAX_RUNNING`).
const MAX_RUNNING: usize = 4;

struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start() -> Server {
        Server::start_with(&[])
    }

    /// Starts the server with extra flags.
    fn start_with(flags: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_minitorch"))
            .args(["serve", "--port", "0"])
            .args(flags)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run minitorch serve");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("http://127.0.0.1:")
            .and_then(|rest| rest.strip_suffix('/'))
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the first line is not the URL: {line:?}"));
        Server { child, port }
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s
    }

    /// Sends a raw request (HTTP/1.0: the response ends when the connection closes).
    fn raw(&self, head: &str, body: &[u8]) -> (u16, String) {
        let mut s = self.connect();
        s.write_all(head.as_bytes()).unwrap();
        // The server may answer (and close) before taking a refused body.
        let _ = s.write_all(body);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let text = String::from_utf8_lossy(&out).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {text:?}"));
        let body = text.split_once("\r\n\r\n").map_or("", |b| b.1).to_string();
        (status, body)
    }

    fn request(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let head = format!(
            "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n",
            self.port,
            body.len()
        );
        self.raw(&head, body.as_bytes())
    }

    fn json(&self, method: &str, path: &str, body: &str) -> (u16, Value) {
        let (status, text) = self.request(method, path, body);
        let v = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text:?}"));
        (status, v)
    }

    fn get(&self, path: &str) -> (u16, Value) {
        self.json("GET", path, "")
    }

    /// A request that must be refused with `status` and an error message containing `needle`.
    fn refused(&self, method: &str, path: &str, body: &str, status: u16, needle: &str) {
        let (got, v) = self.json(method, path, body);
        let message = v["error"].as_str().unwrap_or_default();
        assert_eq!(got, status, "{method} {path} {body}: {v}");
        assert!(
            message.contains(needle),
            "{method} {path} {body}: {message:?} lacks {needle:?}"
        );
    }

    /// Starts a training run; returns its id.
    fn train(&self, settings: Value) -> u64 {
        let (status, v) = self.json("POST", "/api/train", &settings.to_string());
        assert_eq!(status, 201, "{v}");
        v["id"].as_u64().unwrap()
    }

    /// Opens a run's event stream.
    fn events(&self, id: u64) -> Events {
        let mut s = self.connect();
        write!(
            s,
            "GET /api/train/{id}/events HTTP/1.0\r\nHost: localhost:{}\r\n\r\n",
            self.port
        )
        .unwrap();
        let mut reader = BufReader::new(s);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert!(line.contains(" 200 "), "{line}");
        loop {
            line.clear();
            reader.read_line(&mut line).unwrap();
            if line.trim().is_empty() {
                break;
            }
            if let Some(ct) = line.to_ascii_lowercase().strip_prefix("content-type:") {
                assert_eq!(ct.trim(), "text/event-stream");
            }
        }
        Events(reader)
    }

    /// Sends Ctrl-C and waits for the exit: (status code, stdout).
    fn interrupt(mut self) -> (Option<i32>, String) {
        // SAFETY: a plain kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(15);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "no exit within 15 s of Ctrl-C");
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut out = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        (status.code(), out)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A stream of server-sent events.
struct Events(BufReader<TcpStream>);

impl Events {
    /// The next event's name and data; `None` when the stream ends.
    fn next(&mut self) -> Option<(String, Value)> {
        let (mut name, mut data) = (String::new(), String::new());
        let mut line = String::new();
        loop {
            line.clear();
            if self.0.read_line(&mut line).ok()? == 0 {
                return None;
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if !data.is_empty() {
                    return Some((name, serde_json::from_str(&data).unwrap()));
                }
                continue;
            }
            if let Some(v) = line.strip_prefix("event:") {
                name = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.trim_start());
            }
        }
    }

    /// Reads to the `done` event: (every progress event, the done event's data).
    fn until_done(&mut self) -> (Vec<Value>, Value) {
        let mut progress = Vec::new();
        while let Some((name, data)) = self.next() {
            match name.as_str() {
                "progress" => progress.push(data),
                "done" => return (progress, data),
                other => panic!("unexpected event {other:?}"),
            }
        }
        panic!("the stream ended without a done event");
    }
}

#[test]
fn the_page_and_its_assets_are_served() {
    let server = Server::start();
    let (status, html) = server.request("GET", "/", "");
    assert_eq!(status, 200);
    for needle in [
        "<script src=\"/app.js\">",
        "/style.css",
        "data-tab=\"train\"",
        "id=\"graph\"",
    ] {
        assert!(html.contains(needle), "{needle}");
    }
    // Self-contained: nothing is fetched from another host.
    assert!(!html.contains("https://") && !html.contains("//cdn"));
    let (status, js) = server.request("GET", "/app.js", "");
    assert!(status == 200 && js.contains("EventSource"));
    assert!(!js.contains("https://"));
    let (status, css) = server.request("GET", "/style.css", "");
    assert!(status == 200 && css.contains(".panel"));
    assert_eq!(server.request("GET", "/favicon.ico", "").0, 204);
    server.refused("GET", "/nope", "", 404, "no such page");
    server.refused("PUT", "/api/info", "", 405, "PUT is not allowed");
    server.refused("GET", "/api/train", "", 405, "GET is not allowed");
}

#[test]
fn info_and_datasets() {
    let server = Server::start();
    let (status, info) = server.get("/api/info");
    assert_eq!(status, 200);
    assert_eq!(info["datasets"].as_array().unwrap().len(), 6);
    assert_eq!(
        info["datasets"][5],
        json!({"name": "spiral", "hidden": 100, "rate": 0.1, "epochs": 2000})
    );
    assert_eq!(info["limits"]["running"], MAX_RUNNING);
    assert!(
        info["backends"]
            .as_array()
            .unwrap()
            .contains(&json!("scalar"))
    );

    let (status, all) = server.get("/api/datasets?pts=30&seed=7");
    assert_eq!(status, 200);
    let names: Vec<&str> = all["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["simple", "diag", "split", "xor", "circle", "spiral"]
    );
    for d in all["datasets"].as_array().unwrap() {
        assert_eq!(d["n"], 30);
        assert_eq!(d["x"].as_array().unwrap().len(), 30);
        assert_eq!(d["y"].as_array().unwrap().len(), 30);
    }
    // The same points as the library's, for the same seed.
    let (_, xor) = server.get("/api/dataset?name=XOR&pts=30&seed=7");
    let lib = minitorch::datasets::Dataset::Xor.generate(30, 7);
    assert_eq!(xor["x"], json!(lib.x));
    assert_eq!(xor["x"], all["datasets"][3]["x"]);
    assert_eq!(server.get("/api/datasets").1["pts"], 50);

    server.refused(
        "GET",
        "/api/dataset?name=moons",
        "",
        400,
        "unknown dataset \"moons\"",
    );
    server.refused("GET", "/api/dataset", "", 400, "dataset name is needed");
    server.refused(
        "GET",
        "/api/datasets?pts=0",
        "",
        400,
        "pts 0: must be from 2 to 10000",
    );
    server.refused(
        "GET",
        "/api/datasets?pts=1000000000",
        "",
        400,
        "pts 1000000000",
    );
    server.refused(
        "GET",
        "/api/datasets?pts=ten",
        "",
        400,
        "must be a whole number",
    );
    server.refused("GET", "/api/datasets?seed=-1", "", 400, "seed -1");
    server.refused(
        "GET",
        "/api/datasets?color=red",
        "",
        400,
        "unknown parameter \"color\"",
    );
}

#[test]
fn a_training_run_streams_its_progress_and_finishes() {
    let server = Server::start();
    let settings = json!({"dataset": "simple", "backend": "fast", "hidden": 10, "rate": 0.5,
                          "epochs": 150, "pts": 40, "batch": 10, "seed": 3});
    let (status, started) = server.json("POST", "/api/train", &settings.to_string());
    assert_eq!(status, 201, "{started}");
    assert_eq!(started["config"], settings);
    let id = started["id"].as_u64().unwrap();
    let (progress, done) = server.events(id).until_done();
    assert_eq!(done["state"], "finished", "{done}");
    assert_eq!(done["epoch"], 150);
    // Epochs arrive in order without gaps, each once; the points once; the boundary at least
    // at the end.
    let mut loss = Vec::new();
    let mut correct = Vec::new();
    for p in &progress {
        assert_eq!(p["from"].as_u64().unwrap() as usize, loss.len(), "{p}");
        loss.extend(
            p["loss"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap()),
        );
        correct.extend(
            p["correct"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap()),
        );
    }
    assert_eq!((loss.len(), correct.len()), (150, 150));
    assert_eq!(
        progress
            .iter()
            .filter(|p| p.get("points").is_some())
            .count(),
        1
    );
    assert_eq!(progress[0]["points"]["n"], 40);
    let last_grid = progress.iter().rev().find_map(|p| p.get("grid")).unwrap();
    assert_eq!(last_grid["epoch"], 150);
    assert_eq!(last_grid["p"].as_array().unwrap().len(), 40 * 40);
    // The library's own training loop gives the same losses for the same settings.
    let config = minitorch::train::TrainConfig {
        dataset: minitorch::datasets::Dataset::Simple,
        pts: 40,
        hidden: 10,
        rate: 0.5,
        epochs: 150,
        batch: 10,
        seed: 3,
        engine: "fast".parse().unwrap(),
    };
    let lib = minitorch::train::train(&config, None, |_| {}).unwrap();
    let lib_loss: Vec<f64> = lib.history.iter().map(|r| r.loss).collect();
    assert_eq!(loss, lib_loss);
    assert_eq!(
        *correct.last().unwrap(),
        lib.history.last().unwrap().correct as u64
    );

    let (status, state) = server.get(&format!("/api/train/{id}"));
    assert_eq!(status, 200);
    assert_eq!(state["outcome"]["state"], "finished");
    assert_eq!(state["epoch"], 150);
    // A finished run can be streamed again.
    let (again, done) = server.events(id).until_done();
    assert_eq!(done["state"], "finished");
    assert_eq!(
        again
            .iter()
            .map(|p| p["loss"].as_array().unwrap().len())
            .sum::<usize>(),
        150
    );
    // Presets fill what is not given.
    let id = server.train(json!({"dataset": "spiral", "epochs": 1}));
    let (_, state) = server.get(&format!("/api/train/{id}"));
    assert_eq!(state["config"]["rate"], 0.1);
    assert_eq!(state["config"]["hidden"], 100);
    assert_eq!(server.events(id).until_done().1["state"], "finished");
}

#[test]
fn a_stream_sends_at_most_twenty_updates_a_second() {
    let server = Server::start();
    let id = server.train(json!({"dataset": "split", "hidden": 50, "epochs": 10000}));
    let mut stream = server.events(id);
    let start = Instant::now();
    let mut events = 0;
    while start.elapsed() < Duration::from_secs(1) {
        assert_eq!(stream.next().unwrap().0, "progress");
        events += 1;
    }
    // One more may land just past the second, after the first (unthrottled) one.
    assert!((2..=22).contains(&events), "{events} events in a second");
    server.json("POST", &format!("/api/train/{id}/stop"), "");
    let (progress, done) = stream.until_done();
    assert_eq!(done["state"], "stopped");
    let epochs: usize = progress
        .iter()
        .map(|p| p["loss"].as_array().unwrap().len())
        .sum();
    assert!(epochs <= done["epoch"].as_u64().unwrap() as usize);
}

#[test]
fn the_scalar_engine_trains_too() {
    let server = Server::start();
    let id = server.train(
        json!({"dataset": "diag", "backend": "scalar", "hidden": 3, "epochs": 5, "pts": 20}),
    );
    let (progress, done) = server.events(id).until_done();
    assert_eq!(done["state"], "finished", "{done}");
    let grid = progress.iter().rev().find_map(|p| p.get("grid")).unwrap();
    assert_eq!(grid["size"], 20);
}

#[test]
fn bad_training_requests_are_refused_with_a_message() {
    let server = Server::start();
    let post = |body: &str, status: u16, needle: &str| {
        server.refused("POST", "/api/train", body, status, needle)
    };
    post(r#"{"dataset": "moons"}"#, 400, "unknown dataset \"moons\"");
    post(r#"{"hidden": 10}"#, 400, "dataset name is needed");
    post(
        r#"{"dataset": "xor", "hidden": 0}"#,
        400,
        "hidden 0: must be from 1 to 256",
    );
    post(
        r#"{"dataset": "xor", "hidden": "0"}"#,
        400,
        "hidden 0: must be from 1 to 256",
    );
    post(
        r#"{"dataset": "xor", "hidden": 100000}"#,
        400,
        "hidden 100000",
    );
    post(
        r#"{"dataset": "xor", "backend": "scalar", "hidden": 100}"#,
        400,
        "on the scalar engine",
    );
    post(
        r#"{"dataset": "xor", "epochs": 1000000000}"#,
        400,
        "epochs 1000000000: must be from 1 to 10000",
    );
    post(r#"{"dataset": "xor", "epochs": 1e300}"#, 400, "epochs");
    post(r#"{"dataset": "xor", "epochs": -5}"#, 400, "epochs -5");
    post(r#"{"dataset": "xor", "epochs": 2.5}"#, 400, "whole number");
    post(r#"{"dataset": "xor", "rate": -1}"#, 400, "rate -1");
    post(r#"{"dataset": "xor", "rate": 0}"#, 400, "rate 0");
    post(
        r#"{"dataset": "xor", "rate": "fast"}"#,
        400,
        "rate fast: must be a finite number",
    );
    post(r#"{"dataset": "xor", "rate": 1e9}"#, 400, "at most 1000");
    post(r#"{"dataset": "xor", "pts": 0}"#, 400, "pts 0");
    post(
        r#"{"dataset": "spiral", "pts": 1}"#,
        400,
        "pts 1: must be from 2",
    );
    post(r#"{"dataset": "xor", "batch": 0}"#, 400, "batch 0");
    post(
        r#"{"dataset": "xor", "seed": 18446744073709551616}"#,
        400,
        "seed",
    );
    post(
        r#"{"dataset": "xor", "backend": "tpu"}"#,
        400,
        "unknown backend \"tpu\"",
    );
    post(
        r#"{"dataset": "xor", "colour": "red"}"#,
        400,
        "unknown field \"colour\"",
    );
    post(r#"{"dataset": "xor", "hidden": [1]}"#, 400, "hidden [1]");
    post(r#"{"dataset": 5}"#, 400, "dataset 5: must be a string");
    post(r#"{"dataset": "xor""#, 400, "not valid JSON");
    post("", 400, "not valid JSON");
    post(r#"["xor"]"#, 400, "must be a JSON object");
    // Oversize bodies, refused with 413 at once: a declared length over the limit (the body is
    // not even waited for), and a chunked body (no declared length) that grows past it. Only
    // what the server reads is sent, so that its close cannot reset the connection before the
    // answer is read.
    for length in ["16385", "100000000000", "99999999999999999999999999"] {
        let start = Instant::now();
        let (status, body) = server.raw(
            &format!(
                "POST /api/train HTTP/1.0\r\nHost: 127.0.0.1:{}\r\nContent-Length: {length}\r\n\r\n",
                server.port
            ),
            b"",
        );
        assert!(
            status == 413 || (status == 400 && length.len() > 20),
            "{length}: {status} {body}"
        );
        assert!(start.elapsed() < Duration::from_secs(5));
    }
    let chunk = format!(r#"{{"dataset": "xor", "pad": "{}"}}"#, "x".repeat(20_000));
    let (status, body) = server.raw(
        &format!(
            "POST /api/train HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\
             Transfer-Encoding: chunked\r\n\r\n{:x}\r\n",
            server.port,
            chunk.len()
        ),
        format!("{chunk}\r\n").as_bytes(),
    );
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("larger than 16384 bytes"), "{body}");
    // Unknown runs.
    server.refused("GET", "/api/train/999", "", 404, "no training run \"999\"");
    server.refused(
        "GET",
        "/api/train/abc/events",
        "",
        404,
        "no training run \"abc\"",
    );
    server.refused("POST", "/api/train/999/stop", "", 404, "no training run");
    // Nothing above started a run, and the server still answers.
    assert_eq!(server.get("/api/info").1["running"], 0);
}

#[test]
fn runs_are_bounded_independent_and_stoppable() {
    let server = Server::start();
    // A long run whose client stops reading: its socket buffers fill, but the run goes on.
    let long = json!({"dataset": "circle", "hidden": 100, "pts": 200, "epochs": 10000, "seed": 1});
    let stalled = server.train(long.clone());
    let stalled_stream = server.events(stalled); // never read again
    let others: Vec<u64> = (1..MAX_RUNNING)
        .map(|_| server.train(long.clone()))
        .collect();
    let mut streams: Vec<Events> = others.iter().map(|&id| server.events(id)).collect();
    // The bound: one more is refused while they run.
    server.refused(
        "POST",
        "/api/train",
        &long.to_string(),
        429,
        "4 training runs are going",
    );
    // The stalled client's run keeps training while nobody reads its stream.
    let epoch = |id: u64| {
        server.get(&format!("/api/train/{id}")).1["epoch"]
            .as_u64()
            .unwrap()
    };
    let before = epoch(stalled);
    let deadline = Instant::now() + Duration::from_secs(20);
    while epoch(stalled) < before + 20 {
        assert!(
            Instant::now() < deadline,
            "the run of a client that stopped reading stalled"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The other streams are live.
    for s in &mut streams {
        let (name, data) = s.next().unwrap();
        assert_eq!(name, "progress", "{data}");
    }
    // Stop: the stream ends with a done event saying so.
    let (status, v) = server.json("POST", &format!("/api/train/{}/stop", others[0]), "");
    assert_eq!((status, &v["was_running"]), (200, &json!(true)));
    let (_, done) = streams.remove(0).until_done();
    assert_eq!(done["state"], "stopped");
    assert!(
        done["message"]
            .as_str()
            .unwrap()
            .contains("Stop was pressed"),
        "{done}"
    );
    // Closing the page (the stream) stops its run.
    drop(stalled_stream);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, state) = server.get(&format!("/api/train/{stalled}"));
        if state["outcome"]["state"] == "stopped" {
            assert!(
                state["outcome"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("closed"),
                "{state}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "closing the stream did not stop the run: {state}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Two slots are free again: a short run starts and finishes while the others go on.
    let id = server.train(json!({"dataset": "simple", "hidden": 5, "epochs": 20}));
    assert_eq!(server.events(id).until_done().1["state"], "finished");
    for id in &others[1..] {
        server.json("POST", &format!("/api/train/{id}/stop"), "");
    }
    for mut s in streams {
        assert_eq!(s.until_done().1["state"], "stopped");
    }
    assert_eq!(server.get("/api/info").1["running"], 0);
}

#[test]
fn autodiff_graphs_and_refusals() {
    let server = Server::start();
    let body = json!({"expr": "log(sigmoid(x*y + 2)) / x", "x": 1.5, "y": -0.5});
    let (status, v) = server.json("POST", "/api/autodiff", &body.to_string());
    assert_eq!(status, 200, "{v}");
    let (x, y) = (1.5f64, -0.5f64);
    let s = 1.0 / (1.0 + (-(x * y + 2.0)).exp());
    let dlog = s * (1.0 - s) / (s + 1e-6);
    let expected = [dlog * y / x - (s + 1e-6).ln() / (x * x), dlog];
    for (d, want) in v["derivatives"].as_array().unwrap().iter().zip(expected) {
        assert!((d["autodiff"].as_f64().unwrap() - want).abs() < 1e-9, "{d}");
        assert!((d["central"].as_f64().unwrap() - want).abs() < 1e-5, "{d}");
        assert_eq!(d["ok"], true);
    }
    let nodes = v["nodes"].as_array().unwrap();
    let labels: Vec<&str> = nodes.iter().map(|n| n["label"].as_str().unwrap()).collect();
    assert_eq!(
        labels,
        ["x", "y", "Mul", "2", "Add", "Sigmoid", "Log", "Inv", "Mul"]
    );
    // Inputs come before the node that uses them.
    for n in nodes {
        for i in n["inputs"].as_array().unwrap() {
            assert!(i.as_u64().unwrap() < n["id"].as_u64().unwrap());
        }
    }
    // x and y as strings (form fields) work too.
    let (status, v) = server.json(
        "POST",
        "/api/autodiff",
        r#"{"expr": "x*x", "x": "3", "y": "0"}"#,
    );
    assert_eq!(
        (status, &v["derivatives"][0]["autodiff"]),
        (200, &json!(6.0))
    );

    let bad = |body: Value, needle: &str| {
        server.refused("POST", "/api/autodiff", &body.to_string(), 400, needle)
    };
    bad(
        json!({"expr": "x +* y"}),
        "at character 4: expected a value, found '*'",
    );
    bad(json!({"expr": "log(x"}), "expected \")\"");
    bad(json!({"expr": "foo(x)"}), "unknown name \"foo\"");
    bad(json!({"expr": ""}), "empty");
    bad(json!({"expr": "x".repeat(500)}), "at most 400");
    bad(json!({"expr": "-x".repeat(150)}), "more than 200 nodes");
    bad(
        json!({"expr": format!("{}x{}", "(".repeat(100), ")".repeat(100))}),
        "nested",
    );
    bad(
        json!({"expr": "x", "x": "NaN"}),
        "x NaN: must be a finite number",
    );
    bad(
        json!({"expr": "x", "y": 1e300}),
        "y 1e300: must be of magnitude at most 1e6",
    );
    bad(json!({"expr": 5}), "must be a string");
    bad(json!({"expression": "x"}), "unknown field \"expression\"");
}

#[test]
fn layouts_and_broadcasting() {
    let server = Server::start();
    let (status, v) = server.get("/api/layout?shape=2,3,4&perm=2,0,1");
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["layout"]["strides"], json!([12, 4, 1]));
    assert_eq!(v["permuted"]["shape"], json!([4, 2, 3]));
    assert_eq!(v["permuted"]["strides"], json!([1, 12, 4]));
    assert_eq!(v["permuted"]["cells"].as_array().unwrap().len(), 24);
    let (_, v) = server.get("/api/layout?shape=(2,%202)&strides=1,2&offset=3");
    assert_eq!(
        v["layout"]["cells"][1],
        json!({"index": [0, 1], "position": 5})
    );
    let (_, v) = server.get("/api/broadcast?a=3,1&b=2,1,4");
    assert_eq!(v["shape"], json!([2, 3, 4]));
    assert_eq!(v["a_strides"], json!([0, 1, 0]));

    let bad = |path: &str, needle: &str| server.refused("GET", path, "", 400, needle);
    bad("/api/layout", "a shape is needed");
    bad("/api/layout?shape=2,x", "\"x\" is not a whole number");
    bad("/api/layout?shape=2,3&perm=0,0", "not a permutation");
    bad("/api/layout?shape=2,3&strides=1", "strides");
    bad("/api/layout?shape=0,3", "invalid shape");
    bad("/api/layout?shape=100,100", "at most 1024");
    bad("/api/layout?shape=1,1,1,1,1,1,1,1,1", "MAX_DIMS");
    bad("/api/layout?shape=2&offset=-1", "offset -1");
    bad(
        "/api/layout?shape=99999999999999999999999",
        "not a whole number",
    );
    bad("/api/broadcast?a=5,2&b=5", "cannot broadcast");
    bad("/api/broadcast?a=5", "shape b is needed");
    bad("/api/broadcast?a=1000&b=1000,1", "at most 1024");
}

#[test]
fn requests_from_other_sites_are_refused() {
    let server = Server::start();
    let (status, _) = server.raw("GET /api/info HTTP/1.0\r\nHost: evil.example\r\n\r\n", b"");
    assert_eq!(status, 403);
    let (status, body) = server.raw(
        &format!(
            "POST /api/train HTTP/1.0\r\nHost: 127.0.0.1:{}\r\nOrigin: http://evil.example\r\n\
             Content-Length: 19\r\n\r\n",
            server.port
        ),
        br#"{"dataset": "xor"}"#,
    );
    assert_eq!(status, 403, "{body}");
    assert_eq!(server.get("/api/info").1["running"], 0);
}

#[test]
fn ctrl_c_stops_the_server_and_its_runs_cleanly() {
    let server = Server::start();
    let id = server.train(json!({"dataset": "xor", "epochs": 10000}));
    let mut stream = server.events(id);
    assert_eq!(stream.next().unwrap().0, "progress");
    let (code, out) = server.interrupt();
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("shutting down") && out.contains("stopped"),
        "{out}"
    );
    let (_, done) = stream.until_done();
    assert_eq!(done["state"], "stopped", "{done}");
}

#[test]
fn a_port_in_use_is_an_error() {
    let server = Server::start();
    let out = Command::new(env!("CARGO_BIN_EXE_minitorch"))
        .args(["serve", "--port", &server.port.to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("error: --port") && err.contains("cannot listen"),
        "{err}"
    );
}

fn temp_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("minitorch-serve-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// A digit-like 28×28 image for `label`: a bright horizontal band whose row depends on the
/// label, over faint noise (as tests/cli.rs `mnist_fixture`).
fn fixture_image(label: usize, i: usize) -> Vec<u8> {
    let mut image = Vec::with_capacity(784);
    for r in 0..28 {
        for c in 0..28 {
            let band = (2 * label + 3..2 * label + 6).contains(&r);
            image.push(if band && (4..24).contains(&c) {
                220
            } else {
                (i * 7 + r + c) as u8 % 40
            });
        }
    }
    image
}

/// Trains a tiny MNIST model (one epoch on a synthetic IDX fixture) and returns its checkpoint.
fn tiny_mnist_model() -> std::path::PathBuf {
    let dir = temp_path("mnist-fixture");
    std::fs::create_dir_all(&dir).unwrap();
    let n = 60;
    let mut images = vec![0, 0, 8, 3];
    let mut labels = vec![0, 0, 8, 1];
    for header in [&mut images, &mut labels] {
        header.extend((n as u32).to_be_bytes());
    }
    images.extend(28u32.to_be_bytes());
    images.extend(28u32.to_be_bytes());
    for i in 0..n {
        labels.push((i % 10) as u8);
        images.extend(fixture_image(i % 10, i));
    }
    std::fs::write(dir.join("train-images-idx3-ubyte"), images).unwrap();
    std::fs::write(dir.join("train-labels-idx1-ubyte"), labels).unwrap();
    let model = temp_path("mnist.safetensors");
    let out = Command::new(env!("CARGO_BIN_EXE_minitorch"))
        .args(["mnist", "--data", dir.to_str().unwrap()])
        .args([
            "--train", "50", "--valid", "10", "--epochs", "1", "--seed", "1",
        ])
        .args(["--save", model.to_str().unwrap(), "--quiet"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    model
}

#[test]
fn a_drawn_digit_is_classified_by_the_saved_model() {
    let model = tiny_mnist_model();
    let server = Server::start_with(&["--mnist-model", model.to_str().unwrap()]);
    let (_, info) = server.get("/api/info");
    assert_eq!(info["mnist"]["file"], "mnist.safetensors", "{info}");
    for (label, i) in [(3, 0), (7, 1)] {
        let pixels = fixture_image(label, i);
        let body = json!({ "pixels": pixels }).to_string();
        let (status, v) = server.json("POST", "/api/mnist/predict", &body);
        assert_eq!(status, 200, "{v}");
        let probs: Vec<f64> = v["probabilities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_f64().unwrap())
            .collect();
        assert_eq!(probs.len(), 10);
        assert!(probs.iter().all(|p| (0.0..=1.0).contains(p)), "{probs:?}");
        assert!((probs.iter().sum::<f64>() - 1.0).abs() < 1e-6, "{probs:?}");
        let digit = v["digit"].as_u64().unwrap() as usize;
        let best = (0..10)
            .max_by(|&a, &b| probs[a].total_cmp(&probs[b]))
            .unwrap();
        assert_eq!(digit, best, "{v}");
    }
    // Fractional pixels (a downsampled canvas) are fine.
    let body = json!({ "pixels": vec![12.5; 784] }).to_string();
    assert_eq!(server.json("POST", "/api/mnist/predict", &body).0, 200);

    let bad = |pixels: Value, needle: &str| {
        let body = json!({ "pixels": pixels }).to_string();
        server.refused("POST", "/api/mnist/predict", &body, 400, needle);
    };
    bad(json!(vec![0; 783]), "expected 784 numbers (28×28), got 783");
    bad(json!(vec![0; 785]), "got 785");
    bad(json!([]), "got 0");
    let mut over = vec![json!(0); 784];
    over[5] = json!(256);
    bad(json!(over), "pixels[5] = 256: must be from 0 to 255");
    let mut negative = vec![json!(0); 784];
    negative[783] = json!(-1);
    bad(json!(negative), "pixels[783] = -1: must be from 0 to 255");
    let mut word = vec![json!(0); 784];
    word[0] = json!("white");
    bad(json!(word), "pixels[0] = \"white\": must be a number");
    let mut missing = vec![json!(0); 784];
    missing[1] = Value::Null;
    bad(json!(missing), "pixels[1] = null: must be a number");
    bad(json!("0,0,0"), "must be an array of 784 numbers");
    bad(Value::Null, "pixels are needed");
    server.refused("POST", "/api/mnist/predict", "{}", 400, "pixels are needed");
    server.refused("POST", "/api/mnist/predict", "[1]", 400, "a JSON object");
    server.refused(
        "POST",
        "/api/mnist/predict",
        "{\"pixel\": []}",
        400,
        "unknown field \"pixel\"",
    );
    server.refused("GET", "/api/mnist/predict", "", 405, "GET is not allowed");
}

#[test]
fn digits_without_a_model_say_how_to_load_one() {
    let server = Server::start();
    let (_, info) = server.get("/api/info");
    assert!(info["mnist"].is_null(), "{info}");
    let body = json!({ "pixels": vec![0; 784] }).to_string();
    server.refused(
        "POST",
        "/api/mnist/predict",
        &body,
        409,
        "start serve with --mnist-model",
    );
}

#[test]
fn a_bad_mnist_model_fails_at_startup() {
    let run = |flags: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_minitorch"))
            .args(["serve", "--port", "0"])
            .args(flags)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&["--mnist-model", "/no/such/model.safetensors"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("--mnist-model") && err.contains("cannot read"),
        "{err}"
    );
    let junk = temp_path("junk.safetensors");
    std::fs::write(&junk, b"not a checkpoint").unwrap();
    let (code, err) = run(&["--mnist-model", junk.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("--mnist-model") && err.contains("not a valid safetensors"),
        "{err}"
    );
    let (code, err) = run(&["--mnist-normalize"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("--mnist-model"), "{err}");
}
