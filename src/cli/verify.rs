//! `notarium verify`: checks images against a policy (or a rule given by flags) with the trust
//! data of a Notary v1 server, prints each allowed image pinned to its signed digest on stdout
//! and each denial on stderr. Exit status: 0 all allowed, 1 any denied, 2 a usage or
//! configuration error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::clock::{FixedClock, SharedClock, SystemClock};
use crate::enforce::{self, Enforcer, LoadedPolicy, Outcome, ServerRef, Settings};
use crate::policy::{Mode, RootTrust, Rule, Signer};
use crate::remote::Credentials;
use crate::tuf::key::{KeyId, PublicKey};
use crate::tuf::role::RoleName;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Allowed images pinned to their digests on stdout, denials on stderr.
    Text,
    /// `{"results": [...]}` on stdout, as `POST /v1/verify` answers.
    Json,
}

/// Arguments of `verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyCommand {
    /// The trust server for rules that name none.
    #[arg(long, env = "DOCKER_CONTENT_TRUST_SERVER", value_name = "URL")]
    server: Option<String>,
    /// A CA bundle (PEM) for the trust server's certificate, instead of the system's roots.
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// A policy file (YAML); without it, one rule for every image is built from the flags below.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// A required signer (`targets/NAME`); repeat for several. None: Docker's pull rule
    /// (`targets/releases`, else `targets`).
    #[arg(long = "signer", value_name = "NAME")]
    signers: Vec<String>,
    /// How many of the signers must have signed (default: all).
    #[arg(long, value_name = "K")]
    threshold: Option<u32>,
    /// A pinned root key ID, as `docker trust inspect` or `notary key list` prints it; repeat
    /// for several.
    #[arg(long = "root-key", value_name = "KEYID")]
    root_keys: Vec<String>,
    /// A pinned root key as a PEM certificate or public key file; repeat for several.
    #[arg(long = "root-cert", value_name = "FILE")]
    root_certs: Vec<PathBuf>,
    /// Trust a repository's root on first use when no root key is pinned (remembered in the
    /// trust directory; its rotations are followed from then on).
    #[arg(long)]
    tofu: bool,
    /// Where what was trusted is remembered between runs (rollback protection, the root
    /// anchor). Default: ~/.notarium/trust.
    #[arg(long, value_name = "DIR")]
    trust_dir: Option<PathBuf>,
    /// The Docker config directory for registry credentials (default: $DOCKER_CONFIG, else
    /// ~/.docker).
    #[arg(long, env = "DOCKER_CONFIG", value_name = "DIR")]
    docker_config: Option<PathBuf>,
    /// A user name for the trust server's token service (with --password-stdin, or the password
    /// in NOTARIUM_PASSWORD); without it, NOTARY_AUTH or the Docker config's credentials are used.
    #[arg(long, value_name = "USER")]
    username: Option<String>,
    /// Read the password for --username from standard input.
    #[arg(long, requires = "username")]
    password_stdin: bool,
    /// Decide as of this time (RFC 3339) instead of now: for audits ("was this signed
    /// yesterday?") and for testing expiry.
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
    /// Images: `reg/org/app:tag`, `reg/org/app@sha256:…`, `reg/org/app:tag@sha256:…`, or
    /// Docker's short forms (`nginx`).
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
}

/// A usage or configuration error: exit status 2.
fn usage(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("notarium verify: {message}");
    ExitCode::from(2)
}

impl VerifyCommand {
    /// Runs the command and answers its exit status.
    pub fn run(self) -> ExitCode {
        crate::cli::serve::init_tracing_quiet();
        let policy = match self.policy() {
            Ok(p) => p,
            Err(e) => return usage(e),
        };
        let clock: SharedClock = match &self.at {
            None => Arc::new(SystemClock),
            Some(at) => match DateTime::parse_from_rfc3339(at) {
                Ok(t) => Arc::new(FixedClock(t.with_timezone(&Utc))),
                Err(e) => return usage(format!("--at {at:?}: {e}")),
            },
        };
        let without_server = policy
            .policy
            .rules
            .iter()
            .any(|r| r.server.is_none() && r.mode != Mode::Allow);
        if self.server.is_none() && without_server {
            return usage(
                "no trust server: give --server, set DOCKER_CONTENT_TRUST_SERVER, or name one in \
                 each rule of the policy",
            );
        }
        let credentials = match self.credentials() {
            Ok(c) => c,
            Err(e) => return usage(e),
        };
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let settings = Settings {
            default_server: self.server.clone().map(|url| ServerRef {
                url,
                ca: self.ca.clone(),
            }),
            credentials,
            docker_config: self
                .docker_config
                .clone()
                .or_else(|| home.as_ref().map(|h| h.join(".docker"))),
            trust_dir: self
                .trust_dir
                .clone()
                .or_else(|| home.as_ref().map(|h| h.join(".notarium").join("trust"))),
            timeout: None,
            follow_changes: false,
        };
        let runtime = match crate::cli::runtime() {
            Ok(r) => r,
            Err(e) => return usage(format!("{e:#}")),
        };
        let outcomes = runtime.block_on(async {
            let enforcer = Enforcer::new(policy, None, settings, clock);
            let mut outcomes = Vec::with_capacity(self.images.len());
            // One after another: images of one repository share what the first read remembers.
            for image in &self.images {
                outcomes.push(enforcer.check(image).await);
            }
            outcomes
        });
        self.print(&outcomes);
        if outcomes.iter().all(Outcome::admitted) {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        }
    }

