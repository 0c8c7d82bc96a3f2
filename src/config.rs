//! Configuration of `serve`: defaults < config file (TOML) < environment < flags.
//!
//! Every setting is a flag with an environment variable (`NOTARIUM_…`) and a key of the same
//! name in the file. Loading configuration never writes files.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Deserialize;

use crate::http::upload_budget::{DEFAULT_UPLOAD_BUDGET, MIN_UPLOAD_BUDGET};
use crate::http::CacheConfig;
use crate::storage::PoolSettings;

/// `serve` flags; each also reads its environment variable.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct ServeArgs {
    /// TOML configuration file; its keys are the long flag names with `_` for `-`.
    #[arg(long, env = "NOTARIUM_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:4443].
    #[arg(long, env = "NOTARIUM_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Directory for the embedded database, generated TLS files and the development KEK
    /// [default: ./notarium-data].
    #[arg(long, env = "NOTARIUM_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL [default: sqlite://DATA_DIR/notarium.db].
    #[arg(long, env = "NOTARIUM_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Most database connections per process [default: 16].
    #[arg(long, env = "NOTARIUM_DATABASE_MAX_CONNECTIONS")]
    pub database_max_connections: Option<u32>,
    /// Database connections kept open when idle [default: 1].
    #[arg(long, env = "NOTARIUM_DATABASE_MIN_CONNECTIONS")]
    pub database_min_connections: Option<u32>,
    /// Seconds a request waits for a free database connection [default: 10].
    #[arg(long, env = "NOTARIUM_DATABASE_ACQUIRE_TIMEOUT")]
    pub database_acquire_timeout: Option<u64>,
    /// PEM certificate chain; with --tls-key. Without both, a local CA is generated.
    #[arg(long, env = "NOTARIUM_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "NOTARIUM_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Mutual TLS: require every client to present a certificate issued by a CA in this PEM
    /// file (with --tls-cert and --tls-key).
    #[arg(long, env = "NOTARIUM_TLS_CLIENT_CA")]
    pub tls_client_ca: Option<PathBuf>,
    /// Serve plain HTTP, for running behind a TLS-terminating proxy.
    #[arg(long, env = "NOTARIUM_PLAIN_HTTP", num_args = 0..=1, default_missing_value = "true")]
    pub plain_http: Option<bool>,
    /// File holding the key-encryption key (32 bytes, base64) that seals server keys.
    /// The variable NOTARIUM_KEY_ENCRYPTION_KEY may hold the key itself instead. Without
    /// either, a development key is generated in the data directory.
    #[arg(long, env = "NOTARIUM_KEY_ENCRYPTION_KEY_FILE")]
    pub key_encryption_key_file: Option<PathBuf>,
    /// Log format: `human` or `json` [default: human].
    #[arg(long, env = "NOTARIUM_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Token authentication: where clients get tokens (the challenge's realm). With
    /// --auth-token-service, --auth-token-issuer and --auth-token-root-cert-bundle, every route
    /// but health requires a bearer token.
    #[arg(long, env = "NOTARIUM_AUTH_TOKEN_REALM")]
    pub auth_token_realm: Option<String>,
    /// The audience tokens must name (the challenge's service).
    #[arg(long, env = "NOTARIUM_AUTH_TOKEN_SERVICE")]
    pub auth_token_service: Option<String>,
    /// The issuer (`iss`) tokens must name.
    #[arg(long, env = "NOTARIUM_AUTH_TOKEN_ISSUER")]
    pub auth_token_issuer: Option<String>,
    /// PEM file of the certificates that sign tokens.
    #[arg(long, env = "NOTARIUM_AUTH_TOKEN_ROOT_CERT_BUNDLE")]
    pub auth_token_root_cert_bundle: Option<PathBuf>,
    /// Be your own token service: users in this htpasswd file (bcrypt, `htpasswd -B`) get
    /// tokens from `/auth/token` on this server, signed by a key kept in the data directory.
    /// Every route but health then requires a token. Realm defaults to this server's
    /// `/auth/token`, service and issuer to `notarium`.
    #[arg(long, env = "NOTARIUM_AUTH_USERS")]
    pub auth_users: Option<PathBuf>,
    /// Seconds between background passes that renew timestamps close to expiry with no client
    /// traffic (0 turns them off) [default: 3600].
    #[arg(long, env = "NOTARIUM_RENEW_INTERVAL")]
    pub renew_interval: Option<u64>,
    /// Cache-Control max-age for current metadata, seconds [default: 300].
    #[arg(long, env = "NOTARIUM_CACHE_CURRENT_MAX_AGE")]
    pub cache_current_max_age: Option<u32>,
    /// Cache-Control max-age for metadata by version or checksum, seconds [default: 2592000].
    #[arg(long, env = "NOTARIUM_CACHE_CONSISTENT_MAX_AGE")]
    pub cache_consistent_max_age: Option<u32>,
    /// Bytes of memory that updates in flight may use, server-wide (each is charged 16 times its
    /// body); an update that does not fit waits briefly, then gets 503 (at least 16777216)
    /// [default: 268435456].
    #[arg(long, env = "NOTARIUM_UPLOAD_BUDGET")]
    pub upload_budget: Option<usize>,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Lines for people.
    Human,
    /// One JSON object per line.
    Json,
}

