//! The checks a rule must pass once its fields are read: each field on its own, and the fields
//! against each other. Every message names the rule and field and says what is expected.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::budget::{Text, WireKeyId};
use super::wire::{WireMode, WireRoot, WireRule, WireSigner};
use super::{Mode, RootTrust, Rule, Signer};
use crate::policy::glob;
use crate::policy::reference::ImageRef;
use crate::tuf::error::excerpt;
use crate::tuf::key::PublicKey;
use crate::tuf::role::RoleName;

/// Checks `wire`, rule number `index`, and builds the rule it says.
pub(super) fn rule(
    wire: WireRule,
    index: usize,
    read: &dyn Fn(&Path) -> std::io::Result<Vec<u8>>,
) -> Result<Rule, String> {
    let at = |field: &str, what: String| format!("rules[{index}].{field}: {what}");
    let WireRule {
        pattern: Text(pattern),
        server,
        ca,
        root,
        signers,
        threshold,
        mode,
        break_glass,
    } = wire;
    let server = server.map(|Text(s)| s);
    let ca = ca.map(|Text(path)| PathBuf::from(path));
    self::pattern(&pattern).map_err(|what| at("match", what))?;
    if let Some(server) = &server {
        self::server(server).map_err(|what| at("server", what))?;
    }
    if ca.as_ref().is_some_and(|ca| ca.as_os_str().is_empty()) {
        return Err(at("ca", "the path is empty".to_owned()));
    }
    let mode = match mode {
        None | Some(WireMode::Enforce) => Mode::Enforce,
        Some(WireMode::Warn) => Mode::Warn,
        Some(WireMode::Allow) => Mode::Allow,
    };
    if mode == Mode::Allow {
        let set: Vec<&str> = [
            ("root", root.is_some()),
            ("signers", signers.is_some()),
            ("threshold", threshold.is_some()),
        ]
        .into_iter()
        .filter_map(|(field, present)| present.then_some(field))
        .collect();
        if break_glass {
            return Err(at(
                "break_glass",
                "allow already admits every image; break-glass applies to enforce and warn rules"
                    .to_owned(),
            ));
        }
        if !set.is_empty() {
            return Err(at(
                "mode",
                format!(
                    "allow admits images without looking at trust data, so {} would never be \
                     used; remove {} or use enforce or warn",
                    set.join(" and "),
                    if set.len() == 1 { "it" } else { "them" }
                ),
            ));
        }
    }
    let root = match root {
        Some(root) => self::root(root, index, read)?,
        None if mode == Mode::Allow => RootTrust::default(),
        None => return Err(at("root", NO_ANCHOR.to_owned())),
    };
    let signers = self::signers(signers.unwrap_or_default(), index)?;
    if let Some(threshold) = threshold {
        let what = if signers.is_empty() {
            Some("a threshold counts signers; list them under `signers:`".to_owned())
        } else if threshold == 0 {
            Some("0 would admit unsigned images; the least is 1".to_owned())
        } else if threshold as usize > signers.len() {
            Some(format!(
                "{threshold} is more than the {} signer{} listed",
                signers.len(),
                if signers.len() == 1 { "" } else { "s" }
            ))
        } else {
            None
        };
        if let Some(what) = what {
            return Err(at("threshold", what));
        }
    }
    Ok(Rule {
        pattern,
        server,
        ca,
        root,
        signers,
        threshold,
        mode,
        break_glass,
    })
}

const NO_ANCHOR: &str = "pin a root key (keys or certs) or say tofu: true";

/// A valid glob, and, when it has no wildcard, a name as Docker normalises it: `nginx` would
/// never match, since images are matched by `docker.io/library/nginx`.
fn pattern(pattern: &str) -> Result<(), String> {
    glob::check(pattern)?;
    if glob::has_wildcard(pattern) {
        return Ok(());
    }
    match ImageRef::parse(pattern) {
        Ok(reference) if reference.name() == pattern => Ok(()),
        Ok(reference) => Err(format!(
            "{:?} never matches, since names are matched as Docker normalises them; write {:?}",
            excerpt(pattern),
            excerpt(reference.name())
        )),
        Err(error) => Err(format!("not a repository name: {error}")),
    }
}

