//! Configuration of `serve`: defaults < config file (TOML) < environment < flags.
//!
//! Each setting is written once, as a field of [`ServeArgs`]. Its doc comment is the help of
//! its flag and the comment above its key in `print-default-config`; its `#[arg]` names the
//! flag (the field name, `-` for `_`) and the environment variable (`NOTARIUM_` and the field
//! name in capitals); the file key is the field name. Its default, or an example when it has
//! none, is in [`ServeArgs::defaults`] or [`ServeArgs::examples`]: both are struct literals
//! without `..`, so a new field does not compile until it is in both, and a test checks that
//! each field is set in exactly one. Layers are merged without naming any setting: every
//! layer's set keys replace the ones below ([`ServeArgs::over`]). Loading configuration never
//! writes files.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::http::upload_budget::{DEFAULT_UPLOAD_BUDGET, MIN_UPLOAD_BUDGET};
use crate::http::CacheConfig;
use crate::storage::PoolSettings;

/// Every setting of `serve`, as flags (each also read from its environment variable) and as
/// the keys of the configuration file. `None` is "not set in this layer".
#[derive(Debug, Default, Clone, PartialEq, clap::Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeArgs {
    /// TOML configuration file; its keys are the long flag names with `_` for `-`.
    #[arg(long, env = "NOTARIUM_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "NOTARIUM_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Directory for the embedded database, generated TLS files and the development
    /// key-encryption key.
    #[arg(long, env = "NOTARIUM_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database: sqlite://PATH or postgres://USER@HOST:PORT/DB [default:
    /// sqlite://DATA_DIR/notarium.db].
    #[arg(long, env = "NOTARIUM_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Most database connections per process.
    #[arg(long, env = "NOTARIUM_DATABASE_MAX_CONNECTIONS")]
    pub database_max_connections: Option<u32>,
    /// Database connections kept open when idle.
    #[arg(long, env = "NOTARIUM_DATABASE_MIN_CONNECTIONS")]
    pub database_min_connections: Option<u32>,
    /// Seconds a request waits for a free database connection.
    #[arg(long, env = "NOTARIUM_DATABASE_ACQUIRE_TIMEOUT")]
    pub database_acquire_timeout: Option<u64>,
    /// PEM certificate chain; with --tls-key. Without both, a local CA is generated in the
    /// data directory.
    #[arg(long, env = "NOTARIUM_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "NOTARIUM_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Mutual TLS: require every client to present a certificate issued by a CA in this PEM
    /// file (with --tls-cert and --tls-key).
    #[arg(long, env = "NOTARIUM_TLS_CLIENT_CA")]
    pub tls_client_ca: Option<PathBuf>,
    /// Extra DNS names or IP addresses the generated certificate covers, besides localhost,
    /// 127.0.0.1, ::1 and this machine's host name (repeat the flag, or separate with commas).
    #[arg(
        long,
        env = "NOTARIUM_TLS_SAN",
        value_name = "NAME",
        value_delimiter = ','
    )]
    pub tls_san: Option<Vec<String>>,
    /// Serve plain HTTP, for running behind a TLS-terminating proxy.
    #[arg(long, env = "NOTARIUM_PLAIN_HTTP", num_args = 0..=1, default_missing_value = "true")]
    pub plain_http: Option<bool>,
    /// File holding the key-encryption key (32 bytes, base64) that seals server keys; required
    /// in production. The variable NOTARIUM_KEY_ENCRYPTION_KEY may hold the key itself
    /// instead. Without either, a development key is generated in the data directory.
    #[arg(long, env = "NOTARIUM_KEY_ENCRYPTION_KEY_FILE")]
    pub key_encryption_key_file: Option<PathBuf>,
    /// Log format: `human` or `json`.
    #[arg(long, env = "NOTARIUM_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Token authentication: where clients get tokens (the challenge's realm). With
    /// --auth-token-service, --auth-token-issuer and --auth-token-root-cert-bundle, every route
    /// but health requires a bearer token from a registry's token service.
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
    /// traffic (0 turns them off).
    #[arg(long, env = "NOTARIUM_RENEW_INTERVAL")]
    pub renew_interval: Option<u64>,
    /// Cache-Control max-age for current metadata, seconds.
    #[arg(long, env = "NOTARIUM_CACHE_CURRENT_MAX_AGE")]
    pub cache_current_max_age: Option<u32>,
    /// Cache-Control max-age for metadata by version or checksum, seconds.
    #[arg(long, env = "NOTARIUM_CACHE_CONSISTENT_MAX_AGE")]
    pub cache_consistent_max_age: Option<u32>,
    /// Bytes of memory that updates in flight may use, server-wide (each is charged 16 times
    /// its body, parsing included); an update that does not fit waits briefly, then gets 503
    /// with Retry-After. At least 16777216.
    #[arg(long, env = "NOTARIUM_UPLOAD_BUDGET", value_name = "BYTES")]
    pub upload_budget: Option<usize>,
    /// A trust policy (YAML, docs/enforcement.md): serves `POST /v1/verify`, which checks
    /// images against it with this server's trust data (and any trust server a rule names).
    /// Reloaded on SIGHUP; a policy that does not load leaves the old one in force.
    #[arg(long, env = "NOTARIUM_POLICY", value_name = "FILE")]
    pub policy: Option<PathBuf>,
}