/// The file form of [`ServeArgs`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    database_max_connections: Option<u32>,
    database_min_connections: Option<u32>,
    database_acquire_timeout: Option<u64>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_client_ca: Option<PathBuf>,
    plain_http: Option<bool>,
    key_encryption_key_file: Option<PathBuf>,
    log_format: Option<LogFormat>,
    cache_current_max_age: Option<u32>,
    cache_consistent_max_age: Option<u32>,
    auth_token_realm: Option<String>,
    auth_token_service: Option<String>,
    auth_token_issuer: Option<String>,
    auth_token_root_cert_bundle: Option<PathBuf>,
    auth_users: Option<PathBuf>,
    renew_interval: Option<u64>,
    upload_budget: Option<usize>,
}

/// How the listener speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// TLS with the given files.
    Tls {
        /// Certificate chain.
        cert: PathBuf,
        /// Private key.
        key: PathBuf,
        /// CA certificates client certificates must chain to (mutual TLS), if any.
        client_ca: Option<PathBuf>,
    },
    /// TLS with a local CA generated in the data directory.
    GeneratedTls,
    /// Plain HTTP behind a proxy.
    Plain,
}

/// Where the key-encryption key comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum KekSource {
    /// The key itself, from the environment.
    Inline(String),
    /// A file holding it.
    File(PathBuf),
    /// A development key generated in the data directory.
    Development(PathBuf),
}

impl std::fmt::Debug for KekSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KekSource::Inline(_) => f.write_str("Inline(<redacted>)"),
            KekSource::File(p) => write!(f, "File({})", p.display()),
            KekSource::Development(p) => write!(f, "Development({})", p.display()),
        }
    }
}

/// The resolved configuration of `serve`.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address.
    pub listen: SocketAddr,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Database URL.
    pub database_url: String,
    /// Database connection pool.
    pub pool: PoolSettings,
    /// TLS or plain.
    pub transport: Transport,
    /// Key-encryption key source.
    pub kek: KekSource,
    /// Log format.
    pub log_format: LogFormat,
    /// Cache lifetimes.
    pub cache: CacheConfig,
    /// Token authentication by an external token service, when configured.
    pub auth: Option<std::sync::Arc<crate::auth::TokenAuth>>,
    /// The built-in token service's users file, when it is on (see [`ServeArgs::auth_users`]).
    pub auth_users: Option<BuiltInAuth>,
    /// Time between background renewal passes; zero for none.
    pub renew_interval: std::time::Duration,
    /// Update body bytes in memory at once (see [`ServeArgs::upload_budget`]).
    pub upload_budget: usize,
}

