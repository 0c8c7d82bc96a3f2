//! Enforcement: the policy engine (`policy`) over trust sources — the local store when running
//! inside `notarium serve`, any Notary v1 server through `remote` otherwise — with what each
//! verifier must remember (the last trusted root and versions, against rollbacks) and a
//! decision cache that the local store invalidates exactly when a repository changes.

#![warn(missing_docs)]

mod decisions;
mod feed;
pub mod load;
mod local;
mod seen;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::clock::SharedClock;
use crate::gun::Gun;
use crate::policy::{self, verdict, ImageRef, Policy, Rule, Verdict};
use crate::remote::{Credentials, Remote, RemoteConfig};
use crate::service::Repos;

pub use load::{load_policy, LoadedPolicy};

/// A trust server named by a rule or by the command line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerRef {
    /// Its base URL.
    pub url: String,
    /// A CA bundle for its certificate.
    pub ca: Option<PathBuf>,
}

/// How remote trust servers are reached, and where what was trusted is remembered.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The server for rules that name none, when there is no local store.
    pub default_server: Option<ServerRef>,
    /// Explicit credentials for token services.
    pub credentials: Option<Credentials>,
    /// The Docker config directory to look for credentials in.
    pub docker_config: Option<PathBuf>,
    /// A trust directory that keeps, across runs, what was last trusted per server and
    /// repository; without one it is kept in memory only.
    pub trust_dir: Option<PathBuf>,
    /// Time limit of one request to a trust server.
    pub timeout: Option<Duration>,
    /// Follow each remote server's changefeed and keep decisions on its repositories until
    /// they change (long-running servers; a one-shot command has nothing to keep).
    pub follow_changes: bool,
}

/// The verdict on one image as it was asked for.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The image as given.
    pub image: String,
    /// What was decided.
    pub verdict: Verdict,
}

impl Outcome {
    /// Whether the image is admitted: allowed, or denied by a rule in `warn` mode.
    pub fn admitted(&self) -> bool {
        self.verdict.allowed || self.verdict.mode == policy::Mode::Warn
    }

    /// What to run for an admitted image: pinned to the signed digest when there is one, else
    /// the normalised reference (or the image as given, when it did not parse).
    pub fn admitted_reference(&self) -> String {
        if let Some(pinned) = &self.verdict.pinned {
            return pinned.clone();
        }
        ImageRef::parse(&self.image).map_or_else(|_| self.image.clone(), |r| r.to_string())
    }

    /// The result as `POST /v1/verify` and `notarium verify --output json` give it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self.report()).unwrap_or(serde_json::Value::Null)
    }

    /// The result in the form [`Outcome::to_json`] gives, borrowed, to serialize directly (an
    /// answer of many results is written without building a JSON tree first).
    pub fn report(&self) -> Report<'_> {
        let v = &self.verdict;
        Report {
            allowed: self.admitted(),
            digest: v.digest.map(|d| d.to_string()),
            expires: v
                .expires
                .map(|e| e.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            image: &self.image,
            mode: match v.mode {
                policy::Mode::Enforce => "enforce",
                policy::Mode::Warn => "warn",
                policy::Mode::Allow => "allow",
            },
            pinned: v.pinned.as_deref(),
            reasons: &v.reasons,
            signers: &v.signers,
            verified: v.allowed,
        }
    }
}

/// One result of `POST /v1/verify`, fields in the order the answer has always given them.
#[derive(Debug, serde::Serialize)]
pub struct Report<'a> {
    allowed: bool,
    digest: Option<String>,
    expires: Option<String>,
    image: &'a str,
    mode: &'static str,
    pinned: Option<&'a str>,
    reasons: &'a [String],
    signers: &'a [policy::SignedBy],
    verified: bool,
}

/// Where one rule's trust data comes from.
enum Source {
    Local(Arc<Repos>),
    Remote(ServerRef),
}

/// The enforcer: a policy, its trust sources and what it remembers.
pub struct Enforcer {
    policy: RwLock<Arc<LoadedPolicy>>,
    local: Option<Arc<Repos>>,
    settings: Settings,
    remotes: Mutex<HashMap<ServerRef, Remote>>,
    seen: seen::SeenStore,
    decisions: decisions::Decisions,
    feeds: Mutex<HashMap<String, Arc<feed::Feed>>>,
    remote_decisions: decisions::RemoteDecisions,
    verified: quick_cache::sync::Cache<decisions::StateKey, Arc<policy::Trusted>>,
    cache_lookups: prometheus::IntCounterVec,
    clock: SharedClock,
}

impl std::fmt::Debug for Enforcer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enforcer")
            .field("local", &self.local.is_some())
            .finish_non_exhaustive()
    }
}

/// The most images one request may ask about.
pub const MAX_IMAGES: usize = 256;

