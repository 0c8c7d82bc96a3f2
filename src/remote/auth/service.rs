//! The token service's side of registry token auth: the token request (HTTP Basic, or the
//! OAuth refresh-token grant for an identity token) and its answer.

use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use reqwest::{Client, RequestBuilder, StatusCode, Url};
use zeroize::Zeroizing;

use super::tokens::{TokenKey, DEFAULT_LIFETIME};
use crate::remote::credentials::{Credentials, IDENTITY_TOKEN_USER};
use crate::remote::transport::{describe, read_body, status_summary};

/// The largest token response read.
const TOKEN_RESPONSE_LIMIT: usize = 1 << 20;

/// Asks the token service: `GET realm?service=…&scope=…` with HTTP Basic, or for an
/// identity token (`docker login` to a registry with OAuth) the OAuth refresh-token POST.
pub(crate) async fn request(
    client: &Client,
    realm: &Url,
    key: &TokenKey,
    credentials: Option<&Credentials>,
) -> Result<(Zeroizing<String>, Duration), String> {
    let mut params = vec![("scope", key.scope.as_str())];
    if !key.service.is_empty() {
        params.push(("service", key.service.as_str()));
    }
    let request: RequestBuilder = match credentials {
        Some(c) if c.username == IDENTITY_TOKEN_USER => {
            params.extend([
                ("grant_type", "refresh_token"),
                ("client_id", "notarium"),
                ("refresh_token", c.password.as_str()),
            ]);
            let body = Zeroizing::new(
                serde_urlencoded::to_string(&params)
                    .map_err(|_| "cannot encode the token request".to_owned())?,
            );
            client
                .post(realm.clone())
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body.as_bytes().to_vec())
        }
        Some(c) => {
            params.push(("account", c.username.as_str()));
            client
                .get(realm.clone())
                .query(&params)
                .basic_auth(&c.username, Some(c.password.as_str()))
        }
        None => client.get(realm.clone()).query(&params),
    };
    let who = match credentials {
        Some(c) if c.username == IDENTITY_TOKEN_USER => "the identity token".to_owned(),
        Some(c) => format!("the credentials of user {:?}", c.username),
        None => "an anonymous request".to_owned(),
    };
    let response = request
        .send()
        .await
        .map_err(|e| format!("token service {realm}: {}", describe(&e)))?;
    match response.status() {
        StatusCode::OK => {}
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            return Err(format!(
                "token service {realm} refused {who}: {}",
                status_summary(response).await
            ));
        }
        _ => {
            return Err(format!(
                "token service {realm}: {}",
                status_summary(response).await
            ))
        }
    }
    let body = Zeroizing::new(
        read_body(response, TOKEN_RESPONSE_LIMIT)
            .await
            .map_err(|e| format!("token service {realm}: {e}"))?
            .to_vec(),
    );
    parse_token(&body).ok_or_else(|| format!("token service {realm} sent no token"))
}

/// `{"token":…}` or `{"access_token":…}` and its `expires_in` (60 s when absent or lower).
fn parse_token(body: &[u8]) -> Option<(Zeroizing<String>, Duration)> {
    #[derive(serde::Deserialize)]
    struct TokenResponse {
        #[serde(default)]
        token: Option<String>,
        #[serde(default)]
        access_token: Option<String>,
        #[serde(default)]
        expires_in: Option<u64>,
    }
    let response: TokenResponse = serde_json::from_slice(body).ok()?;
    let lifetime = Duration::from_secs(response.expires_in.unwrap_or(0)).max(DEFAULT_LIFETIME);
    let token = [response.token, response.access_token]
        .into_iter()
        .flatten()
        .find(|t| !t.is_empty())?;
    Some((Zeroizing::new(token), lifetime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_responses() {
        let (token, lifetime) = parse_token(br#"{"token":"abc","expires_in":300}"#).expect("token");
        assert_eq!(
            (token.as_str(), lifetime),
            ("abc", Duration::from_secs(300))
        );
        let (token, lifetime) = parse_token(br#"{"access_token":"xyz"}"#).expect("access token");
        assert_eq!((token.as_str(), lifetime), ("xyz", DEFAULT_LIFETIME));
        let (token, _) =
            parse_token(br#"{"token":"","access_token":"xyz","expires_in":1}"#).expect("token");
        assert_eq!(token.as_str(), "xyz");
        assert!(parse_token(br#"{"token":""}"#).is_none());
        assert!(parse_token(b"<html>").is_none());
        assert!(parse_token(br#"{"token":7}"#).is_none());
    }
}
