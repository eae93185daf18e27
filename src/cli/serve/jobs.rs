//! Training runs of the Train tab, each on its own thread.
//!
//! The library's tensors are reference-counted (not `Send`), so a run's thread makes everything
//! it uses (data, model, optimizer) and shares only plain numbers: it appends each epoch's loss
//! and accuracy, and now and then the decision boundary, to the run's [`Progress`] under a
//! mutex held for microseconds, and bumps a `watch` channel. Streams to browsers read from
//! there at their own pace, at most [`MAX_UPDATES_PER_SECOND`] times a second: a slow or
//! vanished client never makes a run wait, and runs never wait on each other.
//!
//! A run stops at its last epoch, on Stop, when its last watcher goes away (or none came within
//! [`UNWATCHED_GRACE`]), after [`MAX_RUN_TIME`], or when the server shuts down. At most
//! [`MAX_RUNNING`] run at once; a few finished ones are kept for late readers.

use minitorch::Rng;
use minitorch::datasets::Graph;
use minitorch::optim::Sgd;
use minitorch::train::{Engine, Model, TrainConfig, count_correct};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Most training runs at once (the machine's cores are shared by all of them).
pub const MAX_RUNNING: usize = 4;
/// Finished runs kept for late readers (the oldest go first).
const MAX_FINISHED: usize = 16;
/// Most updates a second a stream sends.
pub const MAX_UPDATES_PER_SECOND: u32 = 20;
/// A run nobody has watched for this long stops.
pub const UNWATCHED_GRACE: Duration = Duration::from_secs(10);
/// The longest a run may take.
pub const MAX_RUN_TIME: Duration = Duration::from_secs(600);
/// Cells per side of the decision-boundary grid (the scalar engine's is coarser: it evaluates
/// one point at a time).
const GRID: usize = 40;
const SCALAR_GRID: usize = 20;

/// Why a run ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// All epochs ran.
    Finished,
    /// Stopped early; the reason says by what.
    Stopped(String),
    /// The library failed (e.g. no GPU for the cuda backend).
    Failed(String),
}

/// What a run has done so far.
#[derive(Default)]
pub struct Progress {
    /// Total loss of each finished epoch.
    pub loss: Vec<f64>,
    /// Correctly classified points after each finished epoch.
    pub correct: Vec<usize>,
    /// The latest decision boundary: class-1 probabilities on a `grid_size`² grid over
    /// [0, 1]², row by row from the bottom (x2 = 0), and the epoch it is from.
    pub grid: Option<(usize, usize, Vec<f64>)>,
    /// The training points and labels (set once the data exists).
    pub points: Option<Graph>,
    /// Set when the run has ended.
    pub outcome: Option<Outcome>,
    /// Wall-clock seconds of training so far.
    pub seconds: f64,
}

/// One training run.
pub struct Job {
    /// Its number in URLs.
    pub id: u64,
    /// Its settings.
    pub config: TrainConfig,
    stop: AtomicBool,
    stop_reason: Mutex<Option<String>>,
    progress: Mutex<Progress>,
    version: watch::Sender<u64>,
    watchers: AtomicUsize,
    watched: AtomicBool,
}

impl Job {
    /// The progress so far (held briefly: the run waits on it).
    pub fn progress(&self) -> MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A receiver that sees every change of the progress.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// Asks the run to stop after its current epoch; `why` is reported.
    pub fn request_stop(&self, why: &str) {
        let mut reason = self.stop_reason.lock().unwrap_or_else(|e| e.into_inner());
        if reason.is_none() {
            *reason = Some(why.to_string());
        }
        self.stop.store(true, Ordering::SeqCst);
    }

    /// True while the run's thread is working.
    pub fn running(&self) -> bool {
        self.progress().outcome.is_none()
    }

    /// A watcher (an open event stream) arrived; dropping the guard marks it gone, and the
    /// last one gone stops the run.
    pub fn watch(self: &Arc<Job>) -> WatchGuard {
        self.watchers.fetch_add(1, Ordering::SeqCst);
        self.watched.store(true, Ordering::SeqCst);
        WatchGuard(self.clone())
    }

    fn update(&self, f: impl FnOnce(&mut Progress)) {
        f(&mut self.progress());
        self.version.send_modify(|v| *v += 1);
    }