impl ServeArgs {
    /// The default of every setting that has one; `None` for those off or derived when unset
    /// (each of those has an example in [`ServeArgs::examples`] instead).
    pub fn defaults() -> ServeArgs {
        let pool = PoolSettings::default();
        let cache = CacheConfig::default();
        ServeArgs {
            config: None,
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 4443))),
            data_dir: Some(PathBuf::from("notarium-data")),
            database_url: None,
            database_max_connections: Some(pool.max_connections),
            database_min_connections: Some(pool.min_connections),
            database_acquire_timeout: Some(pool.acquire_timeout.as_secs()),
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            tls_san: None,
            plain_http: Some(false),
            key_encryption_key_file: None,
            log_format: Some(LogFormat::Human),
            auth_token_realm: None,
            auth_token_service: None,
            auth_token_issuer: None,
            auth_token_root_cert_bundle: None,
            auth_users: None,
            renew_interval: Some(3600),
            cache_current_max_age: Some(cache.current),
            cache_consistent_max_age: Some(cache.consistent),
            upload_budget: Some(DEFAULT_UPLOAD_BUDGET),
            policy: None,
        }
    }

    /// An example value of each setting without a default, printed commented out.
    pub fn examples() -> ServeArgs {
        let etc = |name: &str| Some(PathBuf::from("/etc/notarium").join(name));
        ServeArgs {
            config: None,
            listen: None,
            data_dir: None,
            database_url: Some("postgres://notarium@db.example.com:5432/notarium".to_owned()),
            database_max_connections: None,
            database_min_connections: None,
            database_acquire_timeout: None,
            tls_cert: etc("server.crt"),
            tls_key: etc("server.key"),
            tls_client_ca: etc("client-ca.pem"),
            tls_san: Some(vec!["notary.example.com".to_owned(), "10.0.0.5".to_owned()]),
            plain_http: None,
            key_encryption_key_file: etc("kek"),
            log_format: None,
            auth_token_realm: Some("https://registry.example.com/auth/token".to_owned()),
            auth_token_service: Some("notarium.example.com".to_owned()),
            auth_token_issuer: Some("registry-token-issuer".to_owned()),
            auth_token_root_cert_bundle: etc("token-ca.pem"),
            auth_users: etc("htpasswd"),
            renew_interval: None,
            cache_current_max_age: None,
            cache_consistent_max_age: None,
            upload_budget: None,
            policy: etc("policy.yaml"),
        }
    }

    /// `self`'s set keys over `below`'s: the merge of two layers, for every setting at once.
    pub fn over(&self, below: &ServeArgs) -> anyhow::Result<ServeArgs> {
        let mut merged = below.to_table()?;
        merged.extend(self.to_table()?);
        let mut args = ServeArgs::deserialize(merged).context("merging configuration layers")?;
        args.config = self.config.clone().or_else(|| below.config.clone());
        Ok(args)
    }

    /// The set keys as a TOML table (unset ones are left out).
    fn to_table(&self) -> anyhow::Result<toml::Table> {
        toml::Table::try_from(self).context("a setting cannot be written as TOML")
    }

    /// The `clap` arguments of every setting, in declaration order.
    pub fn arguments() -> Vec<clap::Arg> {
        use clap::Args as _;
        ServeArgs::augment_args(clap::Command::new("serve"))
            .get_arguments()
            .cloned()
            .collect()
    }

    /// Adds `[default: …]` from [`ServeArgs::defaults`] to the help of each flag that has one,
    /// so that `--help` shows the defaults without their being written twice.
    pub fn document_defaults(command: clap::Command) -> clap::Command {
        let defaults = ServeArgs::defaults().to_table().unwrap_or_default();
        command.mut_args(|arg| {
            let Some(value) = defaults.get(arg.get_id().as_str()) else {
                return arg;
            };
            let shown = match value {
                toml::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            arg.help(format!("{help} [default: {shown}]"))
        })
    }
}

