//! The fast backend's threads for small parallel regions: the calling thread plus helpers that
//! stay awake (spinning) for a while after each job, so the next kernel of a training step
//! finds them ready.
//!
//! Why not rayon alone: a training step alternates short serial ops with parallel kernels of
//! 10–500 µs. Between them rayon's workers go to sleep, and waking one on this class of
//! machine (2 vCPUs of a VM) was measured at ~50–75 µs: a 130 µs kernel split in two took
//! 141 µs instead of 65 (a scratch program timing `rayon::join` after serial work, against a
//! spinning helper: 67 µs). The team's helpers spin for [`SPIN`] after their last task before
//! parking, like an OpenMP runtime's, and the caller never waits for a helper to wake: tasks
//! are claimed from a shared counter, so a parked helper's share is simply done by the others.
//!
//! One job runs at a time. A call made while the team is busy (from another thread, or from
//! inside a task) runs its tasks on the calling thread, in order: the same tasks, so the same
//! results. The team runs map, zip, reduce, the convolutions, and the training-sized products
//! and SGD updates that `paired::Paired` splits so that each half of a weight stays on one
//! core (the caller always runs task 0). Big products keep rayon (`gemm`'s own splits), and
//! [`rest`] sends the helpers to sleep before them so that no spinning helper takes a core
//! from rayon's threads.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Mutex, OnceLock, TryLockError};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

/// How long an idle helper spins before parking.
const SPIN: Duration = Duration::from_micros(300);

/// A job: `tasks` calls of `task`, claimed through `next`.
struct Job<'a> {
    task: &'a (dyn Fn(usize) + Sync),
    tasks: usize,
    next: AtomicUsize,
    /// The first panic of a task, to raise again on the calling thread.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

impl Job<'_> {
    /// Claims and runs tasks until none is left.
    fn work(&self) {
        loop {
            let i = self.next.fetch_add(1, SeqCst);
            if i >= self.tasks {
                return;
            }
            self.run(i);
        }
    }

    /// Runs task `i`; a panic is recorded (the other tasks still run) and re-raised by the
    /// caller.
    fn run(&self, i: usize) {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| (self.task)(i))) {
            let mut first = self.panic.lock().unwrap_or_else(|p| p.into_inner());
            first.get_or_insert(payload);
        }
    }
}

struct Team {
    /// Held by the caller of the running job.
    busy: Mutex<()>,
    /// The running job (type-erased lifetime), or null.
    job: AtomicPtr<Job<'static>>,
    /// Jobs published so far: a helper done with one does not enter it again.
    generation: AtomicU64,
    /// Helpers between reading `job` and being done with it.
    active: AtomicUsize,
    /// Helpers parked (or about to park).
    parked: AtomicUsize,
    /// Set by [`rest`]: idle helpers park at once instead of spinning, until the next job.
    resting: AtomicBool,
    /// The helper threads (set once, when the team starts).
    helpers: OnceLock<Vec<Thread>>,
}

/// The team, started by the first parallel loop.
static TEAM: OnceLock<&'static Team> = OnceLock::new();

fn team() -> &'static Team {
    TEAM.get_or_init(|| {
        let team: &'static Team = Box::leak(Box::new(Team {
            busy: Mutex::new(()),
            job: AtomicPtr::new(std::ptr::null_mut()),
            generation: AtomicU64::new(0),
            active: AtomicUsize::new(0),
            parked: AtomicUsize::new(0),
            resting: AtomicBool::new(false),
            helpers: OnceLock::new(),
        }));
        let helpers = (0..rayon::current_num_threads().saturating_sub(1))
            .filter_map(|i| {
                thread::Builder::new()
                    .name(format!("minitorch-team-{i}"))
                    .spawn(move || help(team))
                    .ok()
                    .map(|h| h.thread().clone())
            })
            .collect();
        let _ = team.helpers.set(helpers);
        team
    })
}

impl Team {
    fn helpers(&self) -> &[Thread] {
        self.helpers.get().map_or(&[], Vec::as_slice)
    }
}

