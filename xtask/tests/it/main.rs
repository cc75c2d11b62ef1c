//! xtask's integration tests: the built `xtask` binary run as a user runs it,
//! the library's pure parts on fixture data, and paths that need a local
//! server. One module per concern.

mod apt;
mod bsd_pins;
mod ci;
mod ci_clients;
mod cross;
mod daily;
mod dist;
mod dpdk;
mod fuzz_replay;
mod history;
mod junit;
mod layers;
mod lifecycle;
mod matrix;
mod merge_diff;
mod msrv;
mod packaged;
mod platform_data;
mod publish;
mod qemu_vhost_user;
mod report_html;
mod report_support;
mod support;
mod vm;
mod vm_download;
