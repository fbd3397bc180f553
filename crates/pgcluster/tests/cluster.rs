//! Starts real clusters and talks to them with tokio-postgres.

// Tests fail by panicking, and run on the host, where there is a real clock
// (the bans are for shipped and wasm32 code, see clippy.toml).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use std::path::PathBuf;
use std::time::Instant;

use pgcluster::{Cluster, ClusterOptions};

/// Connects with the given password; returns the SQLSTATE on failure.
async fn try_connect(cluster: &Cluster, password: &str) -> Result<tokio_postgres::Client, String> {
    let mut config = tokio_postgres::Config::new();
    config
        .host(cluster.host())
        .port(cluster.port())
        .user(cluster.user())
        .password(password)
        .dbname(cluster.database());
    match config.connect(tokio_postgres::NoTls).await {
        Ok((client, connection)) => {
            tokio::spawn(connection);
            Ok(client)
        }
        Err(e) => Err(e
            .code()
            .map(|c| c.code().to_owned())
            .unwrap_or_else(|| e.to_string())),
    }
}

#[tokio::test]
async fn temporary_cluster_authenticates_by_password_and_is_removed_on_drop() {
    let started = Instant::now();
    let cluster = Cluster::start(ClusterOptions::default()).expect("start");
    eprintln!("temporary cluster started in {:?}", started.elapsed());

    assert_eq!(cluster.host(), "127.0.0.1");
    assert_eq!(cluster.user(), "strata");
    assert_eq!(cluster.database(), "strata");
    assert!(cluster.password().len() >= 16);
    assert_eq!(
        cluster.database_url(),
        format!(
            "postgres://strata:{}@127.0.0.1:{}/strata",
            cluster.password(),
            cluster.port()
        )
    );

    let client = try_connect(&cluster, cluster.password())
        .await
        .expect("right password");
    let row = client
        .query_one("select current_user::text, current_database()::text", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "strata");
    assert_eq!(row.get::<_, String>(1), "strata");
    // Only TCP on loopback is configured.
    let listen: String = client
        .query_one("show listen_addresses", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(listen, "127.0.0.1");
    drop(client);

    assert_eq!(
        try_connect(&cluster, "wrong-password")
            .await
            .err()
            .as_deref(),
        Some("28P01")
    );

    // The temporary directory is the one holding the data; find it through the server.
    let client = try_connect(&cluster, cluster.password()).await.unwrap();
    let data_dir: String = client
        .query_one("show data_directory", &[])
        .await
        .unwrap()
        .get(0);
    drop(client);
    let data_dir = PathBuf::from(data_dir);
    assert!(data_dir.join("PG_VERSION").is_file());

    let port = cluster.port();
    cluster.stop();
    assert!(!data_dir.exists(), "{} should be gone", data_dir.display());
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "server still listening after stop"
    );
}

#[tokio::test]
async fn persistent_cluster_is_reused_with_the_same_password() {
    let base = std::env::temp_dir().join(format!("pgcluster-persist-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    let data_dir = base.join("pg");
    let opts = ClusterOptions {
        data_dir: Some(data_dir.clone()),
        database: "app".into(),
        ..ClusterOptions::default()
    };

    let first = Cluster::start(opts.clone()).expect("first start");
    let password = first.password().to_owned();
    let client = try_connect(&first, &password).await.unwrap();
    client
        .batch_execute("create table kept (v text); insert into kept values ('still here')")
        .await
        .unwrap();
    drop(client);
    first.stop();
    assert!(data_dir.join("PG_VERSION").is_file(), "data survives stop");
    assert!(base.join("pg.credentials").is_file());

    let started = Instant::now();
    let second = Cluster::start(opts.clone()).expect("second start");
    eprintln!("persistent cluster restarted in {:?}", started.elapsed());
    assert_eq!(second.password(), password);
    let client = try_connect(&second, &password).await.unwrap();
    let v: String = client
        .query_one("select v from kept", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(v, "still here");
    drop(client);
    second.stop();

    // A different explicit password replaces the stored one.
    let third = Cluster::start(ClusterOptions {
        password: Some("n3w p@ss".into()),
        ..opts.clone()
    })
    .expect("third start");
    assert_eq!(third.password(), "n3w p@ss");
    assert!(try_connect(&third, &password).await.is_err());
    drop(
        try_connect(&third, "n3w p@ss")
            .await
            .expect("new password works"),
    );
    drop(third);
    let fourth = Cluster::start(opts).expect("fourth start");
    assert_eq!(fourth.password(), "n3w p@ss", "the new password was stored");
    drop(fourth);

    std::fs::remove_dir_all(&base).unwrap();
}

#[test]
fn foreign_directory_is_refused() {
    let dir = std::env::temp_dir().join(format!("pgcluster-foreign-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("important.txt"), "do not touch").unwrap();
    let err = Cluster::start(ClusterOptions {
        data_dir: Some(dir.clone()),
        ..ClusterOptions::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("neither empty nor"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.join("important.txt")).unwrap(),
        "do not touch"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Set in the helper process of `server_dies_with_its_parent`.
const ORPHAN_HELPER: &str = "PGCLUSTER_ORPHAN_HELPER";

#[test]
fn server_dies_with_its_parent_even_on_sigkill() {
    use std::io::BufRead;

    if std::env::var_os(ORPHAN_HELPER).is_some() {
        // Helper mode: start a cluster, say where it is, and wait to be killed.
        let cluster = Cluster::start(ClusterOptions::default()).expect("helper start");
        println!("READY {} {}", cluster.port(), cluster.data_dir().display());
        std::thread::sleep(std::time::Duration::from_secs(120));
        return;
    }

    let mut helper = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "server_dies_with_its_parent_even_on_sigkill",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ORPHAN_HELPER, "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = helper.stdout.take().unwrap();
    let line = std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        // libtest prints `test name ... ` before our output on the same line.
        .find_map(|l| l.split_once("READY ").map(|(_, rest)| rest.to_owned()))
        .expect("helper printed READY");
    let mut parts = line.split(' ');
    let port: u16 = parts.next().unwrap().parse().unwrap();
    let data_dir = PathBuf::from(parts.next().unwrap());
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());

    helper.kill().unwrap(); // SIGKILL: no destructor runs in the helper.
    helper.wait().unwrap();

    let deadline = Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(Instant::now() < deadline, "postgres outlived its parent");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // The next start sweeps the orphaned directory once the server is fully gone.
    let deadline = Instant::now() + std::time::Duration::from_secs(20);
    while data_dir.join("postmaster.pid").exists() && Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let next = Cluster::start(ClusterOptions::default()).unwrap();
    assert!(
        !data_dir.exists(),
        "orphaned {} not swept",
        data_dir.display()
    );
    drop(next);
}
