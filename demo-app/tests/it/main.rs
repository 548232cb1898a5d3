//! Integration tests for demo-app: routes in-process, and the built binary as a process.

mod binary;
mod guard;
mod routes;
mod support;
mod test_traffic;
