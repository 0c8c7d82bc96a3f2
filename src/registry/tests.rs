use super::*;

fn registry(insecure: bool) -> Registry {
    Registry::new(RegistryConfig {
        ca: None,
        extra_ca: Vec::new(),
        insecure,
        credentials: None,
        docker_config: None,
        timeout: Duration::from_secs(5),
    })
    .expect("client")
}

#[test]
fn locations_and_urls() {
    let location = Location::of_name("127.0.0.1:5000/org/app").expect("location");
    assert_eq!(location.host, "127.0.0.1:5000");
    assert_eq!(location.repository, "org/app");
    let url = registry(false)
        .url(&location, &["manifests", "v1.0"])
        .expect("url");
    assert_eq!(
        url.as_str(),
        "https://127.0.0.1:5000/v2/org/app/manifests/v1.0"
    );
    let url = registry(true)
        .url(&location, &["blobs", "sha256:ab"])
        .expect("url");
    assert_eq!(
        url.as_str(),
        "http://127.0.0.1:5000/v2/org/app/blobs/sha256:ab"
    );
    let hub = Location::of_name("docker.io/library/alpine").expect("hub");
    let url = registry(false).url(&hub, &["manifests", "3"]).expect("url");
    assert_eq!(url.host_str(), Some("registry-1.docker.io"));
    assert!(Location::of_name("alpine").is_err());
    for bad in ["", "../x", "a/b", "t?x"] {
        assert!(
            registry(false).url(&location, &["manifests", bad]).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn media_types_from_the_body() {
    let index = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
    assert_eq!(
        body_media_type(index).as_deref(),
        Some("application/vnd.oci.image.index.v1+json")
    );
    assert_eq!(body_media_type(br#"{"mediaType":"text/html"}"#), None);
    assert_eq!(body_media_type(b"<html>"), None);
    let manifest = Manifest {
        media_type: MANIFEST_TYPES[1].to_owned(),
        digest: [0; 32],
        bytes: Bytes::from_static(b"{}"),
    };
    assert!(manifest.is_index());
    assert_eq!(manifest.size(), 2);
    assert!(accept().contains("application/vnd.docker.distribution.manifest.v2+json"));
}

#[test]
fn an_empty_ca_file_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "nothing\n").expect("write");
    let err = Registry::new(RegistryConfig {
        ca: Some(ca),
        extra_ca: Vec::new(),
        insecure: false,
        credentials: None,
        docker_config: None,
        timeout: Duration::from_secs(5),
    })
    .expect_err("refused");
    assert!(matches!(err, RegistryError::Config(_)), "{err:?}");
}

#[test]
fn docker_certs_d_lists_the_hosts_crt_files_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let host = dir.path().join("127.0.0.1:5000");
    std::fs::create_dir_all(host.join("sub.crt")).expect("mkdir");
    for name in ["b.crt", "a.crt", "client.cert", "client.key"] {
        std::fs::write(host.join(name), "x").expect("write");
    }
    assert_eq!(
        docker_certs_d(dir.path(), "127.0.0.1:5000"),
        vec![host.join("a.crt"), host.join("b.crt")]
    );
    assert!(docker_certs_d(dir.path(), "127.0.0.1:5001").is_empty());
    assert!(docker_certs_d(dir.path(), "../127.0.0.1:5000").is_empty());
    assert!(docker_certs_d(dir.path(), "x/../127.0.0.1:5000").is_empty());
}

#[test]
fn an_unreadable_certs_d_file_is_refused_not_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.crt");
    std::fs::write(&ca, "nothing\n").expect("write");
    let err = Registry::new(RegistryConfig {
        ca: None,
        extra_ca: vec![ca],
        insecure: false,
        credentials: None,
        docker_config: None,
        timeout: Duration::from_secs(5),
    })
    .expect_err("refused");
    assert!(matches!(err, RegistryError::Config(_)), "{err:?}");
}

/// A registry on plain HTTP that answers each request with `answer(request head)`: the
/// registry's side of the wire, hostile when a test wants it to be.
async fn serve(answer: fn(&str) -> String) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            // A TLS hello (0x16) is answered with a 400 at once, as an HTTP server does.
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.first() != Some(&0x16) {
                match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let response = if head.first() == Some(&0x16) {
                response("400 Bad Request", &[], "")
            } else {
                answer(&String::from_utf8_lossy(&head))
            };
            let _ = socket.write_all(response.as_bytes()).await;
            let _ = socket.shutdown().await;
        }
    });
    address
}

