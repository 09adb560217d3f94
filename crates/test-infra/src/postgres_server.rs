//! A private PostgreSQL on a random port that accepts only TLS (`hostssl` in `pg_hba.conf`),
//! with a certificate authority made for it: tests of `sslmode` connect to it, never to the
//! shared instance. The server runs as the `postgres` user (initdb refuses root) and is stopped
//! by its data directory when the value is dropped.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// PostgreSQL binaries of the machine's server package.
const BIN: &str = "/usr/lib/postgresql/15/bin";

#[derive(Debug)]
pub struct PrivatePostgres {
    pub port: u16,
    /// The CA that signed the server's certificate, issued for the address 127.0.0.1 only (so
    /// `localhost` is a name it does not hold).
    pub ca_file: PathBuf,
    /// A CA that signed nothing the server shows.
    pub foreign_ca_file: PathBuf,
    directory: PathBuf,
}

impl PrivatePostgres {
    /// initdb, a CA and a server certificate, `ssl=on` and `hostssl` only, then start (`-w`
    /// waits until the server accepts connections).
    pub fn start_tls_only() -> Self {
        let port = crate::free_port();
        let directory =
            std::env::temp_dir().join(format!("test-postgres-{}", uuid::Uuid::new_v4()));
        let data = directory.join("data");
        std::fs::create_dir_all(&directory).expect("a temporary directory");
        let server = Self {
            port,
            ca_file: directory.join("ca.crt"),
            foreign_ca_file: directory.join("foreign-ca.crt"),
            directory,
        };
        run(Command::new("chown").args(["postgres:postgres", &server.path(&server.directory)]));
        run(as_postgres("initdb").args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "-D",
            &server.path(&data),
        ]));
        server.make_certificates(&data);
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
        )
        .expect("pg_hba.conf");
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c ssl=on \
             -c ssl_cert_file=server.crt -c ssl_key_file=server.key",
            server.path(&server.directory)
        );
        let log = server.path(&server.directory.join("log"));
        run(as_postgres("pg_ctl").args([
            "-D",
            &server.path(&data),
            "-o",
            &options,
            "-l",
            &log,
            "-w",
            "start",
        ]));
        server
    }

    /// A URL for `database` as the superuser `postgres`, with `query` (e.g. `sslmode=require`).
    pub fn url(&self, database: &str, query: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{database}?{query}",
            self.port
        )
    }

    /// The CA and the server's key and certificate (ECDSA P-256), and a foreign CA.
    fn make_certificates(&self, data: &Path) {
        let dir = &self.directory;
        let ca_key = self.path(&dir.join("ca.key"));
        new_ca(&ca_key, &self.path(&self.ca_file), "test-ca");
        new_ca(
            &self.path(&dir.join("foreign-ca.key")),
            &self.path(&self.foreign_ca_file),
            "foreign-ca",
        );
        let key = self.path(&data.join("server.key"));
        let request = self.path(&dir.join("server.csr"));
        let extensions = dir.join("server.ext");
        std::fs::write(
            &extensions,
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .expect("extensions file");
        run(openssl_new_key(&key).args(["-subj", "/CN=127.0.0.1", "-out", &request]));
        run(Command::new("openssl").args([
            "x509",
            "-req",
            "-in",
            &request,
            "-CA",
            &self.path(&self.ca_file),
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &self.path(&extensions),
            "-out",
            &self.path(&data.join("server.crt")),
        ]));
        // The server refuses a key others may read.
        run(Command::new("chown").args([
            "postgres:postgres",
            &key,
            &self.path(&data.join("server.crt")),
        ]));
        run(Command::new("chmod").args(["600", &key]));
    }

    fn path(&self, path: &Path) -> String {
        path.to_str().expect("a UTF-8 temporary path").to_owned()
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.path(&self.directory.join("data"));
        let _ = as_postgres("pg_ctl")
            .args(["-D", &data, "-m", "immediate", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}

fn as_postgres(binary: &str) -> Command {
    let mut command = Command::new("runuser");
    command.args(["-u", "postgres", "--", &format!("{BIN}/{binary}")]);
    command
}

fn openssl_new_key(key: &str) -> Command {
    let mut command = Command::new("openssl");
    command.args([
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        key,
    ]);
    command
}

fn new_ca(key: &str, certificate: &str, name: &str) {
    run(openssl_new_key(key).args([
        "-x509",
        "-days",
        "2",
        "-subj",
        &format!("/CN={name}"),
        "-out",
        certificate,
    ]));
}

/// Runs a set-up step; its output shows only when it fails.
fn run(command: &mut Command) {
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("{command:?} starts: {error}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
