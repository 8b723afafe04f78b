//! The progress bar of long manual runs: drawn on stderr when it is a terminal, absent when
//! output is piped or redirected (so logs and scripts stay clean).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use invsync_engine::Progress;
use std::io::IsTerminal;
use std::time::Duration;

pub struct Bar {
    bar: ProgressBar,
}

impl Bar {
    pub fn new() -> Bar {
        let target = if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        bar.set_style(spinner_style());
        bar.enable_steady_tick(Duration::from_millis(120));
        Bar { bar }
    }
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

impl Progress for Bar {
    fn phase(&self, name: &str) {
        self.bar.set_message(format!("{name}…"));
    }

    fn start_writes(&self, total: u64) {
        self.bar.set_length(total);
        self.bar.set_position(0);
        if let Ok(style) =
            ProgressStyle::with_template("writing {bar:40} {pos}/{len} changes ({eta} left)")
        {
            self.bar.set_style(style);
        }
    }

    fn advance(&self, n: u64) {
        self.bar.inc(n);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