/// A helper's life: work on each published job, spin while idle, park after [`SPIN`].
fn help(team: &'static Team) {
    let mut idle_since = Instant::now();
    let mut spins = 0u32;
    let mut done = 0;
    loop {
        if !team.job.load(SeqCst).is_null() && team.generation.load(SeqCst) != done {
            team.active.fetch_add(1, SeqCst);
            let generation = team.generation.load(SeqCst);
            let job = team.job.load(SeqCst);
            if !job.is_null() {
                // SAFETY: the caller keeps the job alive until `active` drops to 0 after it has
                // retracted the job; this helper counted itself in `active` before reading the
                // pointer (both SeqCst), so the job outlives this use.
                unsafe { &*job }.work();
                // `generation` is this job's: the next one cannot be published before this
                // helper leaves `active`.
                done = generation;
            }
            team.active.fetch_sub(1, SeqCst);
            idle_since = Instant::now();
            continue;
        }
        spins = spins.wrapping_add(1);
        if !spins.is_multiple_of(64) {
            std::hint::spin_loop();
            continue;
        }
        if idle_since.elapsed() < SPIN && !team.resting.load(SeqCst) {
            continue;
        }
        team.parked.fetch_add(1, SeqCst);
        if team.job.load(SeqCst).is_null() {
            thread::park_timeout(Duration::from_millis(100));
        }
        team.parked.fetch_sub(1, SeqCst);
        idle_since = Instant::now();
    }
}

/// Runs every task on this thread, in order; a panic is raised after the others ran, as on
/// the team.
fn run_here(tasks: usize, task: impl Fn(usize)) {
    let mut first = None;
    for i in 0..tasks {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| task(i))) {
            first.get_or_insert(payload);
        }
    }
    if let Some(payload) = first {
        resume_unwind(payload);
    }
}

/// Runs `task(i)` for every `i` in `0..tasks`, on this thread and the team's idle helpers;
/// returns when every call has returned. Each index runs exactly once, and task 0 always on
/// this thread: a job of two tasks puts its first half here and its second on the helper
/// (when awake) every time, so data split that way stays in the same core's cache from one
/// kernel to the next (the training products and the SGD step rely on it). When the team is busy
/// the calls run here, in order. Either way a panic in a task is raised here after the other
/// tasks ran.
pub(super) fn for_each(tasks: usize, task: impl Fn(usize) + Sync) {
    let team = team();
    let guard = match team.busy.try_lock() {
        Ok(guard) => guard,
        Err(TryLockError::Poisoned(p)) => p.into_inner(),
        Err(TryLockError::WouldBlock) => return run_here(tasks, task),
    };
    if tasks <= 1 || team.helpers().is_empty() {
        drop(guard);
        return run_here(tasks, task);
    }
    // Task 0 is the caller's (see `for_each`): the helpers claim from 1.
    let job = Job {
        task: &task,
        tasks,
        next: AtomicUsize::new(1),
        panic: Mutex::new(None),
    };
    /// Retracts the job and waits for every helper to be done with it, also when unwinding.
    struct Retract<'t>(&'t Team);
    impl Drop for Retract<'_> {
        fn drop(&mut self) {
            self.0.job.store(std::ptr::null_mut(), SeqCst);
            // A helper still in the job is finishing its last task (or was descheduled in
            // it: then give it the core).
            let mut spins = 0u32;
            while self.0.active.load(SeqCst) != 0 {
                spins = spins.wrapping_add(1);
                if spins.is_multiple_of(1024) {
                    thread::yield_now();
                } else {
                    std::hint::spin_loop();
                }
            }
        }
    }
    let retract = Retract(team);
    // SAFETY (of the lifetime erasure): `retract` clears the pointer and waits until no helper
    // uses the job before this frame (which owns `job` and borrows `task`) is left, normally
    // or by unwinding.
    let erased = (&job as *const Job<'_>).cast::<Job<'static>>().cast_mut();
    team.resting.store(false, SeqCst);
    team.generation.fetch_add(1, SeqCst);
    team.job.store(erased, SeqCst);
    if team.parked.load(SeqCst) > 0 {
        team.helpers().iter().for_each(Thread::unpark);
    }
    job.run(0);
    job.work();
    drop(retract);
    drop(guard);
    let panic = job.panic.into_inner().unwrap_or_else(|p| p.into_inner());
    if let Some(payload) = panic {
        resume_unwind(payload);
    }
}

/// Sends idle helpers to sleep now rather than after [`SPIN`]: called before work that runs on
/// rayon's threads (the big products `gemm` splits), which a spinning helper would slow down
/// by taking a core. The next job wakes them.
pub(super) fn rest() {
    if let Some(team) = TEAM.get() {
        team.resting.store(true, SeqCst);
    }
}

