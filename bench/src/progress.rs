//! Progress on the terminal: a bar over the matrix and the current run's
//! phase when stdout is a terminal; one plain line per finished run when it
//! is not (CI logs, pipes), so logs stay readable.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Reports a matrix's progress.
pub struct Progress {
    bar: Option<ProgressBar>,
    total: usize,
}

impl Progress {
    /// A bar over `total` runs if stdout is a terminal, plain lines otherwise.
    pub fn new(total: usize) -> Self {
        let bar = std::io::stdout().is_terminal().then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stdout());
            let style = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30.cyan/blue} {pos}/{len} {wide_msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Self { bar, total }
    }

    /// Shows the current run and its phase (terminal only).
    pub fn phase(&self, run: &str, phase: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{run}: {phase}"));
        }
    }

    /// Prints a line without tearing the bar.
    pub fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => println!("{line}"),
        }
    }

    /// Records a finished run and prints its line (`index` is 0-based).
    pub fn finish_run(&self, index: usize, line: &str) {
        match &self.bar {
            Some(bar) => {
                bar.println(line);
                bar.set_position(index as u64 + 1);
            }
            None => println!("[{}/{}] {line}", index + 1, self.total),
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
