//! `minitorch serve`: the course's interactive visualiser as a local web page.
//!
//! One self-contained page (HTML, JS and CSS embedded in the binary from `assets/serve/`) with
//! five tabs, each drawing what the library computes through a small JSON API:
//!
//! | endpoint | what |
//! |---|---|
//! | `GET /`, `/app.js`, `/style.css` | the page |
//! | `GET /api/info` | datasets with their presets, backends, the bounds of every field |
//! | `GET /api/datasets?pts=&seed=` | the six datasets' points |
//! | `GET /api/dataset?name=&pts=&seed=` | one dataset's points |
//! | `POST /api/train` (JSON settings) | starts a training run: `201 {"id": …}` |
//! | `GET /api/train/{id}` | a run's settings and state |
//! | `GET /api/train/{id}/events` | its progress as server-sent events (≤ 20 a second) |
//! | `POST /api/train/{id}/stop` | stops it |
//! | `POST /api/autodiff` (`{"expr", "x", "y"}`) | the expression's graph with values and derivatives |
//! | `GET /api/layout?shape=&strides=&offset=&perm=` | strides and storage positions |
//! | `GET /api/broadcast?a=&b=` | the broadcast of two shapes, index by index |
//! | `POST /api/mnist/predict` (`{"pixels": [784 numbers]}`) | a drawn digit's class probabilities |
//!
//! Every refused request gets a 4xx status and `{"error": "…"}` (the page shows the message).
//! The HTTP side runs on a small Tokio runtime; training runs on plain threads ([`jobs`]).

mod digits;
mod expr;
mod jobs;
mod tensor;

use super::{CliError, Result};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::stream::{self, Stream};
use jobs::{Job, Jobs, MAX_RUNNING, MAX_UPDATES_PER_SECOND, Outcome, StartError, WatchGuard};
use minitorch::datasets::Dataset;
use minitorch::train::{Engine, TrainConfig};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::IntoFuture;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

const INDEX_HTML: &str = include_str!("../../../assets/serve/index.html");
const APP_JS: &str = include_str!("../../../assets/serve/app.js");
const STYLE_CSS: &str = include_str!("../../../assets/serve/style.css");

/// Largest request body (the API's JSON bodies are a few hundred bytes).
pub const MAX_BODY: usize = 16 * 1024;
/// Bounds of the Train tab's fields: runs that end in seconds to minutes on a laptop, drawn
/// live. (The `train` command allows far more.)
const MAX_HIDDEN: usize = 256;
/// The scalar engine makes one graph node per multiply: keep its runs to seconds.
const MAX_SCALAR_HIDDEN: usize = 32;
const MAX_EPOCHS: usize = 10_000;
const MAX_TRAIN_PTS: usize = 2_000;
const MAX_RATE: f64 = 1000.0;
/// Largest point count of the Datasets tab.
const MAX_VIEW_PTS: usize = 10_000;
/// Largest storage offset of the Tensor tab.
const MAX_OFFSET: usize = 1_000_000;

/// Serve the interactive visualiser (datasets, live training, autodiff graphs, strides) on a
/// local web page.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// Port to listen on (0 picks a free one; the URL is printed either way).
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// Address to listen on. The default, loopback, keeps the page to this machine.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Open the page in the default browser.
    #[arg(long)]
    open: bool,
    /// An MNIST checkpoint (`minitorch mnist --save PATH`) for the Digits tab, which classifies
    /// a digit drawn on the page.
    #[arg(long, value_name = "PATH")]
    mnist_model: Option<std::path::PathBuf>,
    /// The pooling the --mnist-model network was trained with.
    #[arg(long, value_enum, default_value = "avg", requires = "mnist_model")]
    mnist_pool: super::mnist::PoolArg,
    /// The --mnist-model network was trained with --normalize (pixels scaled to [0, 1]).
    #[arg(long, requires = "mnist_model")]
    mnist_normalize: bool,
}

/// A refused request: its status and the message the page shows.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn bad(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body.to_string(),
    )
        .into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(self.status, &json!({ "error": self.message }))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> ApiError {
        ApiError::bad(format!("malformed query string: {}", e.body_text()))
    }
}

impl From<BytesRejection> for ApiError {
    fn from(e: BytesRejection) -> ApiError {
        let status = e.status();
        ApiError {
            status,
            message: if status == StatusCode::PAYLOAD_TOO_LARGE {
                format!("the request body is larger than {MAX_BODY} bytes")
            } else {
                format!("cannot read the request body: {}", e.body_text())
            },
        }
    }
}

