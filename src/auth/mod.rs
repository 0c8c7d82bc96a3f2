//! Docker registry token authentication (docs/protocol.md §8): which access each route needs, checking a
//! request's bearer token against it, and the challenge that tells a client where to get one.
//!
//! Off unless configured. Health is never authenticated.

pub mod issuer;
pub mod token;

use token::{allows, Grant, TokenError, Verifier};

/// Token authentication settings.
#[derive(Debug, Clone)]
pub struct TokenAuth {
    /// Where clients get tokens (`realm` of the challenge).
    pub realm: String,
    /// The audience tokens must name (`service` of the challenge).
    pub service: String,
    verifier: Verifier,
}

impl TokenAuth {
    /// Settings with the certificates of `bundle_pem` trusted to sign tokens from `issuer`.
    pub fn new(
        realm: &str,
        service: &str,
        issuer: &str,
        bundle_pem: &[u8],
    ) -> Result<TokenAuth, String> {
        Ok(TokenAuth {
            realm: realm.to_owned(),
            service: service.to_owned(),
            verifier: Verifier::new(issuer, service, bundle_pem)?,
        })
    }
}

/// The access a request needs: `type:name:actions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needed {
    /// `repository` or `registry`.
    pub kind: &'static str,
    /// The GUN, or `catalog`.
    pub name: String,
    /// Every action needed.
    pub actions: &'static [&'static str],
}

impl Needed {
    /// Access to a repository.
    pub fn repository(gun: &str, actions: &'static [&'static str]) -> Needed {
        Needed {
            kind: "repository",
            name: gun.to_owned(),
            actions,
        }
    }

    /// `registry:catalog:*`, for routes without a GUN.
    pub fn catalog() -> Needed {
        Needed {
            kind: "registry",
            name: "catalog".to_owned(),
            actions: &["*"],
        }
    }

    /// The `scope` of the challenge.
    pub fn scope(&self) -> String {
        format!("{}:{}:{}", self.kind, self.name, self.actions.join(","))
    }
}

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No bearer token.
    Missing,
    /// A token that does not verify (`error="invalid_token"`).
    Invalid(String),
    /// A valid token without the needed access (`error="insufficient_scope"`).
    InsufficientScope,
}

impl TokenAuth {
    /// Checks the `Authorization` header value against `needed`.
    pub fn check(&self, authorization: Option<&str>, needed: &Needed) -> Result<(), Refusal> {
        let Some(value) = authorization else {
            return Err(Refusal::Missing);
        };
        let Some(token) = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
        else {
            return Err(Refusal::Missing);
        };
        let grants: Vec<Grant> = self
            .verifier
            .verify(token.trim())
            .map_err(|e: TokenError| Refusal::Invalid(e.to_string()))?;
        if allows(&grants, needed.kind, &needed.name, needed.actions) {
            Ok(())
        } else {
            Err(Refusal::InsufficientScope)
        }
    }

    /// The `WWW-Authenticate` value for a refusal.
    pub fn challenge(&self, needed: &Needed, refusal: &Refusal) -> String {
        let mut value = format!(
            "Bearer realm={},service={},scope={}",
            quote(&self.realm),
            quote(&self.service),
            quote(&needed.scope())
        );
        match refusal {
            Refusal::Missing => {}
            Refusal::Invalid(_) => value.push_str(",error=\"invalid_token\""),
            Refusal::InsufficientScope => value.push_str(",error=\"insufficient_scope\""),
        }
        value
    }
}

/// A quoted-string; GUNs are validated before they reach here, so only `"` and `\` need care.
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}
