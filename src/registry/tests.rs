use super::*;

fn registry(insecure: bool) -> Registry {
    Registry::new(RegistryConfig {
        ca: None,
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
        insecure: false,
        credentials: None,
        docker_config: None,
        timeout: Duration::from_secs(5),
    })
    .expect_err("refused");
    assert!(matches!(err, RegistryError::Config(_)), "{err:?}");
}
