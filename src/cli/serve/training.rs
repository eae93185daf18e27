//! The Train tab's endpoints: starting, watching (server-sent events), querying and stopping
//! runs, which train on their own threads ([`super::jobs`]).

use super::jobs::{Job, MAX_RUNNING, MAX_UPDATES_PER_SECOND, Outcome, StartError, WatchGuard};
use super::reply::{ApiError, ApiResult, json_response, ok};
use super::routes::points;
use super::validate::{body_fields, count, dataset, number, text};
use super::{
    App, MAX_EPOCHS, MAX_HIDDEN, MAX_RATE, MAX_SCALAR_HIDDEN, MAX_TRAIN_PTS, Shared, expr,
};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use minitorch::datasets::Dataset;
use minitorch::train::{Engine, TrainConfig};
use serde_json::{Map, Value, json};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The settings of a run from the Train form, each checked against the tab's bounds.
pub(super) fn train_config(f: &Map<String, Value>) -> std::result::Result<TrainConfig, ApiError> {
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

pub(super) const TRAIN_FIELDS: [&str; 8] = [
    "dataset", "backend", "hidden", "rate", "epochs", "pts", "batch", "seed",
];

pub(super) async fn start_train(
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

pub(super) fn find_job(app: &App, id: &str) -> std::result::Result<Arc<Job>, ApiError> {
    id.parse::<u64>()
        .ok()
        .and_then(|id| app.jobs.get(id))
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no training run {id:?} (finished runs are kept only for a while)"
            ))
        })
}

pub(super) fn outcome_json(o: &Outcome) -> Value {
    match o {
        Outcome::Finished => json!({ "state": "finished", "message": "finished" }),
        Outcome::Stopped(why) => {
            json!({ "state": "stopped", "message": format!("stopped: {why}") })
        }
        Outcome::Failed(why) => json!({ "state": "failed", "message": why }),
    }
}

pub(super) async fn train_status(State(app): State<Shared>, Path(id): Path<String>) -> ApiResult {
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

pub(super) async fn stop_train(State(app): State<Shared>, Path(id): Path<String>) -> ApiResult {
    let job = find_job(&app, &id)?;
    let running = job.running();
    job.request_stop("Stop was pressed");
    ok(json!({ "id": job.id, "was_running": running }))
}

/// Where an event stream is.
pub(super) struct Watcher {
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

pub(super) fn rounded(probs: &[f64]) -> Vec<f64> {
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

pub(super) async fn train_events(
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
