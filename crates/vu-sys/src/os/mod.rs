//! Selects the OS-specific file.

#[cfg(any(target_os = "freebsd", target_os = "netbsd", target_os = "openbsd"))]
mod bsd;
#[cfg(any(target_os = "freebsd", target_os = "netbsd", target_os = "openbsd"))]
pub(crate) use bsd::*;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub(crate) use linux::*;

#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "netbsd"))]
mod eventfd;
#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "netbsd"))]
pub(crate) use eventfd::notifier_pair;