type ApiResult = std::result::Result<Response, ApiError>;
type Params = HashMap<String, String>;

fn ok(body: Value) -> ApiResult {
    Ok(json_response(StatusCode::OK, &body))
}

/// Shared by every request.
struct App {
    jobs: Jobs,
    /// Becomes true when the server shuts down (open event streams end).
    shutdown: watch::Receiver<bool>,
    /// Bound to loopback: requests must name a loopback host (no DNS rebinding).
    loopback: bool,
    /// The Digits tab's model, when `--mnist-model` was given.
    mnist: Option<Arc<digits::Model>>,
}

type Shared = Arc<App>;

/// Reads a count from the query or the body: `name` within `min..=max`, `default` when absent.
fn count(
    value: Option<&Value>,
    name: &str,
    default: usize,
    min: usize,
    max: usize,
) -> std::result::Result<usize, ApiError> {
    let n = match value {
        None | Some(Value::Null) => return Ok(default),
        Some(Value::Number(n)) => n.as_u64().map(|v| v as u128).or_else(|| {
            // Negative or fractional: reported below with the value.
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 1e30)
                .map(|f| f as u128)
        }),
        Some(Value::String(s)) => s.trim().parse::<u128>().ok(),
        _ => None,
    };
    let shown = match value {
        Some(Value::String(s)) => shown_text(s),
        Some(v) => v.to_string(),
        None => unreachable!(),
    };
    let n = n.ok_or_else(|| {
        ApiError::bad(format!(
            "{name} {shown}: must be a whole number from {min} to {max}"
        ))
    })?;
    if n < min as u128 || n > max as u128 {
        return Err(ApiError::bad(format!(
            "{name} {shown}: must be from {min} to {max}"
        )));
    }
    Ok(n as usize)
}

/// A field's text as typed, quoted only when it is not a plain word or number.
fn shown_text(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-._".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("{s:?}")
    }
}

/// A number field (finite).
fn number(value: Option<&Value>, name: &str, default: f64) -> std::result::Result<f64, ApiError> {
    let v = match value {
        None | Some(Value::Null) => return Ok(default),
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    v.filter(|v| v.is_finite()).ok_or_else(|| {
        let shown = match value {
            Some(Value::String(s)) => shown_text(s),
            Some(v) => v.to_string(),
            None => String::new(),
        };
        ApiError::bad(format!("{name} {shown}: must be a finite number"))
    })
}

/// A string field.
fn text<'a>(
    value: Option<&'a Value>,
    name: &str,
) -> std::result::Result<Option<&'a str>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(ApiError::bad(format!("{name} {other}: must be a string"))),
    }
}

/// The query's parameters as JSON strings (so one set of readers serves queries and bodies),
/// refusing any name not in `known`.
fn query_fields(
    params: &Params,
    known: &[&str],
) -> std::result::Result<Map<String, Value>, ApiError> {
    let mut out = Map::new();
    for (k, v) in params {
        if !known.contains(&k.as_str()) {
            return Err(ApiError::bad(format!(
                "unknown parameter {k:?}; expected {}",
                known.join(", ")
            )));
        }
        out.insert(k.clone(), Value::String(v.clone()));
    }
    Ok(out)
}

/// The request body as a JSON object, refusing any name not in `known`.
fn body_fields(body: &[u8], known: &[&str]) -> std::result::Result<Map<String, Value>, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad(format!("the body is not valid JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(ApiError::bad("the body must be a JSON object"));
    };
    if let Some(k) = map.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(ApiError::bad(format!(
            "unknown field {k:?}; expected {}",
            known.join(", ")
        )));
    }
    Ok(map)
}

fn dataset(name: Option<&str>) -> std::result::Result<Dataset, ApiError> {
    let name = name.ok_or_else(|| ApiError::bad("a dataset name is needed"))?;
    name.parse::<Dataset>()
        .map_err(|e| ApiError::bad(e.to_string()))
}

fn points(g: &minitorch::datasets::Graph) -> Value {
    json!({
        "n": g.n,
        "x": g.x,
        "y": g.y.iter().map(|&v| v as u8).collect::<Vec<u8>>(),
    })
}

const BACKENDS: [&str; 5] = ["fast", "simple", "scalar", "cuda-sim", "cuda"];

