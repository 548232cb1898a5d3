//! The deploy engine used as a library, without xtask: one test binary for the crate

mod library;
