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
//!
//! One concept per file: [`server`] binds, runs and stops; [`routes`] is the router, the page
//! and the small endpoints; [`guard`] checks every request's origin, host and size; [`reply`]
//! shapes answers and refusals; [`validate`] reads and bounds fields; [`training`] is the
//! Train tab's endpoints over [`jobs`]; [`expr`] the Autodiff tab's expressions; [`tensor`] the
//! Tensor tab's layouts; [`digits`] the Digits tab's model.

mod digits;
mod expr;
mod guard;
mod jobs;
mod reply;
mod routes;
mod server;
mod tensor;
mod training;
mod validate;

use jobs::Jobs;
use std::net::IpAddr;
use std::sync::Arc;
use tokio::sync::watch;

pub use server::run;

/// Largest request body (the API's JSON bodies are a few hundred bytes).
const MAX_BODY: usize = 16 * 1024;
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

/// Serve the interactive visualiser (datasets, live training, autodiff graphs, strides, drawn
/// digits) on a local web page.
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
