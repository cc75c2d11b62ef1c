//! xtask's integration tests: the built `xtask` binary run as a user runs it.

mod matrix;
mod support;