/// An `http://` or `https://` URL naming a host, without credentials, query or fragment.
fn server(url: &str) -> Result<(), String> {
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return Err("expected an https:// (or http://) URL".to_owned());
    };
    let authority = rest.split('/').next().unwrap_or_default();
    // The URL is not echoed from here on: it might hold a password.
    if authority.contains('@') {
        return Err(
            "the URL must not hold credentials; give them to the client instead".to_owned(),
        );
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the URL holds whitespace or a control character".to_owned());
    }
    if rest.contains(['?', '#']) {
        return Err("the URL must not have a query or fragment".to_owned());
    }
    let host = match authority.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((address, after)) if !address.is_empty() => port(after).map(|()| address),
            _ => Err("the host's IPv6 address lacks its `]`".to_owned()),
        }?,
        None => {
            let (host, after) = match authority.find(':') {
                Some(i) => authority.split_at(i),
                None => (authority, ""),
            };
            port(after)?;
            host
        }
    };
    if host.is_empty() {
        return Err("the URL names no host".to_owned());
    }
    Ok(())
}

/// Empty, or `:` and a port number.
fn port(after_host: &str) -> Result<(), String> {
    if after_host.is_empty() {
        return Ok(());
    }
    match after_host.strip_prefix(':') {
        Some(digits) if !digits.is_empty() && digits.parse::<u16>().is_ok() => Ok(()),
        _ => Err("the port is not a number from 0 to 65535".to_owned()),
    }
}

fn root(
    root: WireRoot,
    index: usize,
    read: &dyn Fn(&Path) -> std::io::Result<Vec<u8>>,
) -> Result<RootTrust, String> {
    let pinned = !root.keys.is_empty() || !root.certs.is_empty();
    if root.tofu && pinned {
        return Err(format!(
            "rules[{index}].root.tofu: true cannot go with pinned keys or certs; pin a root or \
             trust the first one seen, not both"
        ));
    }
    if !root.tofu && !pinned {
        return Err(format!("rules[{index}].root: {NO_ANCHOR}"));
    }
    let mut keys = Vec::with_capacity(root.certs.len());
    for (i, Text(cert)) in root.certs.iter().enumerate() {
        let at = format!("rules[{index}].root.certs[{i}]");
        let (pem, what) = if cert.contains("-----BEGIN") {
            (cert.as_bytes().to_vec(), "the inline PEM".to_owned())
        } else {
            let bytes = read(Path::new(cert))
                .map_err(|e| format!("{at}: cannot read {:?}: {e}", excerpt(cert)))?;
            (bytes, format!("{:?}", excerpt(cert)))
        };
        let key = PublicKey::from_pem(&pem)
            .map_err(|e| format!("{at}: {what} is not a PEM CERTIFICATE or PUBLIC KEY: {e}"))?;
        keys.push(key);
    }
    Ok(RootTrust {
        key_ids: root.keys.into_iter().map(|WireKeyId(id)| id).collect(),
        keys,
        tofu: root.tofu,
    })
}

fn signers(wire: Vec<WireSigner>, index: usize) -> Result<Vec<Signer>, String> {
    let mut seen = HashSet::new();
    let mut signers = Vec::with_capacity(wire.len());
    for (i, WireSigner { name, keys }) in wire.into_iter().enumerate() {
        let at = format!("rules[{index}].signers[{i}]");
        if let Some(bare) = name.strip_prefix("targets/") {
            return Err(format!(
                "{at}: write the delegation's name {:?}, without `targets/`",
                excerpt(bare)
            ));
        }
        let role = RoleName::parse(&format!("targets/{name}")).map_err(|_| {
            format!(
                "{at}: {:?} is not a delegation name: lowercase letters, digits, `-`, `_` and \
                 `/` between non-empty parts",
                excerpt(&name)
            )
        })?;
        if !seen.insert(role.clone()) {
            return Err(format!("{at}: {:?} is listed twice", excerpt(&name)));
        }
        signers.push(Signer {
            name,
            role,
            key_ids: keys.into_iter().map(|WireKeyId(id)| id).collect(),
        });
    }
    Ok(signers)
}