impl Enforcer {
    /// An enforcer of `policy`, reading the local store `local` when given.
    pub fn new(
        policy: LoadedPolicy,
        local: Option<Arc<Repos>>,
        settings: Settings,
        clock: SharedClock,
    ) -> Enforcer {
        Enforcer {
            policy: RwLock::new(Arc::new(policy)),
            seen: seen::SeenStore::new(settings.trust_dir.clone()),
            local,
            settings,
            remotes: Mutex::new(HashMap::new()),
            decisions: decisions::Decisions::new(),
            feeds: Mutex::new(HashMap::new()),
            remote_decisions: decisions::RemoteDecisions::new(),
            verified: quick_cache::sync::Cache::new(decisions::VERIFIED_STATES),
            cache_lookups: prometheus::IntCounterVec::new(
                prometheus::Opts::new(
                    "notarium_decision_cache_total",
                    "Decision cache lookups by trust source (local, remote) and result (hit, miss)",
                ),
                &["source", "result"],
            )
            .expect("a valid metric"),
            clock,
        }
    }

    /// Exports the decision cache's hits and misses through `registry`.
    pub fn register_metrics(
        &self,
        registry: &prometheus::Registry,
    ) -> Result<(), prometheus::Error> {
        registry.register(Box::new(self.cache_lookups.clone()))
    }

    fn counted<T>(&self, source: &str, found: Option<T>) -> Option<T> {
        let result = if found.is_some() { "hit" } else { "miss" };
        self.cache_lookups
            .with_label_values(&[source, result])
            .inc();
        found
    }

