//! Model checkpoints: named f64 tensors in the safetensors format (readable by PyTorch's
//! `safetensors.torch.load_file`), written atomically; a save never replaces anything but a
//! regular file.
//!
//! ```
//! use minitorch::checkpoint::{load, save, NamedTensor};
//! let path = std::env::temp_dir().join(format!("doc-{}.safetensors", std::process::id()));
//! let w = NamedTensor { name: "layer1.weights".into(), shape: vec![2, 3], values: vec![0.5; 6] };
//! save(&path, &[w.clone()]).unwrap();
//! assert_eq!(load(&path).unwrap(), vec![w]);
//! # std::fs::remove_file(&path).unwrap();
//! ```

use crate::error::{Error, Result};
use crate::module::Module;
use crate::tensor::Tensor;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A tensor's name, shape and row-major values.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    /// The parameter's dotted name (`layer1.weights`).
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its values in row-major order.
    pub values: Vec<f64>,
}

fn file_error(path: &Path, message: impl Into<String>) -> Error {
    Error::File {
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// Temporary files of a save whose process died are removed by later saves to the same path
/// once this old, even when their process id has been reused.
pub const STALE_TEMP_AGE: Duration = Duration::from_secs(3600);

/// The directory a path's file lives in (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// What a non-regular file is, for messages: "a directory", "a symbolic link to /x", ….
fn describe_non_regular(path: &Path, meta: &std::fs::Metadata) -> Option<String> {
    let kind = meta.file_type();
    if kind.is_file() {
        return None;
    }
    if kind.is_symlink() {
        return Some(match std::fs::read_link(path) {
            Ok(target) => format!("a symbolic link (to {})", target.display()),
            Err(_) => "a symbolic link".to_string(),
        });
    }
    if kind.is_dir() {
        return Some("a directory".to_string());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return Some("a FIFO (named pipe)".to_string());
        }
        if kind.is_char_device() {
            return Some("a character device".to_string());
        }
        if kind.is_block_device() {
            return Some("a block device".to_string());
        }
        if kind.is_socket() {
            return Some("a socket".to_string());
        }
    }
    Some("not a regular file".to_string())
}

/// Checks that a file can be written at `path` by replacing whatever is there: the path names a
/// file, its directory exists and is writable, and the target is absent or a regular file. A
/// symbolic link, FIFO, device, socket or directory is refused (a save would replace it, not
/// write through it). [`save`] runs these checks itself; callers with long work before a save
/// run them first to fail early. The error names `path` and the reason.
pub fn check_target(path: &Path) -> Result<()> {
    if path.file_name().is_none() {
        return Err(file_error(path, "not a file path (it names no file)"));
    }
    let dir = parent_dir(path);
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            return Err(file_error(
                path,
                format!("{} is not a directory", dir.display()),
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(file_error(
                path,
                format!("directory {} does not exist", dir.display()),
            ));
        }
        Err(e) => {
            return Err(file_error(
                path,
                format!("cannot open directory {}: {e}", dir.display()),
            ));
        }
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) => {
            if let Some(what) = describe_non_regular(path, &meta) {
                return Err(file_error(
                    path,
                    format!("is {what}; refusing to replace it with a regular file"),
                ));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(file_error(path, format!("cannot inspect: {e}"))),
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let c_dir = std::ffi::CString::new(dir.as_os_str().as_bytes())
            .map_err(|_| file_error(path, "the path contains a NUL byte"))?;
        // SAFETY: access only reads the NUL-terminated path.
        if unsafe { libc::access(c_dir.as_ptr(), libc::W_OK | libc::X_OK) } != 0 {
            return Err(file_error(
                path,
                format!(
                    "directory {} is not writable: {}",
                    dir.display(),
                    std::io::Error::last_os_error()
                ),
            ));
        }
    }
    Ok(())
}

/// A temporary file removed on drop unless [`TempFile::keep`] was called.
struct TempFile<'a> {
    path: Option<&'a Path>,
}

impl TempFile<'_> {
    fn keep(mut self) {
        self.path = None;
    }
}

