//! Notary's route table as a pure function from method and path to a route (docs/protocol.md §1.1).
//!
//! A GUN contains slashes, so the table is matched by hand rather than by a router pattern.
//! The order is notary's: checksum, then version, then current.

use axum::http::Method;

/// A `/v2/{gun}/_trust/tuf/{file}` request, before the GUN and role are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /v2/`.
    Base,
    /// `GET /_notary_server/health`.
    Health,
    /// `POST …/_trust/tuf/`.
    Update { gun: String },
    /// `DELETE …/_trust/tuf/`.
    Delete { gun: String },
    /// `GET …/{role}.{checksum}.json`.
    RoleByChecksum {
        gun: String,
        role: String,
        checksum: String,
    },
    /// `GET …/{version}.{role}.json`.
    RoleByVersion {
        gun: String,
        role: String,
        version: String,
    },
    /// `GET …/{role}.json`.
    Role { gun: String, role: String },
    /// `GET …/{snapshot|timestamp}.key`.
    GetKey { gun: String, role: String },
    /// `POST …/{snapshot|timestamp}.key`.
    RotateKey { gun: String, role: String },
    /// `GET /v2/{gun}/_trust/changefeed`.
    Changefeed { gun: String },
    /// `GET /v2/_trust/changefeed`.
    GlobalChangefeed,
    /// `POST /v1/verify`: images checked against the trust policy.
    Verify,
    /// `POST /k8s/mutate` or `POST /k8s/validate`: an AdmissionReview.
    Admission(crate::admission::Hook),
    /// Anything else with a method notary routes: 404 `METADATA_NOT_FOUND`.
    NotFound,
    /// A method notary never routes: 405 with an empty body.
    MethodNotAllowed,
}

impl Route {
    /// The GUN named in the path, for the routes that have one.
    pub fn gun(&self) -> Option<&str> {
        match self {
            Route::Update { gun }
            | Route::Delete { gun }
            | Route::RoleByChecksum { gun, .. }
            | Route::RoleByVersion { gun, .. }
            | Route::Role { gun, .. }
            | Route::GetKey { gun, .. }
            | Route::RotateKey { gun, .. }
            | Route::Changefeed { gun } => Some(gun),
            Route::Base
            | Route::Health
            | Route::GlobalChangefeed
            | Route::Verify
            | Route::Admission(_)
            | Route::NotFound
            | Route::MethodNotAllowed => None,
        }
    }
}

/// Matches notary's `{role}` pattern: `root|targets(?:/[^/\s]+)*|snapshot|timestamp`.
fn is_role_pattern(s: &str) -> bool {
    match s {
        "root" | "targets" | "snapshot" | "timestamp" => true,
        _ => s.strip_prefix("targets/").is_some_and(|rest| {
            rest.split('/')
                .all(|seg| !seg.is_empty() && !seg.chars().any(char::is_whitespace))
        }),
    }
}

