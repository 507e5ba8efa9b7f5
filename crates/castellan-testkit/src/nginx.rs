//! A real nginx for the tests that put Castellan behind it: run as a child process in a temp
//! directory (nothing written under /var or /run), killed on drop, its error log printed when
//! the test failed.
//!
//! Runs when `nginx` is installed (Debian `nginx-light`); with `CASTELLAN_TEST_NGINX=1` (set
//! by `.ci/run`) a missing nginx fails the test instead of skipping it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The variable that makes a missing nginx a failure rather than a skip.
pub const GATE: &str = "CASTELLAN_TEST_NGINX";

/// The nginx binary (`/usr/sbin`, where Debian's `nginx-light` puts it, or `PATH`), or None
/// when the test should skip (it panics when told to run).
pub fn binary() -> Option<PathBuf> {
    crate::private::installed("nginx", &[PathBuf::from("/usr/sbin")], GATE)
}

/// nginx as a child process, killed on drop; its log is printed if the test failed.
pub struct Nginx {
    child: Child,
    dir: tempfile::TempDir,
    /// `http://127.0.0.1:<port>` of the first port it listens on.
    pub base: String,
}

impl Nginx {
    /// Starts nginx with `http` as the content of its `http { }` block, and waits until it
    /// listens on each of `ports` (the first gives [`base`](Self::base)).
    pub fn start(binary: &Path, http: &str, ports: &[u16]) -> Nginx {
        let dir = tempfile::tempdir().expect("temp dir");
        let t = dir.path().display();
        // Every path nginx writes to lives in the temp dir. One process (no master): killing
        // it on drop leaves no worker behind.
        let conf = format!(
            "master_process off;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n\
             access_log {t}/access.log;\n\
             client_body_temp_path {t}/client_body;\n\
             proxy_temp_path {t}/proxy;\n\
             fastcgi_temp_path {t}/fastcgi;\n\
             uwsgi_temp_path {t}/uwsgi;\n\
             scgi_temp_path {t}/scgi;\n\
             {http}\n\
             }}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).expect("nginx.conf");
        let log = std::fs::File::create(dir.path().join("error.log")).expect("error.log");
        let child = Command::new(binary)
            .arg("-p")
            .arg(dir.path())
            .args(["-e", "stderr", "-c", "nginx.conf", "-g"])
            .arg(format!("daemon off; pid {t}/nginx.pid; error_log stderr;"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start nginx");
        let mut nginx = Nginx {
            child,
            dir,
            base: format!("http://127.0.0.1:{}", ports.first().expect("a port")),
        };
        for &port in ports {
            nginx.wait_until_listening(port);
        }
        nginx
    }

    /// What nginx wrote to its error log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    fn wait_until_listening(&mut self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("nginx status") {
                panic!("nginx exited ({status}):\n{}", self.log());
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "nginx not listening:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The URL of `path` on [`base`](Self::base).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

impl Drop for Nginx {
    #[expect(clippy::print_stderr, reason = "shows nginx's log when a test failed")]
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("nginx log:\n{}", self.log());
        }
    }
}
