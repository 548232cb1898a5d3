//! meshtest developer and operator commands
fn main() {}