/// The settings the maintenance commands (`keys`, `import`) share with `serve`: where the
/// configuration file, the database and the key-encryption key are. Their flags are
/// [`ServeArgs`]'s own, taken from its definition, so that they are written once.
#[derive(Debug, Clone, Default)]
pub struct StorageArgs {
    /// The four settings; the others stay unset (defaults or the file apply).
    pub args: ServeArgs,
}

/// The [`ServeArgs`] fields a [`StorageArgs`] carries.
const STORAGE_SETTINGS: [&str; 4] = [
    "config",
    "data_dir",
    "database_url",
    "key_encryption_key_file",
];

impl clap::Args for StorageArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        let shared = ServeArgs::arguments()
            .into_iter()
            .filter(|arg| STORAGE_SETTINGS.contains(&arg.get_id().as_str()))
            // Accepted after a subcommand too: `notarium keys list --data-dir …`.
            .map(|arg| arg.global(true));
        ServeArgs::document_defaults(cmd.args(shared))
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        StorageArgs::augment_args(cmd)
    }
}

impl clap::FromArgMatches for StorageArgs {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let mut storage = StorageArgs::default();
        storage.update_from_arg_matches(matches)?;
        Ok(storage)
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        let path = |id: &str| matches.get_one::<PathBuf>(id).cloned();
        let args = &mut self.args;
        args.config = path("config").or(args.config.take());
        args.data_dir = path("data_dir").or(args.data_dir.take());
        args.database_url = matches
            .get_one::<String>("database_url")
            .cloned()
            .or(args.database_url.take());
        args.key_encryption_key_file =
            path("key_encryption_key_file").or(args.key_encryption_key_file.take());
        Ok(())
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Lines for people.
    Human,
    /// One JSON object per line.
    Json,
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
    /// Extra names (DNS names or IP addresses) the generated certificate covers.
    pub tls_san: Vec<String>,
    /// Most bytes of update uploads held in memory at once, server-wide
    /// ([`ServeArgs::upload_budget`]).
    pub upload_budget: usize,
    /// The trust policy file, when `/v1/verify` is served ([`ServeArgs::policy`]).
    pub policy: Option<PathBuf>,
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
            None => ServeArgs::default(),
        };
        let set = args.over(&file.over(&ServeArgs::defaults())?)?;
        let data_dir = defaulted(set.data_dir, "data_dir")?;
        let database_url = set
            .database_url
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("notarium.db").display()));
        let plain = defaulted(set.plain_http, "plain_http")?;
        let client_ca = set.tls_client_ca;
        let transport = match (plain, set.tls_cert, set.tls_key) {
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
        let kek = match (inline_kek, set.key_encryption_key_file) {
            (Some(k), _) => KekSource::Inline(k),
            (None, Some(path)) => KekSource::File(path),
            (None, None) => KekSource::Development(data_dir.join("key-encryption-key")),
        };
        let cache = CacheConfig {
            current: defaulted(set.cache_current_max_age, "cache_current_max_age")?,
            consistent: defaulted(set.cache_consistent_max_age, "cache_consistent_max_age")?,
        };
        anyhow::ensure!(
            cache.current <= MAX_AGE_LIMIT && cache.consistent <= MAX_AGE_LIMIT,
            "cache max-age must be between 0 and {MAX_AGE_LIMIT} seconds"
        );
        let (realm, service, issuer, bundle) = (
            set.auth_token_realm,
            set.auth_token_service,
            set.auth_token_issuer,
            set.auth_token_root_cert_bundle,
        );
        let (auth, auth_users) = match set.auth_users {
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
        let pool = PoolSettings {
            max_connections: defaulted(set.database_max_connections, "database_max_connections")?,
            min_connections: defaulted(set.database_min_connections, "database_min_connections")?,
            acquire_timeout: std::time::Duration::from_secs(defaulted(
                set.database_acquire_timeout,
                "database_acquire_timeout",
            )?),
        };
        anyhow::ensure!(
            pool.max_connections >= 1 && pool.min_connections <= pool.max_connections,
            "database_max_connections must be at least 1 and at least database_min_connections"
        );
        let tls_san = set.tls_san.unwrap_or_default();
        for name in &tls_san {
            crate::tls::check_name(name).with_context(|| format!("tls_san {name:?}"))?;
        }
        let upload_budget = defaulted(set.upload_budget, "upload_budget")?;
        anyhow::ensure!(
            upload_budget >= MIN_UPLOAD_BUDGET,
            "upload_budget must be at least {MIN_UPLOAD_BUDGET} bytes"
        );
        Ok(Config {
            listen: defaulted(set.listen, "listen")?,
            data_dir,
            database_url,
            pool,
            transport,
            kek,
            log_format: defaulted(set.log_format, "log_format")?,
            cache,
            auth,
            auth_users,
            renew_interval: std::time::Duration::from_secs(defaulted(
                set.renew_interval,
                "renew_interval",
            )?),
            tls_san,
            upload_budget,
            policy: set.policy,
        })
    }
}

