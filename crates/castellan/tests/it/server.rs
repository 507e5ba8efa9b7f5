//! A `castellan serve` run as a child process by a test: started on a free port and awaited
//! until it listens, its output collected, stopped with SIGTERM or killed with SIGKILL.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::{command, Env};

/// A running `castellan serve`, with its output collected line by line.
pub struct Server {
    pub child: Child,
    pub port: u16,
    out: mpsc::Receiver<String>,
    err: Option<std::thread::JoinHandle<String>>,
    seen: Vec<String>,
}

pub fn serve(env: &Env) -> Server {
    serve_with(env, &[])
}

/// `castellan serve` with more arguments before `serve`.
pub fn serve_with(env: &Env, args: &[&str]) -> Server {
    let port = castellan_testkit::free_port();
    let mut child = command(env)
        .args(args)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (tx, out) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut server = Server {
        child,
        port,
        out,
        err: Some(err),
        seen: Vec::new(),
    };
    // Ready when /healthz answers.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("castellan serve exited early: {status}");
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "castellan serve never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    server
}

impl Server {
    /// Lines printed on stdout so far (waiting for at least `n`).
    pub fn lines(&mut self, n: usize) -> Vec<String> {
        while self.seen.len() < n {
            match self.out.recv_timeout(Duration::from_secs(30)) {
                Ok(l) => self.seen.push(l),
                Err(_) => break,
            }
        }
        self.seen.clone()
    }

    pub fn sigterm(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }

    /// Sends SIGTERM and waits: answers (exit success, all stdout, all stderr).
    pub fn stop(mut self) -> (bool, String, String) {
        self.sigterm();
        let status = self.child.wait().unwrap();
        while let Ok(l) = self.out.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(l);
        }
        let err = self.err.take().unwrap().join().unwrap();
        (status.success(), self.seen.join("\n"), err)
    }

    /// Kills the process with SIGKILL (no shutdown of any kind) and waits for it; answers
    /// what it printed on stderr.
    pub fn kill9(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.err.take().unwrap().join().unwrap()
    }
}

/// The bootstrap credentials in `serve`'s banner.
pub fn banner_credentials(lines: &[String]) -> (String, String) {
    let field = |name: &str| {
        lines
            .iter()
            .find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_owned()))
            .unwrap_or_else(|| panic!("no {name} in {lines:?}"))
    };
    (field("client_id:"), field("client_secret:"))
}

impl Drop for Server {
    /// A server the test did not stop (it failed first) is killed, so that no process outlives
    /// the test holding its port and database connections.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
