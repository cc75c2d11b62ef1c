//! xtask's integration tests: the library's pure parts on fixture data, and
//! the built `xtask` binary run as a user runs it.

mod ci;
mod junit;
mod merge_diff;
mod publish;
mod report_html;
mod report_support;