async fn info(State(app): State<Shared>) -> ApiResult {
    let datasets: Vec<Value> = Dataset::ALL
        .iter()
        .map(|d| {
            let (hidden, rate, epochs) = d.training_preset();
            json!({ "name": d.name(), "hidden": hidden, "rate": rate, "epochs": epochs })
        })
        .collect();
    ok(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "datasets": datasets,
        "backends": BACKENDS,
        "running": app.jobs.running(),
        "mnist": app.mnist.as_ref().map(|m| m.info()),
        "limits": {
            "hidden": MAX_HIDDEN,
            "scalar_hidden": MAX_SCALAR_HIDDEN,
            "epochs": MAX_EPOCHS,
            "pts": MAX_TRAIN_PTS,
            "view_pts": MAX_VIEW_PTS,
            "rate": MAX_RATE,
            "running": MAX_RUNNING,
            "updates_per_second": MAX_UPDATES_PER_SECOND,
            "expr_len": expr::MAX_LEN,
            "graph_nodes": expr::MAX_NODES,
            "listed_elements": tensor::MAX_LISTED,
            "body": MAX_BODY,
            "mnist_pixels": digits::PIXELS,
        },
    }))
}

fn view_params(f: &Map<String, Value>) -> std::result::Result<(usize, u64), ApiError> {
    let pts = count(f.get("pts"), "pts", 50, 2, MAX_VIEW_PTS)?;
    let seed = count(f.get("seed"), "seed", 42, 0, u64::MAX as usize)? as u64;
    Ok((pts, seed))
}

async fn datasets(query: std::result::Result<Query<Params>, QueryRejection>) -> ApiResult {
    let f = query_fields(&query?.0, &["pts", "seed"])?;
    let (pts, seed) = view_params(&f)?;
    let all: Vec<Value> = Dataset::ALL
        .iter()
        .map(|d| {
            let mut v = points(&d.generate(pts, seed));
            v["name"] = json!(d.name());
            v
        })
        .collect();
    ok(json!({ "pts": pts, "seed": seed, "datasets": all }))
}

async fn one_dataset(query: std::result::Result<Query<Params>, QueryRejection>) -> ApiResult {
    let f = query_fields(&query?.0, &["name", "pts", "seed"])?;
    let d = dataset(text(f.get("name"), "name")?)?;
    let (pts, seed) = view_params(&f)?;
    let mut v = points(&d.generate(pts, seed));
    v["name"] = json!(d.name());
    v["seed"] = json!(seed);
    ok(v)
}

/// The settings of a run from the Train form, each checked against the tab's bounds.
fn train_config(f: &Map<String, Value>) -> std::result::Result<TrainConfig, ApiError> {
    let d = dataset(text(f.get("dataset"), "dataset")?)?;
    let (hidden, rate, epochs) = d.training_preset();
    let backend = text(f.get("backend"), "backend")?.unwrap_or("fast");
    let engine: Engine = backend
        .parse()
        .map_err(|e: minitorch::Error| ApiError::bad(e.to_string()))?;
    let max_hidden = if engine == Engine::Scalar {
        MAX_SCALAR_HIDDEN
    } else {
        MAX_HIDDEN
    };
    let hidden = count(f.get("hidden"), "hidden", hidden, 1, max_hidden).map_err(|mut e| {
        if engine == Engine::Scalar {
            e.message += " on the scalar engine (one graph node per weight and point)";
        }
        e
    })?;
    let epochs = count(f.get("epochs"), "epochs", epochs, 1, MAX_EPOCHS)?;
    let pts = count(
        f.get("pts"),
        "pts",
        50,
        if d == Dataset::Spiral { 2 } else { 1 },
        MAX_TRAIN_PTS,
    )?;
    let batch = count(f.get("batch"), "batch", 10, 1, MAX_TRAIN_PTS)?;
    let seed = count(f.get("seed"), "seed", 42, 0, u64::MAX as usize)? as u64;
    let rate = number(f.get("rate"), "rate", rate)?;
    if !(rate > 0.0 && rate <= MAX_RATE) {
        return Err(ApiError::bad(format!(
            "rate {rate}: must be above 0 and at most {MAX_RATE}"
        )));
    }
    let config = TrainConfig {
        dataset: d,
        pts,
        hidden,
        rate,
        epochs,
        batch,
        seed,
        engine,
    };
    config
        .validate()
        .map_err(|e| ApiError::bad(e.to_string()))?;
    Ok(config)
}

