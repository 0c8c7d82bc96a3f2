//! Routes, status codes, headers and the error envelope, including hostile requests.

use axum::http::{Method, StatusCode};

use crate::{multipart, TestApp};

const GUN: &str = "example.com/org/app";

#[tokio::test]
async fn base_health_and_unknown_routes() {
    let app = TestApp::new().await;
    let r = app.get("/v2/").await;
    assert_eq!((r.status, r.body.as_slice()), (StatusCode::OK, &b"{}"[..]));
    let r = app.get("/_notary_server/health").await;
    assert_eq!((r.status, r.body.as_slice()), (StatusCode::OK, &b"{}"[..]));
    let r = app.get("/nothing/here").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error_code(), "METADATA_NOT_FOUND");
    assert!(
        r.json()["errors"][0].get("detail").is_none(),
        "no detail on an unrouted path"
    );
    assert!(r.body.ends_with(b"\n"));
    assert_eq!(r.headers["content-type"], "application/json; charset=utf-8");
    let r = app.request(Method::PATCH, "/v2/", None, vec![]).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(r.body.is_empty());
    let r = app.get(&format!("/v2/{GUN}/_trust/tuf/root.json")).await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "an unknown GUN's root is 404, so clients init"
    );
    assert_eq!(r.json()["errors"][0]["detail"], serde_json::json!({}));
    let r = app.get("/v2/a/../b/_trust/tuf/root.json").await;
    assert_eq!(r.status, StatusCode::MOVED_PERMANENTLY);
    assert_eq!(r.headers["location"], "/v2/b/_trust/tuf/root.json");
    let r = app
        .request(
            Method::HEAD,
            &format!("/v2/{GUN}/_trust/tuf/root.json"),
            None,
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn hostile_guns_are_refused() {
    let app = TestApp::new().await;
    for gun in ["a%0Ab", "a%20b", "a%2F_trust", "a%3Cb%3E", &"a".repeat(300)] {
        let r = app
            .get(&format!("/v2/{gun}/_trust/tuf/timestamp.key"))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{gun}");
        assert_eq!(r.error_code(), "INVALID_GUN", "{gun}");
    }
    // A GUN that contains the route's own separator never reaches a handler.
    let r = app.get("/v2/a/_trust/tuf/b/_trust/tuf/timestamp.key").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // A percent-encoded slash is a real slash, as in notary.
    let r = app.get("/v2/a%2Fb/_trust/tuf/timestamp.key").await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn malformed_uploads_write_nothing() {
    let app = TestApp::new().await;
    let path = format!("/v2/{GUN}/_trust/tuf/");
    let r = app
        .request(
            Method::POST,
            &path,
            Some("application/json"),
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (StatusCode::BAD_REQUEST, "MALFORMED_UPLOAD")
    );
    let r = app
        .request(
            Method::POST,
            &path,
            Some("multipart/form-data"),
            b"x".to_vec(),
        )
        .await;
    assert_eq!(r.error_code(), "MALFORMED_UPLOAD", "no boundary");
    let (ct, body) = multipart(&[("root", b"{}")]);
    let truncated = body[..body.len() / 2].to_vec();
    let r = app.request(Method::POST, &path, Some(&ct), truncated).await;
    assert_eq!(r.error_code(), "MALFORMED_UPLOAD", "a body that ends early");

    let boundary = "b0undary";
    let field = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\ny\r\n--{boundary}--\r\n"
    );
    let r = app
        .request(
            Method::POST,
            &path,
            Some(&format!("multipart/form-data; boundary={boundary}")),
            field.into_bytes(),
        )
        .await;
    assert_eq!(r.error_code(), "NO_FILENAME");

    let (ct, body) = multipart(&[("targets/../root", b"{}")]);
    let r = app.request(Method::POST, &path, Some(&ct), body).await;
    assert_eq!(r.error_code(), "INVALID_ROLE");
    assert_eq!(r.json()["errors"][0]["detail"], "targets/../root");

    for bad in [
        &b""[..],
        b"{",
        b"[]",
        b"{\"signed\":1,\"signatures\":[]}",
        b"\xff\xfe",
    ] {
        let (ct, body) = multipart(&[("targets", bad)]);
        let r = app.request(Method::POST, &path, Some(&ct), body).await;
        assert_eq!(
            r.error_code(),
            "MALFORMED_JSON",
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let (ct, body) = multipart(&[("targets", deep.as_bytes())]);
    let r = app.request(Method::POST, &path, Some(&ct), body).await;
    assert_eq!(r.error_code(), "MALFORMED_JSON", "deeply nested JSON");

    let big = vec![b' '; 50 << 20];
    let (ct, body) = multipart(&[("targets", &big)]);
    let r = app.request(Method::POST, &path, Some(&ct), body).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.error_code(), "MALFORMED_UPLOAD");

    assert!(app.dump(GUN).await.is_empty(), "nothing was written");
}

#[tokio::test]
async fn keys_are_stable_per_gun_and_rotate() {
    let app = TestApp::new().await;
    let first = app.server_key(GUN, "timestamp").await;
    assert_eq!(
        app.server_key(GUN, "timestamp").await,
        first,
        "one pending key per GUN and role"
    );
    assert_ne!(
        app.server_key("example.com/other", "timestamp").await,
        first,
        "keys are per GUN"
    );
    let r = app
        .get(&format!("/v2/{GUN}/_trust/tuf/timestamp.key"))
        .await;
    let text = String::from_utf8(r.body).expect("utf-8");
    assert!(
        text.starts_with("{\"keytype\":\"ed25519\",\"keyval\":{\"public\":"),
        "{text}"
    );
    assert!(text.ends_with(",\"private\":null}}"), "{text}");
    let r = app
        .request(
            Method::POST,
            &format!("/v2/{GUN}/_trust/tuf/timestamp.key"),
            None,
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_ne!(
        r.json()["keyval"]["public"],
        first["keyval"]["public"],
        "rotation makes a new key"
    );
    assert_eq!(
        app.get(&format!("/v2/{GUN}/_trust/tuf/root.key"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn changefeed_parameters() {
    let app = TestApp::new().await;
    let r = app.get("/v2/_trust/changefeed").await;
    assert_eq!(r.error_code(), "INVALID_PARAMETERS");
    let r = app.get("/v2/_trust/changefeed?records=x").await;
    assert_eq!(r.error_code(), "INVALID_PARAMETERS");
    let r = app
        .get("/v2/_trust/changefeed?records=10&change_id=x")
        .await;
    assert_eq!(r.error_code(), "INVALID_PARAMETERS");
    let r = app.get("/v2/_trust/changefeed?records=-5").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json(), serde_json::json!({"count": 0, "records": []}));
}

#[tokio::test]
async fn delete_of_unknown_gun_is_ok() {
    let app = TestApp::new().await;
    let r = app
        .request(
            Method::DELETE,
            &format!("/v2/{GUN}/_trust/tuf/"),
            None,
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.is_empty());
    let feed = app.get("/v2/_trust/changefeed?records=10").await.json();
    assert_eq!(feed["count"], 0, "deleting nothing records nothing");
}
