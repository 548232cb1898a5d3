//! Integration tests for load-client: the library in-process and the binary as a process,
//! against in-process demo-apps and scripted servers on 127.0.0.1.

mod binary;
mod flags;
mod library;
mod support;
