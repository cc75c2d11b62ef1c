//! xtask's integration tests: one binary, one module per area.

mod vm;
mod vm_download;
