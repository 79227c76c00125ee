//! How a subcommand fails: one line on stderr naming what went wrong, and an exit code.

use std::fmt;
use std::io;

/// Prints `sentinel: MESSAGE` on stderr. A stderr nobody reads any more (`2>&1 | head`) is
/// not an error of ours: the line is dropped, where `eprintln!` would panic.
pub(crate) fn say(message: impl fmt::Display) {
    use std::io::Write as _;
    let _ = writeln!(io::stderr().lock(), "sentinel: {message}");
}

/// A failure of a subcommand, printed by `main` as `sentinel: WHAT: message`.
#[derive(Debug)]
pub(crate) enum Failure {
    /// An input could not be found, opened, read or understood; `path` names it.
    Input { path: String, message: String },
    /// A flag's value or a combination of flags is wrong.
    Usage(String),
    /// Writing our output failed; a broken pipe means the reader went away.
    Output(io::Error),
}

impl Failure {
    pub(crate) fn input(path: impl Into<String>, message: impl Into<String>) -> Self {
        Failure::Input {
            path: path.into(),
            message: message.into(),
        }
    }

    /// A read error on `path`, worded like `ls` and `grep` do.
    pub(crate) fn read(path: &str, error: &io::Error) -> Self {
        Failure::input(path, Failure::read_message(error))
    }

    /// What [`Failure::read`] says about `error`.
    pub(crate) fn read_message(error: &io::Error) -> String {
        match error.kind() {
            io::ErrorKind::NotFound => "no such file or directory".to_owned(),
            io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
            io::ErrorKind::IsADirectory => "is a directory".to_owned(),
            io::ErrorKind::InvalidData => format!("corrupt or unreadable data ({error})"),
            _ => error.to_string(),
        }
    }

    /// The message alone, without the path an input failure names.
    pub(crate) fn message(&self) -> String {
        match self {
            Failure::Input { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }
}

impl From<io::Error> for Failure {
    /// Errors of the output side; input errors are made with [`Failure::read`].
    fn from(error: io::Error) -> Self {
        Failure::Output(error)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Input { path, message } => write!(f, "{path}: {message}"),
            Failure::Usage(message) => f.write_str(message),
            Failure::Output(error) => write!(f, "writing output: {error}"),
        }
    }
}
