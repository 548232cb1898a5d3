//! Loopback addresses for tests of what happens when nothing answers

use std::net::{Ipv4Addr, TcpListener};

/// A port on 127.0.0.1 with nothing listening: bound on an OS-chosen port, then released, so a
/// connection to it is refused (unless another test takes the port in between, which the OS
/// makes unlikely by not handing a just-released port out again at once).
pub fn refused_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    listener.local_addr().expect("the bound address").port()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_listens_on_a_refused_port() {
        let port = refused_port();
        let err =
            std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect_err("nothing listens");
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    }
}
