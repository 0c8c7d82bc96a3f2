//! A small built-in token service for deployments without a registry's: users from an
//! htpasswd file (bcrypt), tokens signed with ES256 by a key the server keeps in its data
//! directory, and that key's certificate as the trusted bundle (docs/protocol.md §8).
//!
//! Policy: a user who authenticates gets every action asked for; an anonymous request gets a
//! token without access (clients then retry with credentials, as they do against a registry).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

/// How long an issued token is valid.
pub const TOKEN_LIFETIME_SECONDS: i64 = 300;

/// The cost of the stand-in hash for a users file without any hash: Go's `bcrypt.DefaultCost`.
const FALLBACK_COST: u32 = 10;

/// Why no token was issued.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// Unknown user or wrong password (the same message for both).
    #[error("invalid username or password")]
    BadCredentials,
    /// The signing step failed.
    #[error("could not sign the token")]
    Signing,
    /// The password check could not run (its task on the blocking pool failed).
    #[error("the password check failed")]
    Task(#[source] tokio::task::JoinError),
}

/// The built-in token service.
pub struct Issuer {
    users: HashMap<String, String>,
    /// A hash of a random password at the users' cost, checked for unknown users so that they
    /// take as long to refuse as a wrong password (no timing oracle for user names).
    stand_in: String,
    key_pkcs8: Vec<u8>,
    cert_der: Vec<u8>,
    cert_pem: String,
    issuer: String,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("users", &self.users.len())
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl Issuer {
    /// Loads users from `htpasswd` and the signing key from `dir` (created on first start).
    pub fn load(htpasswd: &Path, dir: &Path, issuer: &str) -> anyhow::Result<Issuer> {
        use anyhow::Context as _;
        let text = std::fs::read_to_string(htpasswd)
            .with_context(|| format!("could not read users file {}", htpasswd.display()))?;
        let mut users = HashMap::new();
        let mut cost = None;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (user, hash) = line.split_once(':').with_context(|| {
                format!(
                    "{}:{}: expected USER:BCRYPT-HASH",
                    htpasswd.display(),
                    n + 1
                )
            })?;
            let parts: bcrypt::HashParts = hash.parse().map_err(|_| {
                anyhow::anyhow!(
                    "{}:{}: only bcrypt hashes are accepted (htpasswd -B)",
                    htpasswd.display(),
                    n + 1
                )
            })?;
            cost = cost.max(Some(parts.get_cost()));
            users.insert(user.to_owned(), hash.to_owned());
        }
        // One cost per file is the norm; with several, the highest, so that an unknown user is
        // never refused faster than a known one.
        let stand_in = {
            use rand_core::RngCore as _;
            let mut random = [0u8; 32];
            rand_core::OsRng.fill_bytes(&mut random);
            bcrypt::hash(hex::encode(random), cost.unwrap_or(FALLBACK_COST))
                .context("could not hash the stand-in password")?
        };
        let key_path = dir.join("token-issuer.key");
        let cert_path = dir.join("token-issuer.crt");
        if !key_path.exists() || !cert_path.exists() {
            let key = rcgen::KeyPair::generate()?;
            let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, format!("{issuer} token signer"));
            let cert = params.self_signed(&key)?;
            std::fs::create_dir_all(dir)?;
            crate::signing::kek::write_private_file(&key_path, key.serialize_pem().as_bytes())?;
            std::fs::write(&cert_path, cert.pem())?;
        }
        let key_pem = std::fs::read_to_string(&key_path)?;
        let key = rcgen::KeyPair::from_pem(&key_pem).context("token signing key")?;
        let cert_pem = std::fs::read_to_string(&cert_path)?;
        let cert_der = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes())
            .map_err(|e| anyhow::anyhow!("token signing certificate: {e}"))?
            .1
            .contents;
        Ok(Issuer {
            users,
            stand_in,
            key_pkcs8: key.serialize_der(),
            cert_der,
            cert_pem,
            issuer: issuer.to_owned(),
        })
    }

    /// The certificate to trust for this issuer's tokens.
    pub fn bundle_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Whether `password` is `user`'s. Unknown users are checked against the stand-in hash,
    /// so both refusals cost one bcrypt verification. Tens of milliseconds of CPU: callers on
    /// the runtime use [`Issuer::issue`], which runs it on the blocking pool.
    pub fn authenticate(&self, user: &str, password: &str) -> bool {
        let (hash, known) = match self.users.get(user) {
            Some(hash) => (hash.as_str(), true),
            None => (self.stand_in.as_str(), false),
        };
        let matches = bcrypt::verify(password, hash).unwrap_or(false);
        matches && known
    }

    /// A token for `service` granting `scopes` (`type:name:actions`) to the user of `basic`
    /// (`user`, `password`), or an access-less token for an anonymous request. The password
    /// check runs on the blocking pool, never on a runtime worker.
    pub async fn issue(
        self: &Arc<Self>,
        basic: Option<(&str, &str)>,
        service: &str,
        scopes: &[String],
        now: i64,
    ) -> Result<serde_json::Value, IssueError> {
        let subject = match basic {
            Some((user, password)) => {
                let issuer = Arc::clone(self);
                let (user, password) = (user.to_owned(), password.to_owned());
                let known = tokio::task::spawn_blocking(move || {
                    issuer.authenticate(&user, &password).then_some(user)
                })
                .await
                .map_err(IssueError::Task)?;
                Some(known.ok_or(IssueError::BadCredentials)?)
            }
            None => None,
        };
        self.sign(subject.as_deref(), service, scopes, now)
    }

    /// The signed token and the token service's answer: every scope asked for when `subject`
    /// authenticated, none for an anonymous request.
    fn sign(
        &self,
        subject: Option<&str>,
        service: &str,
        scopes: &[String],
        now: i64,
    ) -> Result<serde_json::Value, IssueError> {
        let access: Vec<serde_json::Value> = match subject {
            Some(_) => scopes.iter().filter_map(|s| grant(s)).collect(),
            None => Vec::new(),
        };
        let subject = subject.unwrap_or("");
        let mut header = Header::new(Algorithm::ES256);
        header.x5c = Some(vec![STANDARD.encode(&self.cert_der)]);
        let claims = json!({
            "iss": self.issuer,
            "sub": subject,
            "aud": service,
            "iat": now,
            "nbf": now,
            "exp": now + TOKEN_LIFETIME_SECONDS,
            "jti": hex::encode(ring::digest::digest(&ring::digest::SHA256, format!("{subject}{now}{scopes:?}").as_bytes()).as_ref()),
            "access": access,
        });
        let token =
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ec_der(&self.key_pkcs8))
                .map_err(|_| IssueError::Signing)?;
        let issued_at = chrono::DateTime::from_timestamp(now, 0)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        Ok(json!({
            "token": token,
            "access_token": token,
            "expires_in": TOKEN_LIFETIME_SECONDS,
            "issued_at": issued_at,
        }))
    }
}