fn response(status: &str, headers: &[String], body: &str) -> String {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for header in headers {
        out.push_str(header);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.push_str(body);
    out
}

const MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}"#;

fn manifest_digest() -> String {
    format!(
        "sha256:{}",
        hex::encode(digest(&SHA256, MANIFEST.as_bytes()))
    )
}

/// A registry behind a token service on the same host: 401 with a Bearer challenge, a token
/// for the asked scope, then the manifest for that token only.
fn token_registry(head: &str) -> String {
    let host = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("host: ")
                .or_else(|| l.strip_prefix("Host: "))
        })
        .unwrap_or_default()
        .trim()
        .to_owned();
    if head.starts_with("GET /token?") {
        assert!(
            head.contains("scope=repository%3Aorg%2Fapp%3Apull"),
            "{head}"
        );
        return response("200 OK", &[], r#"{"token":"t0k3n","expires_in":300}"#);
    }
    if head
        .to_ascii_lowercase()
        .contains("authorization: bearer t0k3n")
    {
        assert!(
            head.contains("application/vnd.oci.image.index.v1+json"),
            "{head}"
        );
        return response(
            "200 OK",
            &[
                "Content-Type: application/vnd.oci.image.manifest.v1+json".to_owned(),
                format!("Docker-Content-Digest: {}", manifest_digest()),
            ],
            MANIFEST,
        );
    }
    response(
        "401 Unauthorized",
        &[format!(
            "WWW-Authenticate: Bearer realm=\"http://{host}/token\",service=\"reg\",scope=\"repository:org/app:pull\""
        )],
        r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
    )
}

#[tokio::test]
async fn a_bearer_challenge_is_followed_and_the_digest_is_of_the_bytes() {
    let address = serve(token_registry).await;
    let location = Location::of_name(&format!("{address}/org/app")).expect("location");
    let manifest = registry(true)
        .manifest(&location, "v1")
        .await
        .expect("manifest");
    assert_eq!(manifest.digest_string(), manifest_digest());
    assert_eq!(manifest.size(), MANIFEST.len() as u64);
    assert_eq!(manifest.media_type, MANIFEST_TYPES[2]);
    assert!(!manifest.is_index());
}

#[tokio::test]
async fn hostile_and_missing_manifests_are_errors() {
    let lying = serve(|_| {
        response(
            "200 OK",
            &[format!("Docker-Content-Digest: sha256:{}", "0".repeat(64))],
            MANIFEST,
        )
    })
    .await;
    let location = Location::of_name(&format!("{lying}/org/app")).expect("location");
    let err = registry(true)
        .manifest(&location, "v1")
        .await
        .expect_err("refused");
    assert!(matches!(err, RegistryError::Failed(_)), "{err:?}");
    assert!(err.to_string().contains("but its bytes are"), "{err}");
    // Asked by digest, other bytes are refused too.
    let err = registry(true)
        .manifest(&location, &format!("sha256:{}", "1".repeat(64)))
        .await
        .expect_err("refused");
    assert!(matches!(err, RegistryError::Failed(_)), "{err:?}");

    let missing = serve(|_| {
        response(
            "404 Not Found",
            &[],
            r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
        )
    })
    .await;
    let location = Location::of_name(&format!("{missing}/org/app")).expect("location");
    let err = registry(true)
        .manifest(&location, "v9")
        .await
        .expect_err("absent");
    assert!(matches!(err, RegistryError::NotFound(_)), "{err:?}");

    let huge = serve(|_| {
        format!(
            "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
            MANIFEST_LIMIT + 1
        )
    })
    .await;
    let location = Location::of_name(&format!("{huge}/org/app")).expect("location");
    let err = registry(true)
        .manifest(&location, "v1")
        .await
        .expect_err("too large");
    assert!(err.to_string().contains("larger than"), "{err}");
}

#[tokio::test]
async fn a_plain_http_registry_is_named_as_such_without_insecure() {
    let plain = serve(|_| response("200 OK", &[], "{}")).await;
    let location = Location::of_name(&format!("{plain}/org/app")).expect("location");
    let err = registry(false)
        .manifest(&location, "v1")
        .await
        .expect_err("refused");
    assert!(matches!(err, RegistryError::Unreachable(_)), "{err:?}");
    assert!(err.to_string().contains("--insecure"), "{err}");
}
