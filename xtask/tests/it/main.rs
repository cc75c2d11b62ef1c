//! xtask's integration tests: the built `xtask` binary run as a user runs it,
//! and library paths that need a local server. One module per concern.

mod matrix;
mod platform_data;
mod support;
