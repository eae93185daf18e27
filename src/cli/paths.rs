//! Checks of the files a command will write, run before any work so that a bad path fails in
//! milliseconds rather than after the training it would have saved.

use super::{CliError, Result};
use std::path::Path;

/// `--save PATH`: the checks [`minitorch::checkpoint::save`] runs (parent directory exists and
/// is writable, the target is absent or a regular file).
pub fn save_target(flag: &'static str, path: &Path) -> Result<()> {
    minitorch::checkpoint::check_target(path).map_err(|e| as_flag(flag, path, e))
}

/// `--plot PATH`: a supported image extension, and the checks of [`save_target`].
pub fn plot_target(flag: &'static str, path: &Path) -> Result<()> {
    crate::cli::plot::check_path(path).map_err(|e| as_flag(flag, path, e))
}

/// `--load PATH`: a regular file (a link to one is fine) that can be opened for reading; its
/// contents are checked when it is loaded. A FIFO is refused rather than waited on.
pub fn readable(flag: &'static str, path: &Path) -> Result<()> {
    let fail = |message: String| CliError::flag(flag, path.display(), message);
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Err(fail("cannot read: is a directory".into())),
        Ok(meta) if !meta.is_file() => Err(fail("cannot read: not a regular file".into())),
        Ok(_) => std::fs::File::open(path)
            .map(drop)
            .map_err(|e| fail(format!("cannot read: {e}"))),
        Err(e) => Err(fail(format!("cannot read: {e}"))),
    }
}

/// Refuses two output flags naming the same file (one would overwrite the other).
pub fn distinct(a: (&'static str, &Path), b: (&'static str, &Path)) -> Result<()> {
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    if absolute(a.1) == absolute(b.1) {
        return Err(CliError::flag(
            b.0,
            b.1.display(),
            format!("the same file as {}; one would overwrite the other", a.0),
        ));
    }
    Ok(())
}

/// A file error of the library as an error of the flag that named the file.
fn as_flag(flag: &'static str, path: &Path, e: minitorch::Error) -> CliError {
    match e {
        minitorch::Error::File { message, .. } => CliError::flag(flag, path.display(), message),
        other => other.into(),
    }
}