    fn print(&self, outcomes: &[Outcome]) {
        match self.output {
            Output::Json => {
                let results: Vec<serde_json::Value> =
                    outcomes.iter().map(Outcome::to_json).collect();
                println!("{}", serde_json::json!({ "results": results }));
            }
            Output::Text => {
                for outcome in outcomes {
                    let verdict = &outcome.verdict;
                    if outcome.admitted() {
                        println!("{}", outcome.admitted_reference());
                        if !verdict.allowed {
                            eprintln!(
                                "{}: warning (rule in warn mode): {}",
                                outcome.image,
                                verdict.reasons.join("; ")
                            );
                        }
                    } else {
                        eprintln!("{}: denied: {}", outcome.image, verdict.reasons.join("; "));
                    }
                }
            }
        }
    }

    /// `--username` with its password from stdin or `NOTARIUM_PASSWORD`.
    fn credentials(&self) -> Result<Option<Credentials>, String> {
        let Some(username) = &self.username else {
            return Ok(None);
        };
        let password = if self.password_stdin {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| format!("--password-stdin: {e}"))?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        } else {
            std::env::var("NOTARIUM_PASSWORD").map_err(|_| {
                "--username needs a password: --password-stdin, or NOTARIUM_PASSWORD".to_owned()
            })?
        };
        Ok(Some(Credentials {
            username: username.clone(),
            password: zeroize::Zeroizing::new(password),
        }))
    }

    /// The policy file, or one rule from the flags.
    fn policy(&self) -> Result<LoadedPolicy, String> {
        let flags_used = !self.signers.is_empty()
            || self.threshold.is_some()
            || !self.root_keys.is_empty()
            || !self.root_certs.is_empty()
            || self.tofu;
        if let Some(path) = &self.policy {
            if flags_used {
                return Err(
                    "--signer, --threshold, --root-key, --root-cert and --tofu describe a rule; \
                     with --policy the rules come from the file"
                        .to_owned(),
                );
            }
            return enforce::load_policy(path);
        }
        let mut signers = Vec::new();
        for name in &self.signers {
            let role = RoleName::parse(&format!("targets/{name}"))
                .map_err(|e| format!("--signer {name:?}: {e}"))?;
            if signers.iter().any(|s: &Signer| s.role == role) {
                return Err(format!("--signer {name:?} is given twice"));
            }
            signers.push(Signer {
                name: name.clone(),
                role,
                key_ids: Vec::new(),
            });
        }
        if let Some(k) = self.threshold {
            if signers.is_empty() {
                return Err("--threshold needs --signer".to_owned());
            }
            if k == 0 || k as usize > signers.len() {
                return Err(format!(
                    "--threshold {k}: must be between 1 and the {} signers given",
                    signers.len()
                ));
            }
        }
        let key_ids = self
            .root_keys
            .iter()
            .map(|k| KeyId::parse(k).map_err(|e| format!("--root-key {k:?}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let keys = self
            .root_certs
            .iter()
            .map(|path| {
                let pem = std::fs::read(path)
                    .map_err(|e| format!("--root-cert {}: {e}", path.display()))?;
                PublicKey::from_pem(&pem)
                    .map_err(|e| format!("--root-cert {}: {e}", path.display()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if self.tofu && !(key_ids.is_empty() && keys.is_empty()) {
            return Err("--tofu cannot be combined with a pinned root key".to_owned());
        }
        let rule = Rule {
            pattern: "**".to_owned(),
            server: None,
            ca: None,
            root: RootTrust {
                key_ids,
                keys,
                tofu: self.tofu,
            },
            signers,
            threshold: self.threshold,
            mode: Mode::Enforce,
            break_glass: false,
        };
        Ok(LoadedPolicy::new(
            enforce::policy_of_one_rule(rule),
            "the command line",
        ))
    }
}
