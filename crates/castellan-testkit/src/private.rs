//! Private service instances for the tests that stop, restart or kill a service: a PostgreSQL
//! cluster of the test's own (`initdb` and `pg_ctl`, its own port, data and socket directory)
//! and a `redis-server` of its own. They never touch the shared services of the machine, and
//! are stopped when dropped.
//!
//! Which binaries: PostgreSQL's from the newest `/usr/lib/postgresql/*/bin` (Debian's layout) or
//! `PATH`; `redis-server` from `PATH`. Run as root, PostgreSQL runs as the `postgres` user
//! (it refuses to run as root).
//!
//! The tests using them run when the binaries are installed; with
//! `CASTELLAN_TEST_RESTARTS=1` (set by `.ci/run`) a missing binary fails the test instead.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The variable that makes a missing server binary a failure rather than a skip.
pub const GATE: &str = "CASTELLAN_TEST_RESTARTS";

/// `name` in the first directory of `dirs` or `PATH` holding it, or None when the test should
/// skip (it panics when [`GATE`] says the test must run).
pub(crate) fn binary(name: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    installed(name, dirs, GATE)
}

/// `name` in the first directory of `dirs` or `PATH` holding it, or None when the test should
/// skip: it panics instead when the variable `gate` is `1` (the test must run).
#[expect(clippy::print_stderr, reason = "says why the test did not run")]
pub(crate) fn installed(name: &str, dirs: &[PathBuf], gate: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    let found = dirs
        .iter()
        .chain(path.iter())
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    match found {
        Some(p) => Some(p),
        None if std::env::var(gate).as_deref() == Ok("1") => {
            panic!("{gate}=1 but `{name}` is not installed")
        }
        None => {
            eprintln!("skipped: `{name}` is not installed (set {gate}=1 to make this a failure)");
            None
        }
    }
}

/// Debian's PostgreSQL binary directories, newest version first.
fn postgres_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            Some((version, e.path().join("bin")))
        })
        .collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.0));
    dirs.into_iter().map(|(_, d)| d).collect()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// Runs a PostgreSQL binary, as the `postgres` user when this process is root.
fn postgres_command(binary: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(binary);
        c
    } else {
        Command::new(binary)
    }
}

fn run(mut command: Command, what: &str) {
    let out = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A PostgreSQL cluster of the test's own, started and stopped at will.
pub struct Postgres {
    pg_ctl: PathBuf,
    data: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Postgres {
    /// Creates and starts a cluster on a free port (trust authentication, user `postgres`,
    /// database `postgres`), or None when the binaries are missing and the test should skip.
    pub fn start() -> Option<Postgres> {
        let dirs = postgres_dirs();
        let initdb = binary("initdb", &dirs)?;
        let pg_ctl = binary("pg_ctl", &dirs)?;
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        std::fs::create_dir(&data).expect("data dir");
        if is_root() {
            run(
                {
                    let mut c = Command::new("chown");
                    c.args(["-R", "postgres:"]).arg(dir.path());
                    c
                },
                "chown",
            );
        }
        let mut init = postgres_command(&initdb);
        init.args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
            "-D",
        ])
        .arg(&data);
        run(init, "initdb");
        let mut pg = Postgres {
            pg_ctl,
            data,
            port: 0,
            _dir: dir,
        };
        // A free port may be taken by another test between the check and the bind: then the
        // start fails, and another port is tried.
        for _ in 0..5 {
            pg.port = crate::free_port();
            if pg.pg_ctl_start().status.success() {
                return Some(pg);
            }
        }
        panic!("PostgreSQL did not start on any of five free ports");
    }

    /// The URL of its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the stopped cluster again on the same port, waiting until it accepts connections.
    pub fn start_again(&self) {
        let out = self.pg_ctl_start();
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn pg_ctl_start(&self) -> std::process::Output {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60",
            self.port,
            self.data.display()
        );
        postgres_command(&self.pg_ctl)
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(self.data.join("server.log"))
            .args(["-w", "-t", "30", "-o", &options, "start"])
            .stdin(Stdio::null())
            .output()
            .expect("pg_ctl")
    }

    /// Stops the cluster (`fast`: open connections are ended, as on a database restart).
    pub fn stop(&self) {
        self.pg_ctl_stop("fast");
    }

    fn pg_ctl_stop(&self, mode: &str) {
        let mut c = postgres_command(&self.pg_ctl);
        c.arg("-D")
            .arg(&self.data)
            .args(["-w", "-t", "30", "-m", mode, "stop"]);
        run(c, "pg_ctl stop");
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let mut c = postgres_command(&self.pg_ctl);
        c.arg("-D")
            .arg(&self.data)
            .args(["-w", "-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = c.status();
    }
}

/// A `redis-server` of the test's own (nothing saved to disk), started and stopped at will.
pub struct Redis {
    binary: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Redis {
    /// Starts a server on a free port, or None when `redis-server` is missing and the test
    /// should skip.
    pub fn start() -> Option<Redis> {
        let mut redis = Redis {
            binary: binary("redis-server", &[])?,
            port: 0,
            child: None,
        };
        // A free port may be taken by another test between the check and the bind: then the
        // server exits at once, and another port is tried.
        for _ in 0..5 {
            redis.port = crate::free_port();
            if redis.spawn() {
                return Some(redis);
            }
        }
        panic!("redis-server did not start on any of five free ports");
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the stopped server again on the same port (empty), waiting until it answers.
    pub fn start_again(&mut self) {
        assert!(self.spawn(), "redis-server did not start again");
    }

    /// Starts the server on its port; false when it exited (the port was taken).
    fn spawn(&mut self) -> bool {
        let mut child = Command::new(&self.binary)
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if child.try_wait().expect("redis-server status").is_some() {
                return false;
            }
            // The answer must come from this child, not from another test's server.
            if self.answering_pid() == Some(child.id()) {
                self.child = Some(child);
                return true;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("redis-server did not start");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The process id of the server answering on the port, if one answers.
    fn answering_pid(&self) -> Option<u32> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
        s.write_all(b"INFO server\r\n").ok()?;
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let text = String::from_utf8_lossy(&seen);
            if let Some(rest) = text.split("process_id:").nth(1) {
                if let Some((pid, _)) = rest.split_once("\r\n") {
                    return pid.trim().parse().ok();
                }
            }
            let n = s.read(&mut buf).ok().filter(|&n| n > 0)?;
            seen.extend_from_slice(&buf[..n]);
        }
    }

    /// Stops the server (killed: its connections drop at once, as on a crash or restart).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}