/// One `type:name:actions` scope as an access entry (the name may contain `:`, e.g. a port).
fn grant(scope: &str) -> Option<serde_json::Value> {
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    let actions: Vec<&str> = actions.split(',').filter(|a| !a.is_empty()).collect();
    Some(json!({"type": kind, "name": name, "actions": actions}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::token::Verifier;

    #[tokio::test]
    async fn issues_tokens_its_own_bundle_verifies() {
        let dir = tempfile::tempdir().expect("tempdir");
        let users = dir.path().join("users");
        let hash = bcrypt::hash("s3cret", 4).expect("hash");
        std::fs::write(&users, format!("# users\nalice:{hash}\n")).expect("users");
        let issuer = Arc::new(Issuer::load(&users, dir.path(), "notarium").expect("issuer"));
        let now = jsonwebtoken::get_current_timestamp() as i64;
        let scopes = vec!["repository:registry.example.com:5000/app:pull,push".to_owned()];
        let body = issuer
            .issue(Some(("alice", "s3cret")), "notarium", &scopes, now)
            .await
            .expect("token");
        let verifier = Verifier::new("notarium", "notarium", issuer.bundle_pem().as_bytes())
            .expect("verifier");
        let grants = verifier
            .verify(body["token"].as_str().expect("token"))
            .expect("valid");
        assert_eq!(grants.len(), 1);
        assert_eq!(grants[0].name, "registry.example.com:5000/app");
        assert_eq!(grants[0].actions, vec!["pull", "push"]);
        for (user, password) in [("alice", "wrong"), ("mallory", "s3cret")] {
            let refused = issuer
                .issue(Some((user, password)), "notarium", &scopes, now)
                .await;
            assert!(
                matches!(refused, Err(IssueError::BadCredentials)),
                "{user}: {refused:?}"
            );
        }
        let anonymous = issuer
            .issue(None, "notarium", &scopes, now)
            .await
            .expect("token");
        let grants = verifier
            .verify(anonymous["token"].as_str().expect("token"))
            .expect("valid");
        assert!(grants.is_empty(), "anonymous requests get no access");
        // The key is kept: a restart signs with the same certificate.
        let again = Issuer::load(&users, dir.path(), "notarium").expect("issuer");
        assert_eq!(again.bundle_pem(), issuer.bundle_pem());
    }

    #[test]
    fn the_stand_in_hash_has_the_users_cost() {
        let dir = tempfile::tempdir().expect("tempdir");
        let users = dir.path().join("users");
        let cost = |issuer: &Issuer| {
            issuer
                .stand_in
                .parse::<bcrypt::HashParts>()
                .expect("bcrypt")
                .get_cost()
        };
        let hash = bcrypt::hash("s3cret", 5).expect("hash");
        std::fs::write(&users, format!("alice:{hash}\n")).expect("users");
        let issuer = Issuer::load(&users, dir.path(), "notarium").expect("issuer");
        assert_eq!(cost(&issuer), 5);
        std::fs::write(&users, "# nobody yet\n").expect("users");
        let issuer = Issuer::load(&users, dir.path(), "notarium").expect("issuer");
        assert_eq!(cost(&issuer), FALLBACK_COST);
        std::fs::write(&users, "alice:$2y$not-a-hash\n").expect("users");
        Issuer::load(&users, dir.path(), "notarium").expect_err("a hash that does not parse");
    }
}
