//! Progress while cells run: a bar with an ETA and a line per running cell
//! on a terminal, plain lines otherwise (CI logs, pipes).
//!
//! Plain lines leave out the cells' own messages unless
//! `XTASK_PROGRESS_MESSAGES=1`: then each is a line `[done/total] <cell>: <message>`.
//! Tests use it to wait for events (a guest running: `crate::vm::session::GUEST_RUNNING`)
//! instead of sleeping or polling processes.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::results::{CellResult, Status};

pub trait Reporter: Sync {
    fn start(&self, total: usize);
    fn cell_started(&self, id: &str);
    fn cell_message(&self, id: &str, message: &str);
    fn cell_finished(&self, result: &CellResult, reused: bool);
    /// A line that must not be lost under the bars.
    fn note(&self, line: &str);
    fn finish(&self);
}

pub fn reporter() -> Box<dyn Reporter> {
    if std::io::stdout().is_terminal() && std::io::stderr().is_terminal() {
        Box::new(Bars::new())
    } else {
        Box::new(Lines {
            messages: std::env::var("XTASK_PROGRESS_MESSAGES").is_ok_and(|v| v == "1"),
            ..Lines::default()
        })
    }
}

pub fn symbol(status: Status) -> &'static str {
    match status {
        Status::Pass => "✓",
        Status::Fail => "✗",
        Status::ExpectedFail => "!",
        Status::Timeout => "⏱",
        Status::Skipped => "-",
        Status::Unavailable => "·",
        Status::NotRun => "○",
    }
}

fn finished_line(result: &CellResult, reused: bool) -> String {
    let mut line = format!(
        "{} {} {} ({:.1}s)",
        symbol(result.status),
        result.status,
        result.id,
        result.duration_secs
    );
    if reused {
        line.push_str(" [unchanged, reused]");
    }
    if let Some(reason) = &result.reason {
        if result.status != Status::Pass {
            line.push_str(": ");
            line.push_str(reason.lines().next().unwrap_or(""));
        }
    }
    line
}

struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    cells: Mutex<HashMap<String, ProgressBar>>,
}

impl Bars {
    fn new() -> Bars {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let overall = multi.add(ProgressBar::new(0));
        overall.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} cells, ETA {eta}",
            )
            .unwrap()
            .progress_chars("=> "),
        );
        Bars {
            multi,
            overall,
            cells: Mutex::new(HashMap::new()),
        }
    }
}

impl Reporter for Bars {
    fn start(&self, total: usize) {
        self.overall.set_length(total as u64);
    }

    fn cell_started(&self, id: &str) {
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("  {spinner} {prefix:.bold} {elapsed:>4} {wide_msg}")
                .unwrap(),
        );
        bar.set_prefix(id.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        self.cells.lock().unwrap().insert(id.to_string(), bar);
    }

    fn cell_message(&self, id: &str, message: &str) {
        if let Some(bar) = self.cells.lock().unwrap().get(id) {
            bar.set_message(message.to_string());
        }
    }

    fn cell_finished(&self, result: &CellResult, reused: bool) {
        if let Some(bar) = self.cells.lock().unwrap().remove(&result.id) {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
        let _ = self.multi.println(finished_line(result, reused));
        self.overall.inc(1);
    }

    fn note(&self, line: &str) {
        let _ = self.multi.println(line);
    }

    fn finish(&self) {
        self.overall.finish_and_clear();
    }
}

#[derive(Default)]
struct Lines {
    state: Mutex<(usize, usize)>,
    /// Print the cells' messages too (`XTASK_PROGRESS_MESSAGES=1`).
    messages: bool,
}

impl Reporter for Lines {
    fn start(&self, total: usize) {
        self.state.lock().unwrap().1 = total;
    }

    fn cell_started(&self, id: &str) {
        let (done, total) = *self.state.lock().unwrap();
        eprintln!("[{done}/{total}] start {id}");
    }

    fn cell_message(&self, id: &str, message: &str) {
        if self.messages {
            let (done, total) = *self.state.lock().unwrap();
            eprintln!("[{done}/{total}] {id}: {message}");
        }
    }

    fn cell_finished(&self, result: &CellResult, reused: bool) {
        let mut state = self.state.lock().unwrap();
        state.0 += 1;
        eprintln!(
            "[{}/{}] {}",
            state.0,
            state.1,
            finished_line(result, reused)
        );
    }

    fn note(&self, line: &str) {
        eprintln!("{line}");
    }

    fn finish(&self) {}
}
