//! A minimal stderr logger for the back-end programs (`VU_LOG` sets the level).

use std::io::Write;

struct StderrLogger {
    name: &'static str,
}

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let level = record.level().as_str().to_ascii_lowercase();
            let _ = writeln!(
                std::io::stderr().lock(),
                "{}: {level}: {}",
                self.name,
                record.args()
            );
        }
    }

    fn flush(&self) {}
}

/// Sends `log` records to stderr, prefixed by `program`. The level comes
/// from the `VU_LOG` environment variable (`error`, `warn`, `info`, `debug`,
/// `trace`), `info` by default. Later calls do nothing.
pub fn init_logging(program: &'static str) {
    let level = std::env::var("VU_LOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(log::LevelFilter::Info);
    let logger: &'static StderrLogger = Box::leak(Box::new(StderrLogger { name: program }));
    if log::set_logger(logger).is_ok() {
        log::set_max_level(level);
    }
}
