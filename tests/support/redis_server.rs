//! A real Redis (Debian's `redis-server`) on a loopback port, started by the test and stopped
//! by its PID when dropped; skipped (and said so) where it is not installed.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::skip;

/// A running redis-server; killed when dropped.
pub(crate) struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// redis-server on `port`, with `extra` arguments (`--requirepass …`); `None` when it is not
/// installed (noted as a skip, or a failure under `REQUIRE_REDIS`).
pub(crate) fn start(port: u16, extra: &[&str]) -> Option<Server> {
    let port_text = port.to_string();
    let mut args = vec![
        "--port",
        &port_text,
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ];
    args.extend_from_slice(extra);
    let child = Command::new("redis-server")
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let child = match child {
        Ok(child) => child,
        Err(error) => {
            skip::unavailable(
                "Redis' server",
                "REQUIRE_REDIS",
                &format!("redis-server: {error}"),
            );
            return None;
        }
    };
    let server = Server(child);
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(server);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("redis-server did not listen on {port}");
}
