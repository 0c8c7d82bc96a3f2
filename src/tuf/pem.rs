//! Minimal PEM reading and canonical writing, for certificate keys (`ecdsa-x509`, `rsa-x509`).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// One `-----BEGIN label-----` … `-----END label-----` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Block {
    /// The label, e.g. `CERTIFICATE`.
    pub(crate) label: String,
    /// The decoded body.
    pub(crate) der: Vec<u8>,
    /// Whether the block had `Key: value` header lines (Go skips such certificates in places).
    pub(crate) has_headers: bool,
}

/// Every well-formed block in `data`, in order, skipping text between blocks like Go's
/// `pem.Decode`; reading stops at the first malformed block.
pub(crate) fn blocks(data: &[u8]) -> Vec<Block> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some((block, tail)) = next_block(rest) {
        out.push(block);
        rest = tail;
    }
    out
}

/// The first well-formed block in `data`.
pub(crate) fn first_block(data: &[u8]) -> Option<Block> {
    next_block(data).map(|(block, _)| block)
}

/// The canonical PEM encoding Go's `pem.Encode` produces: 64-column base64, `\n` line ends, a
/// trailing newline.
pub(crate) fn encode(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

const BEGIN: &[u8] = b"-----BEGIN ";
const DASHES: &[u8] = b"-----";

fn next_block(data: &[u8]) -> Option<(Block, &[u8])> {
    let start = find(data, BEGIN)? + BEGIN.len();
    let after_begin = &data[start..];
    let line_end = after_begin
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(after_begin.len());
    let label_line = trim_cr(&after_begin[..line_end]);
    let label = label_line.strip_suffix(DASHES)?;
    let label = std::str::from_utf8(label).ok()?.to_owned();
    let body_start = (line_end + 1).min(after_begin.len());
    let body_and_rest = &after_begin[body_start..];
    let end_marker = format!("-----END {label}-----");
    let end = find(body_and_rest, end_marker.as_bytes())?;
    let body = &body_and_rest[..end];
    let mut rest = &body_and_rest[end + end_marker.len()..];
    if let Some(tail) = rest
        .strip_prefix(b"\r\n")
        .or_else(|| rest.strip_prefix(b"\n"))
    {
        rest = tail;
    }

    let mut has_headers = false;
    let mut encoded = Vec::with_capacity(body.len());
    for line in body.split(|&b| b == b'\n') {
        if line.contains(&b':') {
            has_headers = true;
            continue;
        }
        encoded.extend(line.iter().filter(|b| !b.is_ascii_whitespace()));
    }
    let der = STANDARD.decode(&encoded).ok()?;
    Some((
        Block {
            label,
            der,
            has_headers,
        },
        rest,
    ))
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_canonical_pem() {
        let der: Vec<u8> = (0..=255u8).cycle().take(200).collect();
        let pem = encode("CERTIFICATE", &der);
        assert!(pem.lines().all(|l| l.len() <= 64));
        assert!(pem.ends_with("-----END CERTIFICATE-----\n"));
        let two = format!("{pem}{pem}");
        let parsed = blocks(two.as_bytes());
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].der, der);
        assert_eq!(parsed[1].label, "CERTIFICATE");
    }

    #[test]
    fn tolerates_junk_and_stops_at_malformed() {
        assert_eq!(blocks(b"no pem here"), vec![]);
        assert_eq!(blocks(b"-----BEGIN X-----\nAAAA\n"), vec![]);
        let junk = b"hello\n-----BEGIN X-----\r\nAA\r\nAA\r\n-----END X-----\r\n";
        let block = first_block(junk).expect("block");
        assert_eq!(block.der, vec![0, 0, 0]);
        assert!(!block.has_headers);
        assert!(first_block(b"-----BEGIN X-----\n!!!!\n-----END X-----\n").is_none());
    }
}