    /// The policy in force.
    pub fn policy(&self) -> Arc<LoadedPolicy> {
        match self.policy.read() {
            Ok(p) => Arc::clone(&p),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Puts `policy` in force; decisions made under the old one are not reused.
    pub fn replace_policy(&self, policy: LoadedPolicy) {
        let policy = Arc::new(policy);
        match self.policy.write() {
            Ok(mut p) => *p = policy,
            Err(poisoned) => *poisoned.into_inner() = policy,
        }
        self.decisions.clear();
        self.remote_decisions.clear();
        self.verified.clear();
    }

    /// The decision on every image of `images`, checked concurrently, in order.
    pub async fn check_all(&self, images: &[String]) -> Vec<Outcome> {
        futures_util::future::join_all(images.iter().map(|image| self.check(image))).await
    }

    /// A denial of `image` for `reason` under the rule that matches it (so a `warn` rule still
    /// admits): what a caller answers when the decision did not come in time.
    pub fn undecided(&self, image: &str, reason: String) -> Outcome {
        let policy = self.policy();
        let rule = ImageRef::parse(image)
            .ok()
            .and_then(|r| policy.policy.rule_for(r.name()).cloned());
        let verdict = match rule {
            Some(rule) if rule.mode != policy::Mode::Allow => verdict::denied(&rule, vec![reason]),
            _ => plain_denial(reason),
        };
        Outcome {
            image: image.to_owned(),
            verdict,
        }
    }

    /// The decision on one image.
    pub async fn check(&self, image: &str) -> Outcome {
        let verdict = self.verdict(image).await;
        Outcome {
            image: image.to_owned(),
            verdict,
        }
    }

    async fn verdict(&self, image: &str) -> Verdict {
        let policy = self.policy();
        let reference = match ImageRef::parse(image) {
            Ok(r) => r,
            Err(e) => return plain_denial(e.to_string()),
        };
        let Some(rule) = policy.policy.rule_for(reference.name()) else {
            return plain_denial(format!(
                "no rule of the policy ({}) matches {}",
                policy.origin,
                reference.name()
            ));
        };
        if rule.mode == policy::Mode::Allow {
            return verdict::allowed_unverified(rule);
        }
        let gun = match Gun::parse(reference.name()) {
            Ok(g) => g,
            Err(e) => return verdict::denied(rule, vec![e.to_string()]),
        };
        match self.source(rule) {
            Some(Source::Local(repos)) => {
                self.local_verdict(&repos, &gun, &reference, rule, policy.generation)
                    .await
            }
            Some(Source::Remote(server)) => {
                self.remote_verdict(&server, &gun, &reference, rule, policy.generation)
                    .await
            }
            None => verdict::denied(
                rule,
                vec![format!(
                    "no trust server for {}: the rule names none and none was given",
                    reference.name()
                )],
            ),
        }
    }

    fn source(&self, rule: &Rule) -> Option<Source> {
        if let Some(url) = &rule.server {
            return Some(Source::Remote(ServerRef {
                url: url.clone(),
                ca: rule.ca.clone(),
            }));
        }
        if let Some(repos) = &self.local {
            return Some(Source::Local(Arc::clone(repos)));
        }
        self.settings.default_server.clone().map(Source::Remote)
    }

    async fn local_verdict(
        &self,
        repos: &Repos,
        gun: &Gun,
        reference: &ImageRef,
        rule: &Rule,
        generation: u64,
    ) -> Verdict {
        let now = self.clock.now();
        let key = decisions::Key::new(generation, reference, rule);
        let fingerprint = match local::fingerprint(repos, gun).await {
            Ok(f) => f,
            Err(why) => return verdict::denied(rule, vec![why]),
        };
        if let Some(verdict) = self.counted("local", self.decisions.get(&key, &fingerprint, now)) {
            return verdict;
        }
        // The repository state verified for this rule's anchor before: another image of it
        // is judged without verifying again.
        let state_key = decisions::StateKey::new(generation, gun, rule, &fingerprint);
        if let Some(trusted) = self.verified.get(&state_key).filter(|t| now < t.expires) {
            let verdict = policy::judge(reference, rule, &trusted);
            self.decisions.put(key, fingerprint, verdict.clone(), now);
            return verdict;
        }
        let origin = seen::Origin::Local;
        let seen = self.seen.get(&origin, gun);
        let (data, parsed, fingerprint) =
            match local::trust_data(repos, gun, &policy::needed_roles(rule), &seen).await {
                Ok(d) => d,
                Err(why) => return verdict::denied(rule, vec![why]),
            };
        let verdict =
            match policy::verify_parsed(gun.as_str(), &rule.root, &data, &parsed, &seen, now) {
                Ok(trusted) => {
                    let trusted = Arc::new(trusted);
                    self.seen.put(&origin, gun, trusted.seen.clone(), None);
                    let verdict = policy::judge(reference, rule, &trusted);
                    self.verified.insert(
                        decisions::StateKey::new(generation, gun, rule, &fingerprint),
                        trusted,
                    );
                    verdict
                }
                Err(refusal) => verdict::denied(rule, vec![refusal.0]),
            };
        self.decisions.put(key, fingerprint, verdict.clone(), now);
        verdict
    }

    async fn remote_verdict(
        &self,
        server: &ServerRef,
        gun: &Gun,
        reference: &ImageRef,
        rule: &Rule,
        generation: u64,
    ) -> Verdict {
        let remote = match self.remote(server) {
            Ok(r) => r,
            Err(why) => return verdict::denied(rule, vec![why]),
        };
        // The token is taken before the trust data is read, so a change that lands meanwhile
        // makes the kept decision stale rather than hiding behind it.
        let kept = self.settings.follow_changes.then(|| {
            let feed = self.feed(server, &remote);
            let key = decisions::Key::new(generation, reference, rule);
            (feed.token(gun.as_str()), key)
        });
        if let Some((Some(token), key)) = &kept {
            if let Some(verdict) =
                self.remote_decisions
                    .get(&server.url, key, *token, self.clock.now())
            {
                return verdict;
            }
        }
        let origin = seen::Origin::Remote(server.url.clone());
        let cached = match self.seen.cached(&origin, gun) {
            Ok(c) => c,
            Err(why) => return verdict::denied(rule, vec![why]),
        };
        let data = match remote
            .fetch(gun.as_str(), &policy::needed_roles(rule), &cached)
            .await
        {
            Ok(d) => d,
            Err(e) => return verdict::denied(rule, vec![e.to_string()]),
        };
        let now = self.clock.now();
        let (verdict, next) = policy::decide(reference, rule, &data, &cached.seen, now);
        if let Some(next) = next {
            self.seen.put(&origin, gun, next, Some(&data));
        }
        if let Some((Some(token), key)) = kept {
            self.remote_decisions
                .put(&server.url, key, token, verdict.clone(), now);
        }
        verdict
    }

    /// The changefeed of `server`, followed from the first time it is needed.
    fn feed(&self, server: &ServerRef, remote: &Remote) -> Arc<feed::Feed> {
        let mut feeds = match self.feeds.lock() {
            Ok(f) => f,
            Err(poisoned) => poisoned.into_inner(),
        };
        Arc::clone(
            feeds
                .entry(server.url.clone())
                .or_insert_with(|| feed::follow(server.url.clone(), remote.clone())),
        )
    }

    fn remote(&self, server: &ServerRef) -> Result<Remote, String> {
        let mut remotes = match self.remotes.lock() {
            Ok(r) => r,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(remote) = remotes.get(server) {
            return Ok(remote.clone());
        }
        let remote = Remote::new(RemoteConfig {
            server: server.url.clone(),
            ca: server.ca.clone(),
            credentials: self.settings.credentials.clone(),
            docker_config: self.settings.docker_config.clone(),
            timeout: self.settings.timeout.unwrap_or(Duration::from_secs(30)),
        })
        .map_err(|e| e.to_string())?;
        remotes.insert(server.clone(), remote.clone());
        Ok(remote)
    }
}

/// A denial that no rule's mode applies to (a malformed reference, no matching rule).
fn plain_denial(reason: String) -> Verdict {
    verdict::refused(vec![reason])
}

/// A policy of one rule for every name, as the command line's flags describe it.
pub fn policy_of_one_rule(rule: Rule) -> Policy {
    Policy { rules: vec![rule] }
}
