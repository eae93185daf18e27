//! Binding the port, the runtime, and a clean stop on Ctrl-C or SIGTERM.

use super::jobs::Jobs;
use super::routes::router;
use super::{App, ServeArgs, digits};
use crate::cli::{CliError, Result};
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Opens `url` in the desktop's browser; a failure is only a note.
pub(super) fn open_browser(url: &str) {
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
pub(super) async fn interrupted() {
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