fn is_checksum(s: &str) -> bool {
    matches!(s.len(), 64 | 96 | 128) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Routes a decoded path.
pub fn route(method: &Method, path: &str) -> Route {
    let get = method == Method::GET;
    let post = method == Method::POST;
    if ![
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::HEAD,
        Method::DELETE,
    ]
    .contains(method)
    {
        return Route::MethodNotAllowed;
    }
    match path {
        "/v2/" if get => return Route::Base,
        "/_notary_server/health" if get => return Route::Health,
        "/v2/_trust/changefeed" if get => return Route::GlobalChangefeed,
        "/v1/verify" if post => return Route::Verify,
        "/k8s/mutate" if post => return Route::Admission(crate::admission::Hook::Mutate),
        "/k8s/validate" if post => return Route::Admission(crate::admission::Hook::Validate),
        _ => {}
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return Route::NotFound;
    };
    if let Some(gun) = rest.strip_suffix("/_trust/changefeed") {
        if get && !gun.is_empty() && !gun.contains('*') {
            return Route::Changefeed {
                gun: gun.to_owned(),
            };
        }
        return Route::NotFound;
    }
    let Some(at) = rest.find("/_trust/tuf/") else {
        return Route::NotFound;
    };
    let (gun, file) = (&rest[..at], &rest[at + "/_trust/tuf/".len()..]);
    if gun.is_empty() || gun.contains('*') {
        return Route::NotFound;
    }
    let gun = gun.to_owned();
    if file.is_empty() {
        return match *method {
            Method::POST => Route::Update { gun },
            Method::DELETE => Route::Delete { gun },
            _ => Route::NotFound,
        };
    }
    if let Some(role) = file.strip_suffix(".key") {
        if role == "snapshot" || role == "timestamp" {
            let role = role.to_owned();
            if get {
                return Route::GetKey { gun, role };
            }
            if post {
                return Route::RotateKey { gun, role };
            }
        }
        return Route::NotFound;
    }
    let Some(stem) = file.strip_suffix(".json") else {
        return Route::NotFound;
    };
    if !get {
        return Route::NotFound;
    }
    if let Some((role, checksum)) = stem.rsplit_once('.') {
        if is_checksum(checksum) && is_role_pattern(role) {
            return Route::RoleByChecksum {
                gun,
                role: role.to_owned(),
                checksum: checksum.to_owned(),
            };
        }
    }
    if let Some((version, role)) = stem.split_once('.') {
        if !version.is_empty()
            && version.bytes().all(|b| b.is_ascii_digit())
            && is_role_pattern(role)
        {
            return Route::RoleByVersion {
                gun,
                role: role.to_owned(),
                version: version.to_owned(),
            };
        }
    }
    if is_role_pattern(stem) {
        return Route::Role {
            gun,
            role: stem.to_owned(),
        };
    }
    Route::NotFound
}

/// The cleaned form of a path with `.`/`..` segments or `//`, which notary answers with a
/// 301 to the cleaned path; `None` when the path is already clean.
pub fn cleaned(path: &str) -> Option<String> {
    let dirty = path.contains("//") || path.split('/').any(|s| s == "." || s == "..");
    if !dirty {
        return None;
    }
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let mut clean = format!("/{}", out.join("/"));
    if path.ends_with('/') && clean != "/" {
        clean.push('/');
    }
    Some(clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gun_route(method: Method, file: &str) -> Route {
        route(
            &method,
            &format!("/v2/example.com/org/app/_trust/tuf/{file}"),
        )
    }

    #[test]
    fn matches_notary_table() {
        let gun = "example.com/org/app".to_owned();
        assert_eq!(route(&Method::GET, "/v2/"), Route::Base);
        assert_eq!(route(&Method::GET, "/v2"), Route::NotFound);
        assert_eq!(
            gun_route(Method::POST, ""),
            Route::Update { gun: gun.clone() }
        );
        assert_eq!(
            gun_route(Method::DELETE, ""),
            Route::Delete { gun: gun.clone() }
        );
        assert_eq!(gun_route(Method::GET, ""), Route::NotFound);
        assert_eq!(
            gun_route(Method::GET, "root.json"),
            Route::Role {
                gun: gun.clone(),
                role: "root".into()
            }
        );
        assert_eq!(
            gun_route(Method::GET, "targets/releases.json"),
            Route::Role {
                gun: gun.clone(),
                role: "targets/releases".into()
            }
        );
        assert_eq!(
            gun_route(Method::GET, "3.targets/releases.json"),
            Route::RoleByVersion {
                gun: gun.clone(),
                role: "targets/releases".into(),
                version: "3".into()
            }
        );
        let sha = "a".repeat(64);
        assert_eq!(
            gun_route(Method::GET, &format!("snapshot.{sha}.json")),
            Route::RoleByChecksum {
                gun: gun.clone(),
                role: "snapshot".into(),
                checksum: sha
            }
        );
        assert_eq!(
            gun_route(Method::GET, "timestamp.key"),
            Route::GetKey {
                gun: gun.clone(),
                role: "timestamp".into()
            }
        );
        assert_eq!(
            gun_route(Method::POST, "snapshot.key"),
            Route::RotateKey {
                gun,
                role: "snapshot".into()
            }
        );
        assert_eq!(gun_route(Method::GET, "root.key"), Route::NotFound);
        assert_eq!(gun_route(Method::GET, "evil.json"), Route::NotFound);
        assert_eq!(gun_route(Method::HEAD, "root.json"), Route::NotFound);
        assert_eq!(
            gun_route(Method::PATCH, "root.json"),
            Route::MethodNotAllowed
        );
        assert_eq!(
            route(&Method::GET, "/v2/a*b/_trust/tuf/root.json"),
            Route::NotFound
        );
        assert_eq!(
            route(&Method::GET, "/v2/a/b/_trust/changefeed"),
            Route::Changefeed { gun: "a/b".into() }
        );
        assert_eq!(
            route(&Method::GET, "/v2/_trust/changefeed"),
            Route::GlobalChangefeed
        );
    }

    #[test]
    fn cleans_like_notary() {
        assert_eq!(
            cleaned("/v2/a/../b/_trust/tuf/root.json"),
            Some("/v2/b/_trust/tuf/root.json".into())
        );
        assert_eq!(
            cleaned("/v2//a/_trust/tuf/"),
            Some("/v2/a/_trust/tuf/".into())
        );
        assert_eq!(cleaned("/v2/a/_trust/tuf/root.json"), None);
    }
}