/// A setting that [`ServeArgs::defaults`] sets; `None` here would be a bug in that table.
fn defaulted<T>(value: Option<T>, key: &str) -> anyhow::Result<T> {
    value.with_context(|| format!("the setting {key} has no default"))
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

fn read_file(path: &Path) -> anyhow::Result<ServeArgs> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("could not read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("could not parse config file {}", path.display()))
}

/// A configuration file with every key, its default and what it does: what
/// `notarium print-default-config` prints. Keys without a default are commented out, with an
/// example value. Made from [`ServeArgs`]'s help texts, [`ServeArgs::defaults`] and
/// [`ServeArgs::examples`], in declaration order.
pub fn default_config_toml() -> String {
    let defaults = ServeArgs::defaults().to_table().unwrap_or_default();
    let examples = ServeArgs::examples().to_table().unwrap_or_default();
    let mut out = String::from(
        "# Notarium configuration. Precedence: this file < NOTARIUM_* environment < flags.\n\
         # Each key is also a flag of `notarium serve` (`data_dir`: `--data-dir`).\n",
    );
    for arg in ServeArgs::arguments() {
        let key = arg.get_id().as_str();
        let (value, prefix) = match (defaults.get(key), examples.get(key)) {
            (Some(value), _) => (value, ""),
            (None, Some(value)) => (value, "# "),
            // `config` itself: a file cannot name another.
            (None, None) => continue,
        };
        out.push('\n');
        let mut help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        // clap drops the closing full stop of a one-paragraph help; a comment keeps it.
        if help.ends_with(|c: char| c.is_alphanumeric() || c == ')' || c == '`') {
            help.push('.');
        }
        for line in wrap(&help, 96) {
            out.push_str("# ");
            out.push_str(&line);
            out.push('\n');
        }
        out.push_str(&format!("{prefix}{key} = {value}\n"));
    }
    out
}

/// `text` in lines of at most `width` characters, broken at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Where the database is, for the start-up log: the backend and its file, or its host, port
/// and database. Never the user name, the password or the URL's parameters (a `password=`
/// may be one).
pub fn storage_location(url: &str) -> String {
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        let path = Path::new(path);
        let shown = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        return format!("sqlite at {}", shown.display());
    }
    let (scheme, rest) = url.split_once("://").unwrap_or(("unknown", ""));
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    // Everything up to the last `@` is credentials, however they are written.
    let place = rest.rsplit_once('@').map_or(rest, |(_, place)| place);
    let backend = match scheme {
        "postgres" | "postgresql" => "postgres",
        other => other,
    };
    format!("{backend} at {place}")
}

