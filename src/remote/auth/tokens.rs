//! Tokens handed out by token services, kept in memory until they run out, so that a second
//! read of a repository goes straight to the trust server with the token of the first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

/// How long a token lives when the token service does not say (docker/distribution's
/// default, which is also its minimum).
pub(crate) const DEFAULT_LIFETIME: Duration = Duration::from_secs(60);
/// A token is not sent in its last seconds: it could expire on the way.
const MARGIN: Duration = Duration::from_secs(5);
/// Tokens kept at most; a reader of thousands of repositories starts over rather than grow.
const MAX_TOKENS: usize = 1024;

/// Which token: the token service, its audience and the access asked for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct TokenKey {
    pub(crate) realm: String,
    pub(crate) service: String,
    pub(crate) scope: String,
}

/// Tokens by key, and for each GUN the key its last challenge asked for.
#[derive(Clone, Default)]
pub(crate) struct Tokens {
    inner: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    tokens: HashMap<TokenKey, (Zeroizing<String>, Instant)>,
    by_gun: HashMap<String, TokenKey>,
}

impl Tokens {
    /// The live token last used for `gun`, if any.
    pub(crate) fn for_gun(&self, gun: &str, now: Instant) -> Option<(TokenKey, Zeroizing<String>)> {
        let state = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let key = state.by_gun.get(gun)?;
        let (token, until) = state.tokens.get(key)?;
        (now < *until).then(|| (key.clone(), token.clone()))
    }

    /// The live token under `key`, if any.
    pub(crate) fn get(&self, key: &TokenKey, now: Instant) -> Option<Zeroizing<String>> {
        let state = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let (token, until) = state.tokens.get(key)?;
        (now < *until).then(|| token.clone())
    }

    /// Keeps `token` for `lifetime` and remembers `key` as `gun`'s.
    pub(crate) fn insert(
        &self,
        gun: &str,
        key: TokenKey,
        token: Zeroizing<String>,
        lifetime: Duration,
        now: Instant,
    ) {
        let until = now + lifetime.saturating_sub(MARGIN);
        let mut state = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        state.tokens.retain(|_, (_, until)| now < *until);
        if state.tokens.len() >= MAX_TOKENS || state.by_gun.len() >= MAX_TOKENS {
            state.tokens.clear();
            state.by_gun.clear();
        }
        state.by_gun.insert(gun.to_owned(), key.clone());
        state.tokens.insert(key, (token, until));
    }

    /// Drops the token under `key`: the server refused it.
    pub(crate) fn forget(&self, key: &TokenKey) {
        let mut state = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        state.tokens.remove(key);
    }
}

/// Says how many tokens are kept, never what they are.
impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("Tokens")
            .field("kept", &state.tokens.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(scope: &str) -> TokenKey {
        TokenKey {
            realm: "https://auth/token".to_owned(),
            service: "notary".to_owned(),
            scope: scope.to_owned(),
        }
    }

    #[test]
    fn tokens_live_until_their_lifetime_runs_out() {
        let tokens = Tokens::default();
        let now = Instant::now();
        let k = key("repository:a/b:pull");
        tokens.insert(
            "a/b",
            k.clone(),
            Zeroizing::new("t0k3n".to_owned()),
            DEFAULT_LIFETIME,
            now,
        );
        let (found, token) = tokens.for_gun("a/b", now).expect("kept");
        assert_eq!((found, token.as_str()), (k.clone(), "t0k3n"));
        assert!(tokens.for_gun("a/c", now).is_none());
        let later = now + DEFAULT_LIFETIME - MARGIN;
        assert!(
            tokens.get(&k, later).is_none(),
            "expired tokens are not sent"
        );
        assert!(tokens.get(&k, later - Duration::from_secs(1)).is_some());
        tokens.forget(&k);
        assert!(tokens.get(&k, now).is_none());
        assert!(!format!("{tokens:?}").contains("t0k3n"));
    }
}