/// Calls `fill(i, piece)` for the consecutive pieces of `out` of `chunk` elements (the last
/// may be shorter), piece `i` starting at `i * chunk`, through [`for_each`].
pub(super) fn for_each_chunk_mut<T: Send>(
    out: &mut [T],
    chunk: usize,
    fill: impl Fn(usize, &mut [T]) + Sync,
) {
    let chunk = chunk.max(1);
    let len = out.len();
    let base = SendPtr(out.as_mut_ptr());
    for_each(len.div_ceil(chunk), |i| {
        let start = i * chunk;
        let n = chunk.min(len - start);
        // SAFETY: `for_each` runs each index once, so the pieces [i·chunk, i·chunk + n) are
        // disjoint parts of `out`, which stays mutably borrowed until every call returned.
        let piece = unsafe { std::slice::from_raw_parts_mut(base.get().add(start), n) };
        fill(i, piece);
    });
}

/// A pointer to hand to the tasks (which run on other threads).
pub(super) struct SendPtr<T>(pub(super) *mut T);
// SAFETY: used by `for_each_chunk_mut`, whose tasks write disjoint pieces of a slice of
// `T: Send`, and by `paired::Paired`, whose second task alone writes through it while the
// buffer it points into is alive and not otherwise touched.
unsafe impl<T: Send> Send for SendPtr<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for SendPtr<T> {}

impl<T> SendPtr<T> {
    pub(super) fn get(&self) -> *mut T {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn every_task_runs_once_and_pieces_cover_the_slice() {
        for tasks in [0, 1, 2, 7, 100] {
            let hits: Vec<AtomicU64> = (0..tasks).map(|_| AtomicU64::new(0)).collect();
            for_each(tasks, |i| {
                hits[i].fetch_add(1, SeqCst);
            });
            assert!(hits.iter().all(|h| h.load(SeqCst) == 1), "{tasks} tasks");
        }
        let mut values = vec![0usize; 1003];
        for_each_chunk_mut(&mut values, 100, |i, piece| {
            for (k, v) in piece.iter_mut().enumerate() {
                *v = i * 100 + k + 1;
            }
        });
        assert!(values.iter().enumerate().all(|(k, &v)| v == k + 1));
    }

    /// The paired products and updates rely on it: task 0 of every job runs on the caller.
    #[test]
    fn task_zero_runs_on_the_calling_thread() {
        let me = std::thread::current().id();
        for tasks in [2, 3, 8] {
            for _ in 0..200 {
                let first = Mutex::new(None);
                for_each(tasks, |i| {
                    if i == 0 {
                        *first.lock().unwrap() = Some(std::thread::current().id());
                    }
                });
                assert_eq!(first.into_inner().unwrap(), Some(me), "{tasks} tasks");
            }
        }
    }

    #[test]
    fn calls_from_many_threads_and_from_inside_a_task_all_complete() {
        let total = AtomicU64::new(0);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..200 {
                        for_each(8, |_| {
                            // A nested call runs on the calling thread.
                            for_each(3, |_| {
                                total.fetch_add(1, SeqCst);
                            });
                        });
                    }
                });
            }
        });
        assert_eq!(total.load(SeqCst), 4 * 200 * 8 * 3);
    }

    #[test]
    fn a_panicking_task_of_a_nested_call_is_raised_after_the_others_ran() {
        let ran = AtomicU64::new(0);
        for_each(2, |outer| {
            if outer == 0 {
                // This job holds the team: the nested call runs its tasks here, in order.
                let caught = catch_unwind(AssertUnwindSafe(|| {
                    for_each(8, |i| {
                        ran.fetch_add(1, SeqCst);
                        assert!(i != 2, "nested task {i} fails");
                    })
                }));
                assert!(caught.is_err(), "the nested panic reaches its caller");
            }
        });
        assert_eq!(ran.load(SeqCst), 8);
    }

    #[test]
    fn a_panicking_task_is_raised_on_the_caller_after_the_others_ran() {
        let ran = AtomicU64::new(0);
        let caught = catch_unwind(AssertUnwindSafe(|| {
            for_each(16, |i| {
                ran.fetch_add(1, SeqCst);
                assert!(i != 5, "task {i} fails");
            })
        }));
        let payload = caught.expect_err("the panic reaches the caller");
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        assert!(message.contains("task 5 fails"), "{message}");
        assert_eq!(ran.load(SeqCst), 16);
        // The team still works afterwards.
        let after = AtomicU64::new(0);
        for_each(4, |_| {
            after.fetch_add(1, SeqCst);
        });
        assert_eq!(after.load(SeqCst), 4);
    }
}
