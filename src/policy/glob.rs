//! Anchored globs over normalised repository names.
//!
//! A policy names repositories by pattern: `*` stands for any run of characters within one
//! path component (never a `/`), `**` for any run across components, and every other
//! character for itself. The whole name must match, so a pattern's host is matched whole and
//! never as a prefix or suffix of a longer host (`registry.example.com/*` does not match
//! `registry.example.com.evil.io/app`). Matching is a table walk over pattern × name, so the
//! work is bounded by their product, whatever the pattern.

use std::cmp::Reverse;

/// The longest pattern a policy may hold.
pub(crate) const PATTERN_MAX: usize = 1024;

/// One element of a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    /// A byte that must appear as is.
    Literal(u8),
    /// `*`: any run of bytes other than `/`.
    Star,
    /// `**`: any run of bytes.
    DoubleStar,
}

/// How specific a pattern is, for "most specific wins": greater is more specific.
///
/// A pattern without wildcards beats any with one; then more literal characters win; then
/// fewer `**`. Equal values are a tie, which the caller breaks by file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Specificity {
    exact: bool,
    literals: usize,
    double_stars: Reverse<usize>,
}

/// Checks that `pattern` is a glob a policy may hold; the error says what is wrong.
pub(crate) fn check(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() {
        return Err("the pattern is empty".to_owned());
    }
    if pattern.len() > PATTERN_MAX {
        return Err(format!(
            "the pattern is {} bytes long; at most {PATTERN_MAX} are allowed",
            pattern.len()
        ));
    }
    if pattern.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the pattern holds whitespace or a control character".to_owned());
    }
    if pattern.contains("***") {
        return Err("`***` means nothing; use `*` within a component or `**` across".to_owned());
    }
    Ok(())
}

/// Whether `name` matches `pattern` as a whole.
///
/// `pattern` should have passed [`check`]; a run of three or more `*` counts as `**`.
pub(crate) fn matches(pattern: &str, name: &str) -> bool {
    let name = name.as_bytes();
    // reachable[j]: the tokens seen so far match exactly name[..j].
    let mut reachable = vec![false; name.len() + 1];
    reachable[0] = true;
    let mut next = vec![false; name.len() + 1];
    for token in tokens(pattern) {
        match token {
            Token::Literal(b) => {
                next[0] = false;
                for j in 0..name.len() {
                    next[j + 1] = reachable[j] && name[j] == b;
                }
            }
            Token::Star => {
                next[0] = reachable[0];
                for j in 0..name.len() {
                    next[j + 1] = reachable[j + 1] || (next[j] && name[j] != b'/');
                }
            }
            Token::DoubleStar => {
                next[0] = reachable[0];
                for j in 0..name.len() {
                    next[j + 1] = reachable[j + 1] || next[j];
                }
            }
        }
        std::mem::swap(&mut reachable, &mut next);
        if !reachable.contains(&true) {
            return false;
        }
    }
    reachable[name.len()]
}

/// The specificity of `pattern`.
pub(crate) fn specificity(pattern: &str) -> Specificity {
    let mut literals = 0;
    let mut wildcards = 0;
    let mut double_stars = 0;
    for token in tokens(pattern) {
        match token {
            Token::Literal(_) => literals += 1,
            Token::Star => wildcards += 1,
            Token::DoubleStar => {
                wildcards += 1;
                double_stars += 1;
            }
        }
    }
    Specificity {
        exact: wildcards == 0,
        literals,
        double_stars: Reverse(double_stars),
    }
}

/// Whether `pattern` holds a wildcard.
pub(crate) fn has_wildcard(pattern: &str) -> bool {
    pattern.contains('*')
}

fn tokens(pattern: &str) -> Vec<Token> {
    let bytes = pattern.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'*' {
            let run = bytes[i..].iter().take_while(|&&b| b == b'*').count();
            out.push(if run == 1 {
                Token::Star
            } else {
                Token::DoubleStar
            });
            i += run;
        } else {
            out.push(Token::Literal(bytes[i]));
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests;