const TRAIN_FIELDS: [&str; 8] = [
    "dataset", "backend", "hidden", "rate", "epochs", "pts", "batch", "seed",
];

async fn start_train(
    State(app): State<Shared>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> ApiResult {
    let f = body_fields(&body?, &TRAIN_FIELDS)?;
    let config = train_config(&f)?;
    let job = app.jobs.start(config).map_err(|e| match e {
        StartError::Busy => ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: format!(
                "{MAX_RUNNING} training runs are going already (the most at once); stop one or wait"
            ),
        },
        StartError::ShuttingDown => ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: "the server is shutting down".into(),
        },
    })?;
    Ok(json_response(
        StatusCode::CREATED,
        &json!({ "id": job.id, "config": job.config_json(), "events": format!("/api/train/{}/events", job.id) }),
    ))
}

fn find_job(app: &App, id: &str) -> std::result::Result<Arc<Job>, ApiError> {
    id.parse::<u64>()
        .ok()
        .and_then(|id| app.jobs.get(id))
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no training run {id:?} (finished runs are kept only for a while)"
            ))
        })
}

fn outcome_json(o: &Outcome) -> Value {
    match o {
        Outcome::Finished => json!({ "state": "finished", "message": "finished" }),
        Outcome::Stopped(why) => {
            json!({ "state": "stopped", "message": format!("stopped: {why}") })
        }
        Outcome::Failed(why) => json!({ "state": "failed", "message": why }),
    }
}

async fn train_status(State(app): State<Shared>, Path(id): Path<String>) -> ApiResult {
    let job = find_job(&app, &id)?;
    let p = job.progress();
    let outcome = p.outcome.as_ref().map_or(
        json!({ "state": "running", "message": "running" }),
        outcome_json,
    );
    ok(json!({
        "id": job.id,
        "config": job.config_json(),
        "epoch": p.loss.len(),
        "loss": p.loss.last(),
        "correct": p.correct.last(),
        "seconds": p.seconds,
        "outcome": outcome,
    }))
}

async fn stop_train(State(app): State<Shared>, Path(id): Path<String>) -> ApiResult {
    let job = find_job(&app, &id)?;
    let running = job.running();
    job.request_stop("Stop was pressed");
    ok(json!({ "id": job.id, "was_running": running }))
}

/// Where an event stream is.
struct Watcher {
    job: Arc<Job>,
    changes: watch::Receiver<u64>,
    shutdown: watch::Receiver<bool>,
    sent_epochs: usize,
    sent_grid: Option<usize>,
    sent_points: bool,
    last: Option<Instant>,
    done: bool,
    _guard: WatchGuard,
}

fn rounded(probs: &[f64]) -> Vec<f64> {
    probs
        .iter()
        .map(|p| (p * 1000.0).round() / 1000.0)
        .collect()
}

impl Watcher {
    /// The next event to send, or `None` when nothing is new.
    fn next_event(&mut self) -> Option<Event> {
        let p = self.job.progress();
        let new_epochs = p.loss.len() > self.sent_epochs;
        let new_grid = p.grid.as_ref().is_some_and(|g| Some(g.0) != self.sent_grid);
        let new_points = !self.sent_points && p.points.is_some();
        if new_epochs || new_grid || new_points {
            let from = self.sent_epochs;
            let mut data = json!({
                "from": from,
                "epoch": p.loss.len(),
                "epochs": self.job.config.epochs,
                "loss": p.loss[from..].iter().map(|&l| expr::num(l)).collect::<Vec<_>>(),
                "correct": &p.correct[from..],
                "seconds": p.seconds,
            });
            if new_points {
                data["points"] = points(p.points.as_ref().expect("checked"));
                self.sent_points = true;
            }
            if let Some((epoch, size, probs)) = p.grid.as_ref().filter(|_| new_grid) {
                data["grid"] = json!({ "epoch": epoch, "size": size, "p": rounded(probs) });
                self.sent_grid = Some(*epoch);
            }
            self.sent_epochs = p.loss.len();
            return Some(Event::default().event("progress").data(data.to_string()));
        }
        if let Some(outcome) = &p.outcome {
            self.done = true;
            let mut data = outcome_json(outcome);
            data["epoch"] = json!(p.loss.len());
            data["seconds"] = json!(p.seconds);
            return Some(Event::default().event("done").data(data.to_string()));
        }
        None
    }

