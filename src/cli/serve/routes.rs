//! The page, the router, and the endpoints of the Datasets, Autodiff and Tensor tabs.

use super::guard::guard;
use super::jobs::{MAX_RUNNING, MAX_UPDATES_PER_SECOND};
use super::reply::{ApiError, ApiResult, Params, ok};
use super::validate::{body_fields, count, dataset, list, number, query_fields, text};
use super::{
    MAX_BODY, MAX_EPOCHS, MAX_HIDDEN, MAX_OFFSET, MAX_RATE, MAX_SCALAR_HIDDEN, MAX_TRAIN_PTS,
    MAX_VIEW_PTS, Shared, digits, expr, tensor, training,
};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use minitorch::datasets::Dataset;
use serde_json::{Map, Value, json};

pub(super) const INDEX_HTML: &str = include_str!("../../../assets/serve/index.html");
pub(super) const APP_JS: &str = include_str!("../../../assets/serve/app.js");
pub(super) const STYLE_CSS: &str = include_str!("../../../assets/serve/style.css");

pub(super) fn points(g: &minitorch::datasets::Graph) -> Value {
    json!({
        "n": g.n,
        "x": g.x,
        "y": g.y.iter().map(|&v| v as u8).collect::<Vec<u8>>(),
    })
}

pub(super) const BACKENDS: [&str; 5] = ["fast", "simple", "scalar", "cuda-sim", "cuda"];

pub(super) async fn info(State(app): State<Shared>) -> ApiResult {
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

pub(super) fn view_params(f: &Map<String, Value>) -> std::result::Result<(usize, u64), ApiError> {
    let pts = count(f.get("pts"), "pts", 50, 2, MAX_VIEW_PTS)?;
    let seed = count(f.get("seed"), "seed", 42, 0, u64::MAX as usize)? as u64;
    Ok((pts, seed))
}

pub(super) async fn datasets(
    query: std::result::Result<Query<Params>, QueryRejection>,
) -> ApiResult {
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

pub(super) async fn one_dataset(
    query: std::result::Result<Query<Params>, QueryRejection>,
) -> ApiResult {
    let f = query_fields(&query?.0, &["name", "pts", "seed"])?;
    let d = dataset(text(f.get("name"), "name")?)?;
    let (pts, seed) = view_params(&f)?;
    let mut v = points(&d.generate(pts, seed));
    v["name"] = json!(d.name());
    v["seed"] = json!(seed);
    ok(v)
}

pub(super) async fn autodiff(body: std::result::Result<Bytes, BytesRejection>) -> ApiResult {
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

pub(super) async fn layout(query: std::result::Result<Query<Params>, QueryRejection>) -> ApiResult {
    let f = query_fields(&query?.0, &["shape", "strides", "offset", "perm"])?;
    let shape = list(&f, "shape")?.ok_or_else(|| ApiError::bad("a shape is needed, like 2,3,4"))?;
    let strides = list(&f, "strides")?;
    let offset = count(f.get("offset"), "offset", 0, 0, MAX_OFFSET)?;
    let perm = list(&f, "perm")?;
    tensor::layout(&shape, strides.as_deref(), offset, perm.as_deref())
        .map_err(ApiError::bad)
        .and_then(ok)
}

pub(super) async fn broadcast(
    query: std::result::Result<Query<Params>, QueryRejection>,
) -> ApiResult {
    let f = query_fields(&query?.0, &["a", "b"])?;
    let a = list(&f, "a")?.ok_or_else(|| ApiError::bad("shape a is needed, like 3,1"))?;
    let b = list(&f, "b")?.ok_or_else(|| ApiError::bad("shape b is needed, like 4"))?;
    tensor::broadcast(&a, &b)
        .map_err(ApiError::bad)
        .and_then(ok)
}

pub(super) fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

pub(super) async fn not_found(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("no such page: {method} {}", uri.path()))
}

pub(super) async fn wrong_method(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        message: format!("{method} is not allowed on {}", uri.path()),
    }
}

pub(super) fn router(app: Shared) -> Router {
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
        .route("/api/train", post(training::start_train))
        .route("/api/train/{id}", get(training::train_status))
        .route("/api/train/{id}/events", get(training::train_events))
        .route("/api/train/{id}/stop", post(training::stop_train))
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