/// The start-up warning for a listener reachable beyond this machine that anyone may write
/// through: `None` on loopback, or when token authentication or client certificates guard it.
pub fn open_listener_warning(config: &Config) -> Option<String> {
    let guarded = config.auth.is_some()
        || config.auth_users.is_some()
        || matches!(
            config.transport,
            Transport::Tls {
                client_ca: Some(_),
                ..
            }
        );
    if guarded || config.listen.ip().to_canonical().is_loopback() {
        return None;
    }
    Some(format!(
        "listening on {} with authentication off: anyone who can reach this address can \
         create, change and delete trust data. Turn authentication on with --auth-users FILE \
         (an htpasswd file; this server issues the tokens) or with a registry's token service \
         (--auth-token-realm, --auth-token-service, --auth-token-issuer, \
         --auth-token-root-cert-bundle), or listen on 127.0.0.1 only",
        config.listen
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    /// `serve`'s flags as the command line parses them (environment aside).
    #[derive(Debug, clap::Parser)]
    struct Serve {
        #[command(flatten)]
        args: ServeArgs,
    }

    fn parse(flags: &[&str]) -> ServeArgs {
        let argv = std::iter::once("serve").chain(flags.iter().copied());
        Serve::try_parse_from(argv).expect("valid flags").args
    }

    fn config_file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notarium.toml");
        std::fs::write(&path, text).expect("write config");
        (dir, path)
    }

    #[test]
    fn flags_beat_file_beat_defaults() {
        let (_dir, path) = config_file(
            "listen = \"127.0.0.1:9000\"\ndata_dir = \"/srv/n\"\ncache_current_max_age = 60\n\
             upload_budget = 33554432\ntls_san = [\"file.example\"]\n",
        );
        let mut args = parse(&[
            "--listen",
            "127.0.0.1:9100",
            "--tls-san",
            "a.example,10.0.0.5",
        ]);
        args.config = Some(path);
        let config = Config::resolve(&args, None).expect("valid config");
        assert_eq!(config.listen.port(), 9100, "the flag wins over the file");
        assert_eq!(
            config.tls_san,
            ["a.example", "10.0.0.5"],
            "the flag's list replaces"
        );
        assert_eq!(
            config.data_dir,
            PathBuf::from("/srv/n"),
            "the file wins over the default"
        );
        assert_eq!(config.cache.current, 60);
        assert_eq!(config.upload_budget, 33_554_432);
        assert_eq!(config.cache.consistent, 2_592_000, "defaults fill the rest");
        assert_eq!(config.database_url, "sqlite:///srv/n/notarium.db");
        assert_eq!(config.transport, Transport::GeneratedTls);
        assert_eq!(
            config.kek,
            KekSource::Development(PathBuf::from("/srv/n/key-encryption-key"))
        );
        let config = Config::resolve(&parse(&[]), None).expect("defaults alone");
        assert_eq!(config.upload_budget, 268_435_456);
        assert!(config.tls_san.is_empty());
        assert_eq!(config.listen, SocketAddr::from(([127, 0, 0, 1], 4443)));
        assert_eq!(config.renew_interval, std::time::Duration::from_secs(3600));
    }

    #[test]
    fn refuses_unknown_keys_and_mixed_transport() {
        for bad in ["lisen = \"x\"\n", "config = \"other.toml\"\n"] {
            let (_dir, path) = config_file(bad);
            let args = ServeArgs {
                config: Some(path),
                ..ServeArgs::default()
            };
            let err = Config::resolve(&args, None).expect_err("an unknown key is an error");
            assert!(format!("{err:#}").contains("unknown field"), "{err:#}");
        }
        let args = ServeArgs {
            plain_http: Some(true),
            tls_cert: Some("c".into()),
            tls_key: Some("k".into()),
            ..ServeArgs::default()
        };
        Config::resolve(&args, None).expect_err("plain HTTP with TLS files is contradictory");
        Config::resolve(&parse(&["--upload-budget", "0"]), None).expect_err("no budget at all");
        Config::resolve(&parse(&["--tls-san", "bad name!"]), None)
            .expect_err("a certificate name is a DNS name or an IP address");
        assert_eq!(
            format!("{:?}", KekSource::Inline("secret".into())),
            "Inline(<redacted>)"
        );
    }

    #[test]
    fn every_setting_has_a_default_or_an_example_and_its_names() {
        let defaults = ServeArgs::defaults().to_table().expect("table");
        let examples = ServeArgs::examples().to_table().expect("table");
        for arg in ServeArgs::arguments() {
            let key = arg.get_id().as_str();
            let env = arg.get_env().and_then(|e| e.to_str()).unwrap_or("");
            assert_eq!(env, format!("NOTARIUM_{}", key.to_uppercase()), "{key}");
            assert_eq!(arg.get_long(), Some(key.replace('_', "-").as_str()));
            if key == "config" {
                continue;
            }
            assert!(
                defaults.contains_key(key) != examples.contains_key(key),
                "{key} needs exactly one of a default or an example"
            );
        }
        assert_eq!(
            defaults.len() + examples.len(),
            ServeArgs::arguments().len() - 1,
            "the tables hold only settings"
        );
    }

    #[test]
    fn the_printed_defaults_parse_back_and_name_every_setting() {
        let text = default_config_toml();
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notarium.toml");
        std::fs::write(&path, &text).expect("write");
        let printed = read_file(&path).expect("the printed file parses");
        assert_eq!(
            printed,
            ServeArgs::defaults(),
            "as printed: exactly the defaults"
        );
        let args = ServeArgs {
            config: Some(path),
            ..ServeArgs::default()
        };
        let config = Config::resolve(&args, None).expect("the printed defaults resolve");
        assert_eq!(config.pool, PoolSettings::default());
        // Uncommented, the examples parse too: every key printed is a real one.
        let uncommented: String = text
            .lines()
            .map(|l| {
                l.strip_prefix("# ")
                    .filter(|l| l.contains(" = "))
                    .unwrap_or(l)
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let all: ServeArgs = toml::from_str(&uncommented).expect("every key is known");
        let expected = ServeArgs::examples()
            .over(&ServeArgs::defaults())
            .expect("merge");
        assert_eq!(all, expected);
        assert!(text.contains("\nlisten = \"127.0.0.1:4443\"\n"), "{text}");
        assert!(text.contains("\nupload_budget = 268435456\n"), "{text}");
        assert!(
            text.contains("\n# auth_users = \"/etc/notarium/htpasswd\"\n"),
            "{text}"
        );
    }

    #[test]
    fn help_shows_the_defaults() {
        let command = ServeArgs::document_defaults(<ServeArgs as clap::Args>::augment_args(
            clap::Command::new("serve"),
        ));
        let help = |id: &str| {
            command
                .get_arguments()
                .find(|a| a.get_id() == id)
                .and_then(|a| a.get_help())
                .map(|h| h.to_string())
                .unwrap_or_default()
        };
        assert!(
            help("listen").ends_with("[default: 127.0.0.1:4443]"),
            "{}",
            help("listen")
        );
        assert!(help("upload_budget").ends_with("[default: 268435456]"));
        assert!(!help("tls_cert").contains("[default"));
    }

    #[test]
    fn the_storage_location_never_shows_credentials() {
        assert_eq!(
            storage_location("postgres://notarium:s3cret@db.example.com:5432/trust"),
            "postgres at db.example.com:5432/trust"
        );
        let tricky = storage_location("postgresql://u:p@ss/w@rd@db:5432/trust?password=other");
        assert_eq!(tricky, "postgres at db:5432/trust");
        assert_eq!(
            storage_location("sqlite:///srv/n/notarium.db"),
            "sqlite at /srv/n/notarium.db"
        );
        let relative = storage_location("sqlite://data/n.db");
        assert!(relative.starts_with("sqlite at /") && relative.ends_with("/data/n.db"));
    }

    #[test]
    fn warns_of_an_open_listener_only_beyond_loopback_without_auth() {
        let config = |listen: &str, extra: &[&str]| {
            let mut flags = vec!["--listen", listen];
            flags.extend_from_slice(extra);
            Config::resolve(&parse(&flags), None).expect("config")
        };
        let open = config("0.0.0.0:4443", &[]);
        let message = open_listener_warning(&open).expect("a warning");
        assert!(message.contains("0.0.0.0:4443"), "{message}");
        assert!(message.contains("create, change and delete trust data"));
        assert!(message.contains("--auth-users"));
        assert!(open_listener_warning(&config("[::]:4443", &[])).is_some());
        assert!(open_listener_warning(&config("192.0.2.7:4443", &[])).is_some());
        assert!(open_listener_warning(&config("127.0.0.1:4443", &[])).is_none());
        assert!(open_listener_warning(&config("[::1]:4443", &[])).is_none());
        assert!(open_listener_warning(&config("[::ffff:127.0.0.1]:4443", &[])).is_none());
        let guarded = config("0.0.0.0:4443", &["--auth-users", "/etc/notarium/htpasswd"]);
        assert!(open_listener_warning(&guarded).is_none());
    }
}