/// Settings of the built-in token service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltInAuth {
    /// htpasswd file.
    pub users: PathBuf,
    /// Realm to announce, when not this server's own `/auth/token`.
    pub realm: Option<String>,
    /// Service (audience) name.
    pub service: String,
    /// Issuer name.
    pub issuer: String,
}

/// The longest max-age notary accepts (one year).
const MAX_AGE_LIMIT: u32 = 31_536_000;

impl Config {
    /// Resolves flags and environment (already merged by clap) over the file over defaults.
    /// `inline_kek` is the value of `NOTARIUM_KEY_ENCRYPTION_KEY`, if set.
    pub fn resolve(args: &ServeArgs, inline_kek: Option<String>) -> anyhow::Result<Config> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let data_dir = args
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("notarium-data"));
        let database_url = args
            .database_url
            .clone()
            .or(file.database_url)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("notarium.db").display()));
        let plain = args.plain_http.or(file.plain_http).unwrap_or(false);
        let cert = args.tls_cert.clone().or(file.tls_cert);
        let key = args.tls_key.clone().or(file.tls_key);
        let client_ca = args.tls_client_ca.clone().or(file.tls_client_ca);
        let transport = match (plain, cert, key) {
            (true, None, None) if client_ca.is_none() => Transport::Plain,
            (true, _, _) => {
                anyhow::bail!("plain_http cannot be combined with tls_cert/tls_key/tls_client_ca")
            }
            (false, Some(cert), Some(key)) => Transport::Tls {
                cert,
                key,
                client_ca,
            },
            (false, None, None) if client_ca.is_none() => Transport::GeneratedTls,
            (false, None, None) => {
                anyhow::bail!("tls_client_ca needs your own tls_cert and tls_key")
            }
            (false, _, _) => anyhow::bail!("tls_cert and tls_key must be given together"),
        };
        let kek = match (
            inline_kek,
            args.key_encryption_key_file
                .clone()
                .or(file.key_encryption_key_file),
        ) {
            (Some(k), _) => KekSource::Inline(k),
            (None, Some(path)) => KekSource::File(path),
            (None, None) => KekSource::Development(data_dir.join("key-encryption-key")),
        };
        let cache = CacheConfig {
            current: args
                .cache_current_max_age
                .or(file.cache_current_max_age)
                .unwrap_or(CacheConfig::default().current),
            consistent: args
                .cache_consistent_max_age
                .or(file.cache_consistent_max_age)
                .unwrap_or(CacheConfig::default().consistent),
        };
        anyhow::ensure!(
            cache.current <= MAX_AGE_LIMIT && cache.consistent <= MAX_AGE_LIMIT,
            "cache max-age must be between 0 and {MAX_AGE_LIMIT} seconds"
        );
        let realm = args.auth_token_realm.clone().or(file.auth_token_realm);
        let service = args.auth_token_service.clone().or(file.auth_token_service);
        let issuer = args.auth_token_issuer.clone().or(file.auth_token_issuer);
        let bundle = args
            .auth_token_root_cert_bundle
            .clone()
            .or(file.auth_token_root_cert_bundle);
        let (auth, auth_users) = match args.auth_users.clone().or(file.auth_users) {
            Some(users) => {
                anyhow::ensure!(
                    bundle.is_none(),
                    "auth_users (the built-in token service) cannot be combined with \
                     auth_token_root_cert_bundle (an external one)"
                );
                let built_in = BuiltInAuth {
                    users,
                    realm,
                    service: service.unwrap_or_else(|| "notarium".to_owned()),
                    issuer: issuer.unwrap_or_else(|| "notarium".to_owned()),
                };
                (None, Some(built_in))
            }
            None => (resolve_auth(realm, service, issuer, bundle)?, None),
        };
        let defaults = PoolSettings::default();
        let pool = PoolSettings {
            max_connections: args
                .database_max_connections
                .or(file.database_max_connections)
                .unwrap_or(defaults.max_connections),
            min_connections: args
                .database_min_connections
                .or(file.database_min_connections)
                .unwrap_or(defaults.min_connections),
            acquire_timeout: args
                .database_acquire_timeout
                .or(file.database_acquire_timeout)
                .map_or(defaults.acquire_timeout, std::time::Duration::from_secs),
        };
        anyhow::ensure!(
            pool.max_connections >= 1 && pool.min_connections <= pool.max_connections,
            "database_max_connections must be at least 1 and at least database_min_connections"
        );
        let upload_budget = args
            .upload_budget
            .or(file.upload_budget)
            .unwrap_or(DEFAULT_UPLOAD_BUDGET);
        anyhow::ensure!(
            upload_budget >= MIN_UPLOAD_BUDGET,
            "upload_budget must be at least {MIN_UPLOAD_BUDGET} bytes"
        );
        Ok(Config {
            listen: args
                .listen
                .or(file.listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 4443))),
            data_dir,
            database_url,
            pool,
            transport,
            kek,
            log_format: args
                .log_format
                .or(file.log_format)
                .unwrap_or(LogFormat::Human),
            cache,
            auth,
            auth_users,
            renew_interval: std::time::Duration::from_secs(
                args.renew_interval.or(file.renew_interval).unwrap_or(3600),
            ),
            upload_budget,
        })
    }
}