    /// Waits for the next event, at most [`MAX_UPDATES_PER_SECOND`] a second.
    async fn step(mut self) -> Option<(std::result::Result<Event, Infallible>, Watcher)> {
        if self.done {
            return None;
        }
        let gap = Duration::from_secs(1) / MAX_UPDATES_PER_SECOND;
        if let Some(wait) = self.last.and_then(|t| gap.checked_sub(t.elapsed())) {
            tokio::time::sleep(wait).await;
        }
        loop {
            if *self.shutdown.borrow() {
                self.done = true;
                let data = json!({ "state": "stopped", "message": "stopped: the server is shutting down" });
                return Some((
                    Ok(Event::default().event("done").data(data.to_string())),
                    self,
                ));
            }
            self.changes.borrow_and_update();
            if let Some(event) = self.next_event() {
                self.last = Some(Instant::now());
                return Some((Ok(event), self));
            }
            tokio::select! {
                _ = self.changes.changed() => {}
                _ = self.shutdown.changed() => {}
            }
        }
    }
}

async fn train_events(
    State(app): State<Shared>,
    Path(id): Path<String>,
) -> std::result::Result<Sse<impl Stream<Item = std::result::Result<Event, Infallible>>>, ApiError>
{
    let job = find_job(&app, &id)?;
    let watcher = Watcher {
        changes: job.subscribe(),
        shutdown: app.shutdown.clone(),
        _guard: job.watch(),
        job,
        sent_epochs: 0,
        sent_grid: None,
        sent_points: false,
        last: None,
        done: false,
    };
    Ok(Sse::new(stream::unfold(watcher, Watcher::step)).keep_alive(KeepAlive::default()))
}

async fn autodiff(body: std::result::Result<Bytes, BytesRejection>) -> ApiResult {
    let f = body_fields(&body?, &["expr", "x", "y"])?;
    let text = text(f.get("expr"), "expr")?.unwrap_or("");
    let x = number(f.get("x"), "x", 1.0)?;
    let y = number(f.get("y"), "y", 1.0)?;
    match expr::evaluate(text, x, y) {
        Ok(v) => ok(v),
        Err(expr::EvalError::Parse(e)) => Err(ApiError::bad(format!(
            "cannot read the expression at character {}: {}",
            e.at + 1,
            e.message
        ))),
        Err(expr::EvalError::Refused(message)) => Err(ApiError::bad(message)),
    }
}

fn list(f: &Map<String, Value>, name: &str) -> std::result::Result<Option<Vec<usize>>, ApiError> {
    match text(f.get(name), name)? {
        None => Ok(None),
        Some(s) if s.trim().is_empty() => Ok(None),
        Some(s) => tensor::parse_list(name, s).map(Some).map_err(ApiError::bad),
    }
}

async fn layout(query: std::result::Result<Query<Params>, QueryRejection>) -> ApiResult {
    let f = query_fields(&query?.0, &["shape", "strides", "offset", "perm"])?;
    let shape = list(&f, "shape")?.ok_or_else(|| ApiError::bad("a shape is needed, like 2,3,4"))?;
    let strides = list(&f, "strides")?;
    let offset = count(f.get("offset"), "offset", 0, 0, MAX_OFFSET)?;
    let perm = list(&f, "perm")?;
    tensor::layout(&shape, strides.as_deref(), offset, perm.as_deref())
        .map_err(ApiError::bad)
        .and_then(ok)
}

async fn broadcast(query: std::result::Result<Query<Params>, QueryRejection>) -> ApiResult {
    let f = query_fields(&query?.0, &["a", "b"])?;
    let a = list(&f, "a")?.ok_or_else(|| ApiError::bad("shape a is needed, like 3,1"))?;
    let b = list(&f, "b")?.ok_or_else(|| ApiError::bad("shape b is needed, like 4"))?;
    tensor::broadcast(&a, &b)
        .map_err(ApiError::bad)
        .and_then(ok)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn not_found(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("no such page: {method} {}", uri.path()))
}

async fn wrong_method(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        message: format!("{method} is not allowed on {}", uri.path()),
    }
}

