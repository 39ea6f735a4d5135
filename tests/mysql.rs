//! `SqlxCheck` on a real MariaDB (Debian's `mariadb-server`, a throw-away data directory made
//! here and the server started on a free loopback port, stopped by its PID): healthy with the
//! pool's figures; a `SLEEP(5)` under a 500 ms check timeout is ended on the server by
//! `KILL QUERY` (the process list shows nothing left), where the same query in a hand-written
//! check runs on; the server stopped → the real error (`Connection refused`, where sqlx's pool says
//! only "pool timed out"); started again → healthy by itself; every connection taken → says
//! so. `.ci/run` installs mariadb-server and sets REQUIRE_MYSQL=1, so there this must run.
#![cfg(feature = "sqlx-mysql")]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "support/dependency.rs"]
mod dependency;
#[path = "support/skip.rs"]
mod skip;

use dependency::{checker, says_the_pool_is_full, stops_and_recovers};
use sqlx::MySqlPool;
use sqlx::mysql::MySqlPoolOptions;
use tower_vitals::HealthStatus;
use tower_vitals::checks::SqlxCheck;

struct Server {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Server {
    fn new() -> Option<Self> {
        let port = dependency::free_port();
        let dir =
            std::env::temp_dir().join(format!("tower-vitals-mysql-{}-{port}", std::process::id()));
        let installed = Command::new("mariadb-install-db")
            .args([
                "--no-defaults",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ])
            .arg(format!("--datadir={}", dir.join("data").display()))
            .arg(format!("--user={}", whoami()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        match installed {
            Ok(status) => assert!(status.success(), "mariadb-install-db failed"),
            Err(error) => {
                skip::unavailable(
                    "MariaDB's server",
                    "REQUIRE_MYSQL",
                    &format!("mariadb-install-db: {error}"),
                );
                return None;
            }
        }
        let mut server = Self {
            dir,
            port,
            child: None,
        };
        server.start();
        Some(server)
    }

    fn start(&mut self) {
        let child = Command::new(mariadbd())
            .arg("--no-defaults")
            .arg(format!("--datadir={}", self.dir.join("data").display()))
            .arg(format!("--port={}", self.port))
            .arg(format!("--socket={}", self.dir.join("sock").display()))
            .arg(format!("--pid-file={}", self.dir.join("pid").display()))
            .arg(format!(
                "--log-error={}",
                self.dir.join("err.log").display()
            ))
            .arg(format!("--user={}", whoami()))
            .args(["--bind-address=127.0.0.1", "--skip-name-resolve"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mariadbd");
        self.child = Some(child);
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "mariadbd did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server by its PID (SIGKILL: gone at once, like a crash) and waits for it.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}/mysql", self.port)
    }

    fn pool(&self, max: u32) -> MySqlPool {
        MySqlPoolOptions::new()
            .max_connections(max)
            .connect_lazy(&self.url())
            .unwrap()
    }

    /// Queries running on the server whose text contains `text` (text or prepared), from
    /// another connection.
    async fn running(&self, text: &str) -> i64 {
        let pool = self.pool(1);
        let (count,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND IN ('Query', 'Execute') AND INSTR(INFO, ?) > 0 AND ID <> CONNECTION_ID()",
        )
        .bind(text)
        .fetch_one(&pool)
        .await
        .unwrap();
        pool.close().await;
        count
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn whoami() -> String {
    let out = Command::new("id").arg("-un").output().unwrap().stdout;
    String::from_utf8(out).unwrap().trim().to_owned()
}

fn mariadbd() -> PathBuf {
    ["/usr/sbin/mariadbd", "/usr/sbin/mysqld"]
        .into_iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
        .unwrap_or_else(|| PathBuf::from("mariadbd"))
}

async fn slow_queries_are_killed(server: &Server) {
    let pool = server.pool(2);
    let check = SqlxCheck::new(pool.clone()).query("SELECT SLEEP(5)");
    let slow = checker(check).report().await.components.remove(0);
    assert_eq!(slow.status, HealthStatus::Unhealthy);
    eprintln!("slow: {:?}", slow.message);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        server.running("SLEEP(5)").await,
        0,
        "the abandoned query was killed"
    );

    // The checker gives up first (the check's own limit is far longer): killed all the same.
    let dropped = SqlxCheck::new(pool.clone())
        .query("SELECT SLEEP(5)")
        .timeout(Duration::from_secs(60));
    let component = checker(dropped).report().await.components.remove(0);
    assert_eq!(component.message.as_deref(), Some("timed out after 500 ms"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.running("SLEEP(5)").await, 0, "killed when dropped");

    // Control: the same query in a hand-written check is left running when the checker
    // gives up on it.
    let plain = move || {
        let pool = pool.clone();
        async move {
            sqlx::query("SELECT SLEEP(5)")
                .execute(&pool)
                .await
                .map(drop)
        }
    };
    let _ = checker(plain).report().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        server.running("SLEEP(5)").await,
        1,
        "control: a hand-written check's query runs on"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_is_checked_on_the_apps_pool_bounded_and_recovered_from() {
    let Some(server) = Server::new() else {
        return;
    };
    slow_queries_are_killed(&server).await;

    let pool = server.pool(2);
    let checker = checker(SqlxCheck::new(pool.clone()));
    let server = std::cell::RefCell::new(server);
    let up = stops_and_recovers(
        &checker,
        || server.borrow_mut().stop(),
        || server.borrow_mut().start(),
    )
    .await;
    assert_eq!(up.metadata["pool_max"], 2);

    let held = [pool.acquire().await.unwrap(), pool.acquire().await.unwrap()];
    says_the_pool_is_full(&checker, 2).await;
    drop(held);
}
