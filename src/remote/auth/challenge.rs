//! `WWW-Authenticate` challenges (RFC 7235 §4.1): one header may hold several challenges, and
//! a quoted value may hold commas, so the header is read token by token, not split on `,`.

use std::collections::BTreeMap;

/// One challenge: its scheme (lower case) and its parameters (names in lower case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    pub(crate) scheme: String,
    pub(crate) params: BTreeMap<String, String>,
}

impl Challenge {
    /// The value of parameter `name`, when present and not empty.
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// Every challenge of every header value, in order; what cannot be read is skipped.
pub(crate) fn parse_all<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Vec<Challenge> {
    values
        .into_iter()
        .filter_map(|v| std::str::from_utf8(v).ok())
        .flat_map(parse)
        .collect()
}

/// The challenges of one header value.
pub(super) fn parse(value: &str) -> Vec<Challenge> {
    let mut reader = Reader {
        chars: value.chars().collect(),
        at: 0,
    };
    let mut challenges: Vec<Challenge> = Vec::new();
    loop {
        reader.skip(|c| c == ',' || c.is_whitespace());
        if reader.done() {
            break;
        }
        let word = reader.token();
        if word.is_empty() {
            // Not a token character where one must start: skip it.
            reader.at += 1;
            continue;
        }
        reader.skip(|c| c == ' ' || c == '\t');
        if reader.peek() == Some('=') {
            reader.at += 1;
            reader.skip(|c| c == ' ' || c == '\t');
            let value = if reader.peek() == Some('"') {
                reader.quoted()
            } else {
                reader.until(|c| c == ',' || c.is_whitespace())
            };
            if let Some(current) = challenges.last_mut() {
                current
                    .params
                    .entry(word.to_ascii_lowercase())
                    .or_insert(value);
            }
        } else {
            challenges.push(Challenge {
                scheme: word.to_ascii_lowercase(),
                params: BTreeMap::new(),
            });
        }
    }
    challenges
}

struct Reader {
    chars: Vec<char>,
    at: usize,
}

impl Reader {
    fn done(&self) -> bool {
        self.at >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn skip(&mut self, what: impl Fn(char) -> bool) {
        while self.peek().is_some_and(&what) {
            self.at += 1;
        }
    }

    fn until(&mut self, end: impl Fn(char) -> bool) -> String {
        let start = self.at;
        while self.peek().is_some_and(|c| !end(c)) {
            self.at += 1;
        }
        self.chars[start..self.at].iter().collect()
    }

    /// An RFC 7230 token (`tchar`s).
    fn token(&mut self) -> String {
        self.until(|c| !(c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)))
    }

    /// A quoted string starting at `"`: backslash escapes the next character; an unterminated
    /// string runs to the end.
    fn quoted(&mut self) -> String {
        self.at += 1;
        let mut out = String::new();
        while let Some(c) = self.peek() {
            self.at += 1;
            match c {
                '"' => break,
                '\\' => {
                    if let Some(next) = self.peek() {
                        out.push(next);
                        self.at += 1;
                    }
                }
                _ => out.push(c),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(challenge: &Challenge) -> Vec<(&str, &str)> {
        challenge
            .params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn notarys_bearer_challenge() {
        let all = parse(
            r#"Bearer realm="https://auth.example.com/token",service="notary",scope="repository:example.com/org/app:push,pull",error="insufficient_scope""#,
        );
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].scheme, "bearer");
        assert_eq!(
            params(&all[0]),
            [
                ("error", "insufficient_scope"),
                ("realm", "https://auth.example.com/token"),
                ("scope", "repository:example.com/org/app:push,pull"),
                ("service", "notary"),
            ]
        );
    }

    #[test]
    fn several_challenges_spaces_escapes_and_bare_values() {
        let all = parse(
            r#"Basic realm="a \"quoted\", realm" , BEARER Realm = https://x/t , service="s""#,
        );
        assert_eq!(all.len(), 2, "{all:?}");
        assert_eq!(all[0].scheme, "basic");
        assert_eq!(all[0].param("realm"), Some(r#"a "quoted", realm"#));
        assert_eq!(all[1].scheme, "bearer");
        assert_eq!(all[1].param("realm"), Some("https://x/t"));
        assert_eq!(all[1].param("service"), Some("s"));
    }

    #[test]
    fn several_header_values_and_garbage() {
        let all = parse_all([
            &b"Basic realm=\"notarium\""[..],
            &b"\xff\xfe"[..],
            &b"Bearer realm=\"unterminated"[..],
        ]);
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].param("realm"), Some("unterminated"));
        assert!(parse("").is_empty());
        assert!(parse(",,, = \"").is_empty());
        // A parameter before any scheme belongs to nothing.
        assert!(parse("realm=x").is_empty());
    }
}