/// True for `localhost`, `127.x.y.z` and `[::1]`, with or without a port.
fn loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Refuses requests from other sites: on loopback the Host must be a loopback name (a page
/// elsewhere cannot reach this server through DNS rebinding), and a POST from a browser must
/// come from this page's own origin.
async fn guard(
    State(app): State<Shared>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if app.loopback && !loopback_host(host) {
        return ApiError {
            status: StatusCode::FORBIDDEN,
            message: format!("host {host:?} is not this machine's loopback address"),
        }
        .into_response();
    }
    // A declared length over the limit is refused before any of the body is read.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok());
    if declared.is_some_and(|v| {
        v.trim()
            .parse::<u128>()
            .map_or(true, |n| n > MAX_BODY as u128)
    }) {
        return ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: format!("the request body is larger than {MAX_BODY} bytes"),
        }
        .into_response();
    }
    let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
    if request.method() != Method::GET
        && request.method() != Method::HEAD
        && let Some(origin) = origin
        && origin
            .split_once("://")
            .is_none_or(|(_, rest)| rest != host)
    {
        return ApiError {
            status: StatusCode::FORBIDDEN,
            message: format!("requests from {origin} are not accepted"),
        }
        .into_response();
    }
    next.run(request).await
}

fn router(app: Shared) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }),
        )
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/api/info", get(info))
        .route("/api/datasets", get(datasets))
        .route("/api/dataset", get(one_dataset))
        .route("/api/train", post(start_train))
        .route("/api/train/{id}", get(train_status))
        .route("/api/train/{id}/events", get(train_events))
        .route("/api/train/{id}/stop", post(stop_train))
        .route("/api/autodiff", post(autodiff))
        .route("/api/layout", get(layout))
        .route("/api/broadcast", get(broadcast))
        .route("/api/mnist/predict", post(digits::predict))
        .fallback(not_found)
        .method_not_allowed_fallback(wrong_method)
        .layer(middleware::from_fn_with_state(app.clone(), guard))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(app)
}

/// Opens `url` in the desktop's browser; a failure is only a note.
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let spawned = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if let Err(e) = spawned {
        eprintln!("note: could not open a browser ({opener}: {e}); open {url} by hand");
    }
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM.
async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(mut int), Ok(mut term)) => {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

pub fn run(args: ServeArgs) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("serve")
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| {
            CliError::Lib(minitorch::Error::Invalid {
                what: "serve",
                message: format!("cannot start the server's runtime: {e}"),
            })
        })?;
    runtime.block_on(serve(args))
}

async fn serve(args: ServeArgs) -> Result<()> {
    let mnist = match &args.mnist_model {
        Some(path) => Some(Arc::new(digits::Model::open(
            path,
            args.mnist_pool.into(),
            args.mnist_normalize,
        )?)),
        None => None,
    };
    let addr = SocketAddr::new(args.host, args.port);
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        CliError::flag("--port", args.port, format!("cannot listen on {addr}: {e}"))
    })?;
    let bound = listener.local_addr().map_err(|e| {
        CliError::flag(
            "--port",
            args.port,
            format!("cannot read the bound address: {e}"),
        )
    })?;
    let url = format!("http://{bound}/");
    // The first line is the URL alone, so that a script (or a test) can read it.
    println!("{url}");
    println!("minitorch serve: open {url} in a browser; Ctrl-C stops the server");
    if !args.host.is_loopback() {
        eprintln!(
            "warning: listening on {} (not loopback): anyone who can reach this machine can use \
             the page and start training runs",
            args.host
        );
    }
    if args.open {
        open_browser(&url);
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let app = Arc::new(App {
        jobs: Jobs::default(),
        shutdown: stop_rx,
        loopback: args.host.is_loopback(),
        mnist,
    });
    let server = axum::serve(listener, router(app.clone()))
        .with_graceful_shutdown({
            let mut stop = stop_tx.subscribe();
            async move {
                let _ = stop.wait_for(|s| *s).await;
            }
        })
        .into_future();
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => {
            result.map_err(|e| CliError::Lib(minitorch::Error::Invalid { what: "serve", message: e.to_string() }))?;
        }
        _ = interrupted() => {
            println!("minitorch serve: shutting down");
            let _ = stop_tx.send(true);
            let jobs_app = app.clone();
            let jobs = tokio::task::spawn_blocking(move || jobs_app.jobs.shutdown(Duration::from_secs(5)));
            // Open connections get a moment to close; then the process leaves anyway.
            let _ = tokio::time::timeout(Duration::from_secs(3), &mut server).await;
            let _ = jobs.await;
        }
    }
    println!("minitorch serve: stopped");
    Ok(())
}
