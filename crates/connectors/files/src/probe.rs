//! `ferry check --live` for a folder: the folder can be listed (a source) or written to, or
//! created (a target), and the newest file a source would read has the columns its options
//! name. Only headers are read: no cursor moves and no file is moved, renamed or created.

use std::path::Path;

use ferry_model::ConnectorError;

use crate::config::SourceSpec;
use crate::source::{fields_of, io_error, list_files};
use ferry_kit::Probe;

/// The system's folder, when it exists, is a folder the process may list. One that does not
/// exist yet is no problem here: a target creates it on its first write, and a source's probe
/// says it is missing.
pub(super) fn check_folder(dir: &Path) -> Result<(), ConnectorError> {
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error(&format!("cannot read {}", dir.display()), &e)),
        Ok(meta) if !meta.is_dir() => Err(ConnectorError::fatal(format!(
            "{} is not a folder",
            dir.display()
        ))),
        Ok(_) => std::fs::read_dir(dir)
            .map(|_| ())
            .map_err(|e| io_error(&format!("cannot list the folder {}", dir.display()), &e)),
    }
}

/// A source: the folder exists, and the newest matching file (if any) has the id column and
/// the columns `columns:` and `types:` name; its header is what the records carry.
pub(super) fn inspect_source(dir: &Path, spec: &SourceSpec) -> Probe {
    let mut probe = Probe::default();
    if !dir.exists() {
        probe.option(&[], format!("the folder {} does not exist", dir.display()));
        return probe;
    }
    let files = match list_files(dir, |name| spec.pattern.matches(name)) {
        Ok(files) => files,
        Err(e) => return Probe::failed(&e),
    };
    // No file to read yet is no mistake: the other system has not exported one.
    let Some(newest) = files.last() else {
        return probe;
    };
    match fields_of(newest, spec) {
        Ok(fields) => probe.carries(fields, format!("the header of {}", newest.name)),
        Err(message) => probe.option(&[], format!("{}: {message}", newest.name)),
    }
    probe
}

/// A target: the folder is writable, or (not there yet) the nearest folder above it is, so
/// the first write can create it.
pub(super) fn inspect_sink(dir: &Path) -> Probe {
    let mut probe = Probe::default();
    let existing = dir.ancestors().find(|p| p.exists()).unwrap_or(dir);
    let problem = if !existing.is_dir() {
        Some(format!("{} is not a folder", existing.display()))
    } else {
        writable(existing)
            .err()
            .map(|e| format!("cannot write to the folder {}: {e}", existing.display()))
    };
    if let Some(problem) = problem {
        let message = if existing == dir {
            problem
        } else {
            format!(
                "the folder {} does not exist and cannot be created: {problem}",
                dir.display()
            )
        };
        probe.option(&[], message);
    }
    probe
}

/// Whether this process may create files in `dir` (the permissions, the user's groups and a
/// read-only mount all count), asked without creating one.
#[cfg(unix)]
fn writable(dir: &Path) -> Result<(), String> {
    use rustix::fs::{Access, access};
    access(dir, Access::WRITE_OK | Access::EXEC_OK).map_err(|e| e.to_string())
}

/// Whether `dir` may be written to, as far as its read-only flag tells.
#[cfg(not(unix))]
fn writable(dir: &Path) -> Result<(), String> {
    match std::fs::metadata(dir) {
        Ok(meta) if meta.permissions().readonly() => Err("it is read-only".to_owned()),
        Ok(_) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}
