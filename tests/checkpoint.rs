//! `checkpoint::save`: atomic, never through or over anything but a regular file, no temporary
//! file left behind, and stale ones of killed saves cleaned up.

use minitorch::checkpoint::{NamedTensor, STALE_TEMP_AGE, check_target, load, save};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A fresh directory for one test.
fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "minitorch-checkpoint-{}-{test}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn tensors() -> Vec<NamedTensor> {
    vec![NamedTensor {
        name: "layer1.weights".into(),
        shape: vec![2, 3],
        values: vec![0.25; 6],
    }]
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Saving to `path` fails with a message naming it and saying `what` it is.
fn refuses(path: &Path, what: &str) {
    let err = save(path, &tensors()).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("{}: is {what}", path.display()))
            && err.contains("refusing to replace it"),
        "{err}"
    );
}

#[test]
fn save_replaces_a_regular_file_and_leaves_no_temporary_file() {
    let dir = temp_dir("regular");
    let path = dir.join("m.safetensors");
    std::fs::write(&path, b"old").unwrap();
    save(&path, &tensors()).unwrap();
    assert_eq!(load(&path).unwrap(), tensors());
    assert_eq!(names(&dir), ["m.safetensors"]);
}

#[test]
fn save_refuses_a_symbolic_link_and_leaves_its_target_alone() {
    let dir = temp_dir("symlink");
    let target = dir.join("target");
    std::fs::write(&target, b"precious").unwrap();
    let link = dir.join("link.safetensors");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    refuses(&link, "a symbolic link (to ");
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    assert_eq!(std::fs::read(&target).unwrap(), b"precious");
    // A dangling link is refused too (it would otherwise be replaced).
    let dangling = dir.join("dangling.safetensors");
    std::os::unix::fs::symlink(dir.join("absent"), &dangling).unwrap();
    refuses(&dangling, "a symbolic link");
    assert_eq!(
        names(&dir),
        ["dangling.safetensors", "link.safetensors", "target"]
    );
}

#[test]
fn save_refuses_a_fifo_without_blocking_on_it() {
    use std::os::unix::fs::FileTypeExt;
    let dir = temp_dir("fifo");
    let fifo = dir.join("fifo.safetensors");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo reads the NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) }, 0);
    refuses(&fifo, "a FIFO");
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert_eq!(names(&dir), ["fifo.safetensors"]);
}

#[test]
fn save_refuses_a_directory() {
    let dir = temp_dir("directory");
    let sub = dir.join("sub.safetensors");
    std::fs::create_dir(&sub).unwrap();
    refuses(&sub, "a directory");
    assert!(sub.is_dir());
    assert_eq!(names(&dir), ["sub.safetensors"]);
}

#[test]
fn save_refuses_a_device_node() {
    // The check alone never writes, so it can look at /dev/null itself.
    let err = check_target(Path::new("/dev/null"))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("/dev/null: is a character device"), "{err}");
    // save on a device: as root, a private copy of /dev/null's node (replacing it would harm
    // nothing); as anyone else, /dev/null, whose directory they cannot write anyway.
    // SAFETY: geteuid has no preconditions.
    let path = if unsafe { libc::geteuid() } == 0 {
        let dir = temp_dir("device");
        let node = dir.join("null.safetensors");
        let c_path = std::ffi::CString::new(node.to_str().unwrap()).unwrap();
        // SAFETY: mknod reads the NUL-terminated path.
        let made =
            unsafe { libc::mknod(c_path.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) };
        if made != 0 {
            // No CAP_MKNOD (a restricted container): the check above is the test.
            return;
        }
        node
    } else {
        PathBuf::from("/dev/null")
    };
    refuses(&path, "a character device");
    use std::os::unix::fs::FileTypeExt;
    assert!(
        std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_char_device()
    );
}

#[test]
fn save_names_the_users_path_when_the_directory_is_missing() {
    let err = save(Path::new("/nonexistent-dir/m.safetensors"), &tensors())
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "/nonexistent-dir/m.safetensors: directory /nonexistent-dir does not exist"
    );
    let err = save(Path::new("/"), &tensors()).unwrap_err().to_string();
    assert!(err.contains("not a file path"), "{err}");
}

#[test]
fn save_refuses_a_path_whose_directory_is_a_file() {
    let dir = temp_dir("notdir");
    let file = dir.join("file");
    std::fs::write(&file, b"x").unwrap();
    let err = save(&file.join("m.safetensors"), &tensors())
        .unwrap_err()
        .to_string();
    assert!(
        err.ends_with(&format!("{} is not a directory", file.display())),
        "{err}"
    );
    assert_eq!(names(&dir), ["file"]);
}

/// The pid of a process that has exited (and been reaped).
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

#[test]
fn save_removes_the_temporary_files_of_killed_saves() {
    let dir = temp_dir("stale");
    let path = dir.join("m.safetensors");
    let dead = dead_pid();
    let hour_ago = SystemTime::now() - STALE_TEMP_AGE - Duration::from_secs(60);
    let write = |name: &str, old: bool| {
        let p = dir.join(name);
        std::fs::write(&p, b"half a checkpoint").unwrap();
        if old {
            let f = std::fs::File::options().write(true).open(&p).unwrap();
            f.set_modified(hour_ago).unwrap();
        }
    };
    // Of a process that is gone: removed.
    write(&format!(".m.safetensors.tmp-{dead}"), false);
    write(&format!(".m.safetensors.tmp-{dead}-4"), false);
    // Of a live process (pid 1), recent: possibly a save in progress, kept.
    write(".m.safetensors.tmp-1-0", false);
    // Of a live process but older than the stale age (the pid was reused): removed.
    write(".m.safetensors.tmp-1-1", true);
    // Another file's temporaries, and names that only look similar: kept.
    write(&format!(".other.safetensors.tmp-{dead}"), false);
    write(&format!(".m.safetensors.tmp-{dead}x"), true);
    write("m.safetensors.tmp-1", true);
    // A directory with a temporary name is not touched.
    std::fs::create_dir(dir.join(format!(".m.safetensors.tmp-{dead}-9"))).unwrap();
    save(&path, &tensors()).unwrap();
    let mut expected = vec![
        format!(".m.safetensors.tmp-{dead}-9"),
        format!(".m.safetensors.tmp-{dead}x"),
        ".m.safetensors.tmp-1-0".to_string(),
        format!(".other.safetensors.tmp-{dead}"),
        "m.safetensors".to_string(),
        "m.safetensors.tmp-1".to_string(),
    ];
    expected.sort();
    assert_eq!(names(&dir), expected);
    assert_eq!(load(&path).unwrap(), tensors());
}

#[test]
fn a_failed_save_leaves_the_old_file_byte_identical() {
    let dir = temp_dir("failed");
    let path = dir.join("m.safetensors");
    save(&path, &tensors()).unwrap();
    let before = std::fs::read(&path).unwrap();
    // Values that do not fill the shape: refused while serialising, before any file is made.
    let bad = vec![NamedTensor {
        name: "w".into(),
        shape: vec![4, 4],
        values: vec![1.0; 3],
    }];
    let err = save(&path, &bad).unwrap_err().to_string();
    assert!(err.starts_with(&path.display().to_string()), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(names(&dir), ["m.safetensors"]);
}