    /// The settings as JSON.
    pub fn config_json(&self) -> Value {
        let c = &self.config;
        json!({
            "dataset": c.dataset.name(),
            "backend": c.engine.to_string(),
            "hidden": c.hidden,
            "rate": c.rate,
            "epochs": c.epochs,
            "pts": c.pts,
            "batch": c.batch,
            "seed": c.seed,
        })
    }
}

/// Marks a watcher gone when dropped.
pub struct WatchGuard(Arc<Job>);

impl Drop for WatchGuard {
    fn drop(&mut self) {
        if self.0.watchers.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.request_stop("the page watching it was closed");
        }
    }
}

/// Why a run could not start.
#[derive(Debug)]
pub enum StartError {
    /// [`MAX_RUNNING`] runs are going.
    Busy,
    /// The server is shutting down.
    ShuttingDown,
}

/// All runs of the server.
#[derive(Default)]
pub struct Jobs {
    next: AtomicU64,
    jobs: Mutex<BTreeMap<u64, Arc<Job>>>,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
    closed: AtomicBool,
}

impl Jobs {
    fn map(&self) -> MutexGuard<'_, BTreeMap<u64, Arc<Job>>> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The run with this id, if it is kept.
    pub fn get(&self, id: u64) -> Option<Arc<Job>> {
        self.map().get(&id).cloned()
    }

    /// Runs going now.
    pub fn running(&self) -> usize {
        self.map().values().filter(|j| j.running()).count()
    }