impl Drop for TempFile<'_> {
    fn drop(&mut self) {
        if let Some(path) = self.path {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Whether process `pid` exists (on non-Unix systems: assumed so; age alone decides).
fn process_alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false;
        };
        if pid <= 0 {
            return false;
        }
        // SAFETY: signal 0 sends nothing; it only asks whether the process exists.
        if unsafe { libc::kill(pid, 0) } == 0 {
            return true;
        }
        // EPERM: it exists but belongs to someone else.
        std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

/// The process id in the name of a temporary file of [`save`] for the file `name`
/// (`.NAME.tmp-PID` or `.NAME.tmp-PID-SEQ`), or `None` for any other name.
fn temp_pid(entry: &str, name: &str) -> Option<u32> {
    let rest = entry
        .strip_prefix('.')?
        .strip_prefix(name)?
        .strip_prefix(".tmp-")?;
    let (pid, seq) = rest.split_once('-').unwrap_or((rest, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(pid) && digits(seq))
        .then(|| pid.parse().ok())
        .flatten()
}

/// Removes the temporary files that earlier saves to `name` in `dir` left behind when they were
/// killed: those whose process no longer exists, and any older than [`STALE_TEMP_AGE`]. Only
/// regular files with exactly the temporary name pattern are touched. Best effort: a file that
/// cannot be removed is left.
fn remove_stale_temps(dir: &Path, name: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(pid) = file_name.to_str().and_then(|n| temp_pid(n, name)) else {
            continue;
        };
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        if !meta.file_type().is_file() {
            continue;
        }
        let old = meta
            .modified()
            .ok()
            .and_then(|m| m.elapsed().ok())
            .is_some_and(|age| age > STALE_TEMP_AGE);
        if old || !process_alive(pid) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Writes the tensors to `path` atomically: into a new temporary file beside it
/// (`.NAME.tmp-PID-SEQ`), flushed to disk, then renamed over `path`, and the directory flushed.
/// A crash never leaves a half-written checkpoint, and a failed save leaves `path` as it was and
/// no temporary file. Temporary files of earlier saves to the same path that were killed are
/// removed.
///
/// Refuses (see [`check_target`]) a path whose directory is missing or read-only, and a target
/// that is not a regular file: a symbolic link, FIFO, device, socket or directory is never
/// replaced. Errors name `path`.
pub fn save(path: &Path, tensors: &[NamedTensor]) -> Result<()> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    check_target(path)?;
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|t| t.values.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|(t, b)| {
            Ok((
                t.name.clone(),
                TensorView::new(Dtype::F64, t.shape.clone(), b)
                    .map_err(|e| file_error(path, e.to_string()))?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let data =
        safetensors::tensor::serialize(views, None).map_err(|e| file_error(path, e.to_string()))?;
    let name = path
        .file_name()
        .ok_or_else(|| file_error(path, "not a file path"))?
        .to_string_lossy()
        .into_owned();
    let dir = parent_dir(path);
    remove_stale_temps(dir, &name);
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| {
            file_error(
                path,
                format!("cannot create the temporary file {}: {e}", tmp.display()),
            )
        })?;
    let guard = TempFile { path: Some(&tmp) };
    file.write_all(&data)
        .and_then(|()| file.sync_all())
        .map_err(|e| file_error(path, format!("cannot write: {e}")))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(|e| file_error(path, format!("cannot replace: {e}")))?;
    guard.keep();
    sync_dir(dir).map_err(|e| {
        file_error(
            path,
            format!(
                "written, but flushing directory {} failed: {e}",
                dir.display()
            ),
        )
    })
}

/// Flushes a directory's entries (the rename) to disk. File systems that cannot sync a
/// directory (EINVAL) are taken as done.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        match File::open(dir).and_then(|d| d.sync_all()) {
            Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => Ok(()),
            other => other,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Reads every tensor of a safetensors file, in name order. Fails with a message naming the
/// file when it is missing, truncated, not safetensors, or holds something other than f64.
pub fn load(path: &Path) -> Result<Vec<NamedTensor>> {
    let bytes = std::fs::read(path).map_err(|e| file_error(path, format!("cannot read: {e}")))?;
    let file = SafeTensors::deserialize(&bytes)
        .map_err(|e| file_error(path, format!("not a valid safetensors file ({e})")))?;
    let mut out: Vec<NamedTensor> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            if view.dtype() != Dtype::F64 {
                return Err(file_error(
                    path,
                    format!("tensor {name} is {:?}, expected F64", view.dtype()),
                ));
            }
            let values = view
                .data()
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect();
            Ok(NamedTensor {
                name,
                shape: view.shape().to_vec(),
                values,
            })
        })
        .collect::<Result<_>>()?;
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Checks that `found` has exactly the names and shapes of `expected` (any order), naming the
/// first difference.
pub fn check_matches(path: &Path, expected: &[NamedTensor], found: &[NamedTensor]) -> Result<()> {
    for e in expected {
        match found.iter().find(|f| f.name == e.name) {
            None => {
                return Err(file_error(
                    path,
                    format!("missing tensor {} (expected shape {:?})", e.name, e.shape),
                ));
            }
            Some(f) if f.shape != e.shape => {
                return Err(file_error(
                    path,
                    format!(
                        "tensor {} has shape {:?}, the model needs {:?}",
                        e.name, f.shape, e.shape
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = found
        .iter()
        .find(|f| !expected.iter().any(|e| e.name == f.name))
    {
        return Err(file_error(
            path,
            format!(
                "unexpected tensor {} (the model has no such parameter)",
                extra.name
            ),
        ));
    }
    Ok(())
}

/// A module's tensor parameters as named tensors (`layer1.weights`, …), in registration order:
/// what a checkpoint of it holds.
pub fn state_of(module: &dyn Module) -> Vec<NamedTensor> {
    module
        .named_parameters()
        .into_iter()
        .filter_map(|(name, p)| {
            p.tensor().map(|t| NamedTensor {
                name,
                shape: t.shape().to_vec(),
                values: t.to_vec(),
            })
        })
        .collect()
}

/// Replaces a module's tensor parameters with `found` (read from the checkpoint at `path`,
/// which only names it in errors): names and shapes must match [`state_of`] exactly, and each
/// value moves to the backend of the parameter it replaces.
pub fn restore(module: &dyn Module, path: &Path, found: &[NamedTensor]) -> Result<()> {
    check_matches(path, &state_of(module), found)?;
    for (name, p) in module.named_parameters() {
        let (Some(old), Some(t)) = (p.tensor(), found.iter().find(|f| f.name == name)) else {
            continue;
        };
        p.update(Tensor::from_vec(t.values.clone(), &t.shape)?.try_to(old.backend())?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::temp_pid;

    #[test]
    fn temporary_names_carry_the_process_id() {
        assert_eq!(
            temp_pid(".m.safetensors.tmp-123", "m.safetensors"),
            Some(123)
        );
        assert_eq!(
            temp_pid(".m.safetensors.tmp-123-7", "m.safetensors"),
            Some(123)
        );
        for other in [
            "m.safetensors.tmp-123",
            ".m.safetensors.tmp-",
            ".m.safetensors.tmp-12x",
            ".m.safetensors.tmp-1-",
            ".m.safetensors.tmp--1",
            ".n.safetensors.tmp-123",
            ".m.safetensors.tmp-5.tmp-123",
        ] {
            assert_eq!(temp_pid(other, "m.safetensors"), None, "{other}");
        }
    }
}
