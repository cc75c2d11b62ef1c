//! xtask's integration tests: the built `xtask` binary run as a user runs it.

mod cross;
mod matrix;
mod support;