    /// Starts a run of `config` (already checked) on a new thread.
    pub fn start(&self, config: TrainConfig) -> Result<Arc<Job>, StartError> {
        let job = {
            let mut map = self.map();
            if self.closed.load(Ordering::SeqCst) {
                return Err(StartError::ShuttingDown);
            }
            if map.values().filter(|j| j.running()).count() >= MAX_RUNNING {
                return Err(StartError::Busy);
            }
            // Forget the oldest finished runs beyond the few kept.
            let finished: Vec<u64> = map
                .iter()
                .filter(|(_, j)| !j.running())
                .map(|(id, _)| *id)
                .collect();
            for id in finished
                .iter()
                .take(finished.len().saturating_sub(MAX_FINISHED - 1))
            {
                map.remove(id);
            }
            let id = self.next.fetch_add(1, Ordering::SeqCst) + 1;
            let job = Arc::new(Job {
                id,
                config,
                stop: AtomicBool::new(false),
                stop_reason: Mutex::new(None),
                progress: Mutex::new(Progress::default()),
                version: watch::Sender::new(0),
                watchers: AtomicUsize::new(0),
                watched: AtomicBool::new(false),
            });
            map.insert(id, job.clone());
            job
        };
        let worker = job.clone();
        let handle = std::thread::Builder::new()
            .name(format!("train-{}", job.id))
            .spawn(move || {
                // A panic ends this run only, reported like an error (the slot is freed).
                let result =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&worker)));
                let outcome = match result {
                    Ok(Ok(outcome)) => outcome,
                    Ok(Err(e)) => Outcome::Failed(e.to_string()),
                    Err(_) => Outcome::Failed(
                        "the training thread failed (a bug: see the server's log)".into(),
                    ),
                };
                worker.update(|p| p.outcome = Some(outcome));
            })
            .map_err(|_| StartError::Busy)?;
        let mut threads = self.threads.lock().unwrap_or_else(|e| e.into_inner());
        threads.retain(|t| !t.is_finished());
        threads.push(handle);
        Ok(job)
    }

    /// Stops every run and refuses new ones; waits up to `patience` for the threads.
    pub fn shutdown(&self, patience: Duration) {
        self.closed.store(true, Ordering::SeqCst);
        for job in self.map().values() {
            job.request_stop("the server is shutting down");
        }
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        let deadline = Instant::now() + patience;
        for t in threads {
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

/// The decision-boundary grid's points: cell centres, row by row from the bottom.
fn grid_points(n: usize) -> Vec<[f64; 2]> {
    (0..n * n)
        .map(|k| {
            let (row, col) = (k / n, k % n);
            [(col as f64 + 0.5) / n as f64, (row as f64 + 0.5) / n as f64]
        })
        .collect()
}

/// The training loop of [`minitorch::train::train`] (same data, weights and shuffles for a
/// seed), with a stop check, progress and the decision boundary between epochs.
fn run(job: &Job) -> minitorch::Result<Outcome> {
    let config = &job.config;
    config.validate()?;
    let start = Instant::now();
    let data = config.dataset.generate(config.pts, config.seed);
    job.update(|p| p.points = Some(data.clone()));
    let mut rng = Rng::seed(config.seed.wrapping_add(1));
    let model = Model::new(config.engine, config.hidden, &mut rng)?;
    let optim = Sgd::new(model.module().parameters(), config.rate)?;
    let mut order: Vec<usize> = (0..data.n).collect();
    let size = match config.engine {
        Engine::Scalar => SCALAR_GRID,
        Engine::Tensor(_) => GRID,
    };
    let grid = grid_points(size);
    // The boundary costs a forward pass over the grid: redraw it at most every 100 ms, and
    // keep it under a sixth of the time.
    let mut next_grid = Instant::now();
    let boundary = |epoch: usize| -> minitorch::Result<()> {
        let probs = model.predict(&grid)?;
        job.update(|p| p.grid = Some((epoch, size, probs)));
        Ok(())
    };
    boundary(0)?;
    for epoch in 1..=config.epochs {
        if job.stop.load(Ordering::SeqCst) {
            let why = job
                .stop_reason
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            return Ok(Outcome::Stopped(why.unwrap_or_else(|| "stopped".into())));
        }
        if start.elapsed() > MAX_RUN_TIME {
            return Ok(Outcome::Stopped(format!(
                "ran for the longest a run may, {} s",
                MAX_RUN_TIME.as_secs()
            )));
        }
        if !job.watched.load(Ordering::SeqCst) && start.elapsed() > UNWATCHED_GRACE {
            return Ok(Outcome::Stopped(format!(
                "nobody watched it for {} s",
                UNWATCHED_GRACE.as_secs()
            )));
        }
        rng.shuffle(&mut order);
        let mut total = 0.0;
        for rows in order.chunks(config.batch) {
            total += model.step(&optim, &data, rows)?;
        }
        let correct = count_correct(&model, &data)?;
        let seconds = start.elapsed().as_secs_f64();
        job.update(|p| {
            p.loss.push(total);
            p.correct.push(correct);
            p.seconds = seconds;
        });
        if epoch == config.epochs || Instant::now() >= next_grid {
            let t = Instant::now();
            boundary(epoch)?;
            next_grid = Instant::now() + (t.elapsed() * 5).max(Duration::from_millis(100));
        }
    }
    Ok(Outcome::Finished)
}

#[cfg(test)]
mod tests {
    use super::*;
    use minitorch::datasets::Dataset;

    fn config(epochs: usize) -> TrainConfig {
        TrainConfig {
            dataset: Dataset::Simple,
            hidden: 4,
            epochs,
            ..TrainConfig::default()
        }
    }

    fn wait(job: &Job) -> Outcome {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(o) = job.progress().outcome.clone() {
                return o;
            }
            assert!(Instant::now() < deadline, "the run did not end");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_run_matches_the_library_loop_and_draws_its_boundary() {
        let jobs = Jobs::default();
        let job = jobs.start(config(20)).unwrap();
        let _watch = job.watch();
        assert_eq!(wait(&job), Outcome::Finished);
        let expected = minitorch::train::train(&config(20), None, |_| {}).unwrap();
        let p = job.progress();
        let losses: Vec<f64> = expected.history.iter().map(|r| r.loss).collect();
        assert_eq!(p.loss, losses);
        let (epoch, size, probs) = p.grid.clone().unwrap();
        assert_eq!((epoch, size, probs.len()), (20, GRID, GRID * GRID));
    }

    #[test]
    fn runs_are_bounded_and_stop_on_request_and_when_their_page_closes() {
        let jobs = Jobs::default();
        let running: Vec<_> = (0..MAX_RUNNING)
            .map(|_| jobs.start(config(1_000_000)).unwrap())
            .collect();
        let guards: Vec<_> = running.iter().map(|j| j.watch()).collect();
        assert!(matches!(jobs.start(config(1)), Err(StartError::Busy)));
        running[0].request_stop("Stop pressed");
        assert_eq!(wait(&running[0]), Outcome::Stopped("Stop pressed".into()));
        // The last watcher leaving stops a run.
        drop(guards);
        for job in &running[1..] {
            assert!(matches!(wait(job), Outcome::Stopped(r) if r.contains("closed")));
        }
        jobs.shutdown(Duration::from_secs(10));
        assert!(matches!(
            jobs.start(config(1)),
            Err(StartError::ShuttingDown)
        ));
    }
}
