//! `PostgresCheck` against a real PostgreSQL (Debian's, a throw-away cluster made here on a free
//! loopback port and stopped by its PID file): healthy; a `pg_sleep(5)` with a 500 ms timeout
//! leaves nothing running on the server (`pg_stat_activity`), where the same check without a
//! statement timeout does; the server stopped → PostgreSQL's own error; started again →
//! healthy, by itself. `.ci/run` sets REQUIRE_POSTGRES=1, so there it must run.
#![cfg(feature = "postgres")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tower_vitals::checks::PostgresCheck;
use tower_vitals::{Check, ComponentStatus, HealthChecker, HealthStatus};

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
struct Cluster {
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

    fn new() -> Option<Self> {
        let (Some(initdb), Some(pg_ctl)) = (binary("initdb"), binary("pg_ctl")) else {
            assert!(
                std::env::var_os("REQUIRE_POSTGRES").is_none(),
                "PostgreSQL's server binaries are required here"
            );
            return None;
        };
        let root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
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

    fn start(&self) {
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

    fn stop(&self) {
        let _ = self
            .command(&self.pg_ctl)
            .arg("-D")
            .arg(&self.dir)
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }

    fn connection(&self) -> String {
        format!("host=127.0.0.1 port={} user=app dbname=postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn checker(check: PostgresCheck, timeout: Duration) -> HealthChecker {
    HealthChecker::builder()
        .register(Check::new("postgres", check).timeout(timeout).retries(0))
        .cache_ttl(Duration::from_millis(200))
        .build()
        .unwrap()
}

async fn until(
    checker: &HealthChecker,
    status: HealthStatus,
    limit: Duration,
) -> (ComponentStatus, Duration) {
    let started = Instant::now();
    loop {
        let component = checker.report().await.components.remove(0);
        if component.status == status || started.elapsed() > limit {
            return (component, started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `pg_sleep` queries still running on the server, seen from another connection.
async fn sleeping(cluster: &Cluster) -> i64 {
    let (client, connection) =
        tokio_postgres::connect(&cluster.connection(), tokio_postgres::NoTls)
            .await
            .unwrap();
    tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%pg_sleep(5)%' AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .unwrap();
    row.get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_is_checked_bounded_on_the_server_and_recovered_from() {
    let Some(cluster) = Cluster::new() else {
        eprintln!("PostgreSQL not installed: skipping");
        return;
    };
    let timeout = Duration::from_millis(500);

    let plain = checker(
        PostgresCheck::new(&cluster.connection())
            .unwrap()
            .statement_timeout(timeout),
        timeout,
    );
    let (up, _) = until(&plain, HealthStatus::Healthy, Duration::from_secs(5)).await;
    assert_eq!(up.status, HealthStatus::Healthy, "{up:?}");
    assert!(up.metadata["server_version"].as_str().is_some());

    // A slow query, with the statement timeout equal to the check's: nothing is left running.
    let bounded = PostgresCheck::new(&cluster.connection())
        .unwrap()
        .query("SELECT pg_sleep(5)")
        .statement_timeout(timeout);
    let component = checker(bounded, timeout)
        .report()
        .await
        .components
        .remove(0);
    assert_eq!(component.status, HealthStatus::Unhealthy);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        sleeping(&cluster).await,
        0,
        "the server ended the abandoned query"
    );

    // The same without a statement timeout worth the name: the server keeps running it.
    let unbounded = PostgresCheck::new(&cluster.connection())
        .unwrap()
        .query("SELECT pg_sleep(5)")
        .statement_timeout(Duration::from_secs(60));
    let _ = checker(unbounded, timeout).report().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        sleeping(&cluster).await,
        1,
        "control: an unbounded query runs on"
    );

    cluster.stop();
    let (down, waited) = until(&plain, HealthStatus::Unhealthy, Duration::from_secs(5)).await;
    assert_eq!(down.status, HealthStatus::Unhealthy, "{down:?}");
    let message = down.message.unwrap();
    assert!(
        !message.contains("no answer") && !message.contains("timed out"),
        "the real error: {message}"
    );
    eprintln!("stopped: unhealthy after {waited:?}: {message}");

    cluster.start();
    let (back, waited) = until(&plain, HealthStatus::Healthy, Duration::from_secs(10)).await;
    assert_eq!(
        back.status,
        HealthStatus::Healthy,
        "never recovered: {back:?}"
    );
    eprintln!("restarted: healthy again after {waited:?}");
}
