//! A throw-away PostgreSQL cluster for tests (Debian's server binaries): made with initdb on a
//! free loopback port, started and stopped with pg_ctl, removed when dropped. As root, its
//! commands run as the `postgres` user. With REQUIRE_POSTGRES set (as `.ci/run` does), missing
//! binaries fail the test instead of skipping it. Included beside `support/dependency.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A PostgreSQL server binary: Debian's versioned directory, else the PATH.
fn binary(name: &str) -> Option<PathBuf> {
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|version| version.path().join("bin").join(name))
        .find(|path| path.exists());
    debian.or_else(|| {
        Command::new(name)
            .arg("--version")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|_| PathBuf::from(name))
    })
}

/// A throw-away cluster; as root, its commands run as the `postgres` user.
pub(crate) struct Cluster {
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
    pg_ctl: PathBuf,
}

impl Cluster {
    fn command(&self, program: &Path) -> Command {
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    pub(crate) fn new() -> Option<Self> {
        let (Some(initdb), Some(pg_ctl)) = (binary("initdb"), binary("pg_ctl")) else {
            crate::skip::unavailable(
                "PostgreSQL's server",
                "REQUIRE_POSTGRES",
                "initdb and pg_ctl not found",
            );
            return None;
        };
        let root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
        let port = crate::dependency::free_port();
        let dir =
            std::env::temp_dir().join(format!("tower-vitals-pg-{}-{port}", std::process::id()));
        let cluster = Self {
            dir,
            port,
            as_postgres: root,
            pg_ctl,
        };
        let made = cluster
            .command(Path::new("mkdir"))
            .arg("-p")
            .arg(&cluster.dir)
            .status()
            .unwrap();
        assert!(made.success());
        let init = cluster
            .command(&initdb)
            .arg("-D")
            .arg(&cluster.dir)
            .args(["-A", "trust", "-U", "app", "--no-sync"])
            .output()
            .unwrap();
        assert!(
            init.status.success(),
            "{}",
            String::from_utf8_lossy(&init.stderr)
        );
        cluster.start();
        Some(cluster)
    }

    pub(crate) fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        let started = self
            .command(&self.pg_ctl)
            .arg("-D")
            .arg(&self.dir)
            .args(["-o", &options, "-l"])
            .arg(self.dir.join("log"))
            .args(["-w", "start"])
            .output()
            .unwrap();
        assert!(
            started.status.success(),
            "{}",
            String::from_utf8_lossy(&started.stderr)
        );
    }

    pub(crate) fn stop(&self) {
        let _ = self
            .command(&self.pg_ctl)
            .arg("-D")
            .arg(&self.dir)
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }

    /// A `postgres://` URL of the cluster's `postgres` database, as user `app`.
    pub(crate) fn url(&self) -> String {
        format!("postgres://app@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Cluster {
    /// Queries running on the server whose text contains `text`, seen from a connection of
    /// its own (which is left out).
    pub(crate) async fn running(&self, text: &str) -> i64 {
        let (client, connection) = tokio_postgres::connect(&self.url(), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        let row = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND strpos(query, $1) > 0 AND pid <> pg_backend_pid()",
                &[&text],
            )
            .await
            .unwrap();
        row.get(0)
    }
}
