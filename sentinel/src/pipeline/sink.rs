//! Where the writer's bytes go: any `Write`, or the rotating live file,
//! which also needs the writer's timer to rotate at a period boundary when
//! nothing is being written.

use std::io::{self, Write};
use std::sync::{Arc, Weak};
use std::task::{Wake, Waker};
use std::time::Duration;

use super::shared::Shared;
use crate::rotation::file::RotatingFile;

/// The writer's sink.
pub(crate) enum Sink {
    /// A file without rotation, or any `Write` given by the user.
    Plain(Box<dyn Write + Send>),
    /// The live file of a rotating logger.
    Rotating(Box<RotatingFile>),
}

impl Sink {
    /// Rotates by time if a boundary has passed with nothing written since;
    /// returns how long the writer may sleep before calling again (`None`:
    /// no time rotation, no timer).
    pub(crate) fn rotate_if_due(&mut self) -> Option<Duration> {
        match self {
            Sink::Plain(_) => None,
            Sink::Rotating(file) => file.rotate_if_due(),
        }
    }

    /// Wakes the writer of `shared` whenever the rotation clock jumps, so a
    /// test clock moved past a boundary is acted on at once, as the timer
    /// would at the boundary in real time.
    pub(crate) fn wake_writer_on_jump(&self, shared: &Arc<Shared>) {
        if let Sink::Rotating(file) = self {
            file.wake_on_jump(Waker::from(Arc::new(WriterWaker(Arc::downgrade(shared)))));
        }
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Plain(w) => w.write(buf),
            Sink::Rotating(file) => file.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Sink::Plain(w) => w.write_all(buf),
            Sink::Rotating(file) => file.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Plain(w) => w.flush(),
            Sink::Rotating(file) => file.flush(),
        }
    }
}

/// Wakes an idle writer; weak, so a clock outliving the logger keeps nothing
/// of it alive.
struct WriterWaker(Weak<Shared>);

impl Wake for WriterWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(shared) = self.0.upgrade() {
            shared.wake.notify_one();
        }
    }
}
