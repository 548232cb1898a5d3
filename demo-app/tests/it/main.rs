//! Integration tests for demo-app: routes in-process, and the built binary as a process.

mod binary;
mod routes;
mod support;
