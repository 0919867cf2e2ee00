//! Draws prisn_builder progress events as indicatif spinners and bars on stderr, only when
//! stderr is a terminal and neither --quiet nor --no-progress was given.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use prisn_builder::{Event, Reporter};

/// Progress bars for a terminal.
pub struct TerminalReporter {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

/// Make the reporter the flags and the terminal call for.
pub fn make(quiet: bool, no_progress: bool) -> Box<dyn Reporter> {
    if quiet || no_progress || !std::io::stderr().is_terminal() {
        Box::new(QuietReporter { quiet })
    } else {
        Box::new(TerminalReporter {
            multi: MultiProgress::new(),
            bars: Mutex::new(HashMap::new()),
        })
    }
}

/// No bars; notes still go to stderr unless --quiet.
struct QuietReporter {
    quiet: bool,
}

impl Reporter for QuietReporter {
    fn report(&self, event: Event) {
        if let Event::Note(text) = event
            && !self.quiet
        {
            eprintln!("{text}");
        }
    }
}

impl TerminalReporter {
    fn spinner(&self, key: String, message: String) {
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                .expect("static template is valid"),
        );
        bar.set_message(message);
        bar.enable_steady_tick(Duration::from_millis(100));
        self.lock().insert(key, bar);
    }

    fn bytes_bar(&self, key: String, total: u64, message: String) {
        let bar = self.multi.add(ProgressBar::new(total));
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
                .expect("static template is valid")
                .progress_chars("=> "),
        );
        bar.set_message(message);
        self.lock().insert(key, bar);
    }

    fn finish(&self, key: &str, message: Option<String>) {
        if let Some(bar) = self.lock().remove(key) {
            match message {
                Some(m) => bar.finish_with_message(m),
                None => bar.finish_and_clear(),
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ProgressBar>> {
        self.bars.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Reporter for TerminalReporter {
    fn report(&self, event: Event) {
        match event {
            Event::ResolveStart { script, tool } => self.spinner(
                format!("resolve:{script}"),
                format!("resolving {script} with {tool}"),
            ),
            Event::ResolveDone { script, packages } => self.finish(
                &format!("resolve:{script}"),
                Some(format!("resolved {script}: {packages} packages")),
            ),
            Event::InstallStart { name, packages } => self.spinner(
                format!("install:{name}"),
                format!("installing {packages} packages into {name}"),
            ),
            Event::InstallDone { name } => self.finish(&format!("install:{name}"), None),
            Event::LayerStart { name, .. } => {
                self.spinner(format!("layer:{name}"), format!("packing {name} layer"))
            }
            Event::LayerDone { name, .. } => self.finish(&format!("layer:{name}"), None),
            Event::UploadStart { digest, total } => {
                let short = digest.get(7..19).unwrap_or(&digest).to_string();
                self.bytes_bar(format!("up:{digest}"), total, format!("pushing {short}"))
            }
            Event::UploadProgress { digest, bytes } => {
                if let Some(bar) = self.lock().get(&format!("up:{digest}")) {
                    bar.inc(bytes);
                }
            }
            Event::UploadDone { digest, .. } => self.finish(&format!("up:{digest}"), None),
            Event::PushStart { .. } => {}
            Event::Note(text) => {
                let _ = self.multi.println(text);
            }
        }
    }
}
