//! Progress bars for long work: drawn on a terminal, silent when piped.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use kalamu_core::pack::Progress;

/// A byte progress bar on stderr.
pub struct Bar(ProgressBar);

impl Bar {
    /// A bar labelled `what`; hidden when stderr is not a terminal.
    pub fn new(what: &'static str) -> Bar {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{msg:10} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_message(what);
        Bar(bar)
    }

    /// A bar counting events rather than bytes.
    pub fn events(what: &'static str) -> Bar {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{msg:10} [{bar:40}] {pos}/{len} events {per_sec} {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_message(what);
        Bar(bar)
    }

    /// Moves the bar.
    pub fn set(&self, p: Progress) {
        self.0.set_length(p.total);
        self.0.set_position(p.done);
    }

    /// Clears the bar.
    pub fn finish(self) {
        self.0.finish_and_clear();
    }
}
