//! The xtask's one integration-test binary; each concern has its own module.

mod platform_data;