/// Token authentication from its four settings: all or none.
fn resolve_auth(
    realm: Option<String>,
    service: Option<String>,
    issuer: Option<String>,
    bundle: Option<PathBuf>,
) -> anyhow::Result<Option<std::sync::Arc<crate::auth::TokenAuth>>> {
    match (realm, service, issuer, bundle) {
        (None, None, None, None) => Ok(None),
        (Some(realm), Some(service), Some(issuer), Some(bundle)) => {
            let pem = std::fs::read(&bundle).with_context(|| {
                format!(
                    "could not read the token root certificate bundle {}",
                    bundle.display()
                )
            })?;
            let auth = crate::auth::TokenAuth::new(&realm, &service, &issuer, &pem)
                .map_err(|e| anyhow::anyhow!("token authentication: {e}"))?;
            Ok(Some(std::sync::Arc::new(auth)))
        }
        _ => anyhow::bail!(
            "token authentication needs all of auth_token_realm, auth_token_service, \
             auth_token_issuer and auth_token_root_cert_bundle"
        ),
    }
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("could not read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("could not parse config file {}", path.display()))
}

/// A configuration file with every key, its default and what it does: what
/// `notarium print-default-config` prints. Keys without a default are commented out.
pub fn default_config_toml() -> String {
    let pool = PoolSettings::default();
    let cache = CacheConfig::default();
    format!(
        r#"# Notarium configuration. Precedence: this file < NOTARIUM_* environment < flags.

# Address to listen on.
listen = "127.0.0.1:4443"
# Embedded database, generated TLS files and the development key-encryption key.
data_dir = "notarium-data"
# Database: sqlite://PATH (default: DATA_DIR/notarium.db) or postgres://USER@HOST:PORT/DB.
# database_url = "postgres://notarium@db.example.com:5432/notarium"
database_max_connections = {max}
database_min_connections = {min}
# Seconds a request waits for a database connection.
database_acquire_timeout = {acquire}

# Your own certificate chain and key; without both, a local CA is generated in data_dir.
# tls_cert = "/etc/notarium/server.crt"
# tls_key = "/etc/notarium/server.key"
# Mutual TLS: clients must present a certificate from a CA in this file.
# tls_client_ca = "/etc/notarium/client-ca.pem"
# Plain HTTP, behind a TLS-terminating proxy.
plain_http = false

# 32 random bytes, base64, sealing the server's private keys. Required in production (or the
# key itself in NOTARIUM_KEY_ENCRYPTION_KEY); without it a development key is generated.
# key_encryption_key_file = "/etc/notarium/kek"

# human or json.
log_format = "human"
# Cache-Control max-age (seconds) of current metadata, and of metadata by version or hash.
cache_current_max_age = {current}
cache_consistent_max_age = {consistent}
# Seconds between background passes renewing timestamps close to expiry (0: off).
renew_interval = 3600
# Bytes of memory that updates in flight may use (each is charged 16 times its body); an update
# that does not fit waits briefly, then gets 503 with Retry-After.
upload_budget = {upload_budget}

# Token authentication by a registry's token service (all four, or none):
# auth_token_realm = "https://registry.example.com/auth/token"
# auth_token_service = "notarium.example.com"
# auth_token_issuer = "registry-token-issuer"
# auth_token_root_cert_bundle = "/etc/notarium/token-ca.pem"
# Or be your own token service, with users from an htpasswd file (bcrypt):
# auth_users = "/etc/notarium/htpasswd"
"#,
        max = pool.max_connections,
        min = pool.min_connections,
        acquire = pool.acquire_timeout.as_secs(),
        current = cache.current,
        consistent = cache.consistent,
        upload_budget = DEFAULT_UPLOAD_BUDGET,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_file_beat_defaults() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notarium.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\ndata_dir = \"/srv/n\"\ncache_current_max_age = 60\n",
        )
        .expect("write config");
        let args = ServeArgs {
            config: Some(path),
            listen: Some("127.0.0.1:9100".parse().expect("addr")),
            ..ServeArgs::default()
        };
        let config = Config::resolve(&args, None).expect("valid config");
        assert_eq!(config.listen.port(), 9100, "the flag wins over the file");
        assert_eq!(
            config.data_dir,
            PathBuf::from("/srv/n"),
            "the file wins over the default"
        );
        assert_eq!(config.cache.current, 60);
        assert_eq!(config.cache.consistent, 2_592_000, "defaults fill the rest");
        assert_eq!(config.database_url, "sqlite:///srv/n/notarium.db");
        assert_eq!(config.transport, Transport::GeneratedTls);
        assert_eq!(
            config.kek,
            KekSource::Development(PathBuf::from("/srv/n/key-encryption-key"))
        );
    }

    #[test]
    fn refuses_unknown_keys_and_mixed_transport() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "lisen = \"x\"\n").expect("write");
        let args = ServeArgs {
            config: Some(path),
            ..ServeArgs::default()
        };
        Config::resolve(&args, None).expect_err("a misspelt key is an error");
        let args = ServeArgs {
            plain_http: Some(true),
            tls_cert: Some("c".into()),
            tls_key: Some("k".into()),
            ..ServeArgs::default()
        };
        Config::resolve(&args, None).expect_err("plain HTTP with TLS files is contradictory");
        assert_eq!(
            format!("{:?}", KekSource::Inline("secret".into())),
            "Inline(<redacted>)"
        );
    }

    #[test]
    fn the_default_config_names_only_real_keys() {
        // Uncommented, every line must be a key the file accepts (unknown keys are refused).
        let text = default_config_toml();
        let mut uncommented = String::new();
        for line in text.lines() {
            let key_line = line.trim_start_matches("# ");
            if key_line.contains(" = ") && !key_line.contains(". ") {
                uncommented.push_str(key_line);
                uncommented.push('\n');
            }
        }
        let file: FileConfig = toml::from_str(&uncommented).expect("every key is known");
        assert_eq!(file.listen, Some("127.0.0.1:4443".parse().expect("addr")));
        assert_eq!(file.renew_interval, Some(3600));
        assert!(file.auth_users.is_some() && file.auth_token_realm.is_some());
        // And as printed (with the optional keys commented out) it resolves on its own.
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notarium.toml");
        std::fs::write(&path, &text).expect("write");
        let args = ServeArgs {
            config: Some(path),
            ..ServeArgs::default()
        };
        let config = Config::resolve(&args, None).expect("the printed defaults resolve");
        assert_eq!(config.pool, PoolSettings::default());
    }
}
