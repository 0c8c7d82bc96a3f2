//! The policy file as YAML: what may be written where, read with `serde_yaml_ng`.
//!
//! Rules are read through seeds rather than plain derives so that each rule is checked while
//! the deserialiser still stands on it: an error raised there carries the line and column of
//! the rule, and serde has no other way to say where a value was. Unknown fields are refused
//! at every level, so a misspelt field is an error rather than a silently absent setting.
//!
//! Strings and key IDs are read as [`Text`] and [`WireKeyId`], which charge a budget, since
//! aliases let a short text stand for a large value.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::budget::{charge, Budget, Text, WireKeyId};
use super::{check, Policy, PolicyError, Rule, RULES_MAX};

/// The one version of the file format.
const VERSION: u64 = 1;

/// One rule as written, before its fields are checked against each other.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WireRule {
    #[serde(rename = "match")]
    pub(super) pattern: Text,
    #[serde(default)]
    pub(super) server: Option<Text>,
    #[serde(default)]
    pub(super) ca: Option<Text>,
    #[serde(default)]
    pub(super) root: Option<WireRoot>,
    #[serde(default)]
    pub(super) signers: Option<Vec<WireSigner>>,
    #[serde(default)]
    pub(super) threshold: Option<u32>,
    #[serde(default)]
    pub(super) mode: Option<WireMode>,
    #[serde(default)]
    pub(super) break_glass: bool,
}

/// `root:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WireRoot {
    #[serde(default)]
    pub(super) keys: Vec<WireKeyId>,
    #[serde(default)]
    pub(super) certs: Vec<Text>,
    #[serde(default)]
    pub(super) tofu: bool,
}

/// One entry of `signers:`: a bare name, or a name with the keys that count for it.
#[derive(Debug)]
pub(super) struct WireSigner {
    pub(super) name: String,
    pub(super) keys: Vec<WireKeyId>,
}

/// The mapping form of a signer.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignerMapping {
    name: Text,
    #[serde(default)]
    keys: Vec<WireKeyId>,
}

/// `mode:` as written.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum WireMode {
    Allow,
    Enforce,
    Warn,
}

/// What the seeds share while one policy is read.
struct Context<'a> {
    read: &'a dyn Fn(&Path) -> std::io::Result<Vec<u8>>,
    /// The message of a refusal raised by a check here: serde keeps the position of the error
    /// but prefixes its own path, so the exact text travels beside it.
    refusal: RefCell<Option<String>>,
    /// Each pattern seen, with the index of its rule.
    patterns: RefCell<HashMap<String, usize>>,
}

impl Context<'_> {
    fn refuse<E: de::Error>(&self, message: String) -> E {
        let error = E::custom(&message);
        *self.refusal.borrow_mut() = Some(message);
        error
    }
}

/// Reads `text` as a policy; see [`Policy::parse`].
pub(super) fn parse(
    text: &str,
    origin: &str,
    read: &dyn Fn(&Path) -> std::io::Result<Vec<u8>>,
) -> Result<Policy, PolicyError> {
    let context = Context {
        read,
        refusal: RefCell::new(None),
        patterns: RefCell::new(HashMap::new()),
    };
    let deserializer = serde_yaml_ng::Deserializer::from_str(text);
    let outcome = {
        let _budget = Budget::start();
        FileSeed(&context).deserialize(deserializer)
    };
    outcome.map_err(|error| {
        let location = error.location();
        let (line, column) = match &location {
            Some(at) => (Some(at.line()), Some(at.column())),
            None => (None, None),
        };
        let message = match context.refusal.take() {
            Some(message) => message,
            None => without_position(error.to_string(), line, column),
        };
        PolicyError::Invalid {
            origin: origin.to_owned(),
            line,
            column,
            message,
        }
    })
}

/// `serde_yaml_ng` appends ` at line L column C`; the error already carries both.
fn without_position(message: String, line: Option<usize>, column: Option<usize>) -> String {
    let (Some(line), Some(column)) = (line, column) else {
        return message;
    };
    message.replacen(&format!(" at line {line} column {column}"), "", 1)
}

struct FileSeed<'c, 'a>(&'c Context<'a>);

impl<'de> DeserializeSeed<'de> for FileSeed<'_, '_> {
    type Value = Policy;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Policy, D::Error> {
        deserializer.deserialize_map(self)
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum FileField {
    Rules,
    Version,
}

impl<'de> Visitor<'de> for FileSeed<'_, '_> {
    type Value = Policy;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a policy: a mapping with `rules:` (and optionally `version: 1`)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Policy, A::Error> {
        let mut rules = None;
        let mut version = false;
        while let Some(field) = map.next_key::<FileField>()? {
            match field {
                FileField::Rules if rules.is_some() => {
                    return Err(de::Error::duplicate_field("rules"))
                }
                FileField::Version if version => return Err(de::Error::duplicate_field("version")),
                FileField::Rules => rules = Some(map.next_value_seed(RulesSeed(self.0))?),
                FileField::Version => {
                    map.next_value_seed(VersionSeed)?;
                    version = true;
                }
            }
        }
        match rules {
            Some(rules) => Ok(Policy { rules }),
            None => Err(self
                .0
                .refuse("rules: missing; a policy lists its rules under `rules:`".to_owned())),
        }
    }
}

struct VersionSeed;

impl<'de> DeserializeSeed<'de> for VersionSeed {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_u64(self)
    }
}

impl<'de> Visitor<'de> for VersionSeed {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "version {VERSION}")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        if v == VERSION {
            Ok(())
        } else {
            Err(E::custom(format!(
                "version {v} is not known; this reader knows version {VERSION}"
            )))
        }
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        Err(E::custom(format!(
            "version {v} is not known; this reader knows version {VERSION}"
        )))
    }
}

struct RulesSeed<'c, 'a>(&'c Context<'a>);

impl<'de> DeserializeSeed<'de> for RulesSeed<'_, '_> {
    type Value = Vec<Rule>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<Rule>, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RulesSeed<'_, '_> {
    type Value = Vec<Rule>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of rules")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Rule>, A::Error> {
        let mut rules = Vec::new();
        loop {
            if rules.len() == RULES_MAX {
                // One more element, of any kind, is one too many.
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(self.0.refuse(format!(
                        "rules: more than {RULES_MAX} rules; split the policy or use broader patterns"
                    )));
                }
                break;
            }
            let seed = RuleSeed {
                context: self.0,
                index: rules.len(),
            };
            match seq.next_element_seed(seed)? {
                Some(rule) => rules.push(rule),
                None => break,
            }
        }
        if rules.is_empty() {
            return Err(self
                .0
                .refuse("rules: the list is empty; a policy needs at least one rule".to_owned()));
        }
        Ok(rules)
    }
}

struct RuleSeed<'c, 'a> {
    context: &'c Context<'a>,
    index: usize,
}

impl<'de> DeserializeSeed<'de> for RuleSeed<'_, '_> {
    type Value = Rule;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Rule, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RuleSeed<'_, '_> {
    type Value = Rule;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a rule: a mapping with `match:` and the trust it requires")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Rule, A::Error> {
        let wire = WireRule::deserialize(MapAccessDeserializer::new(map))?;
        let index = self.index;
        let earlier = self.context.patterns.borrow().get(&wire.pattern.0).copied();
        if let Some(earlier) = earlier {
            return Err(self.context.refuse(format!(
                "rules[{index}].match: {:?} is already the pattern of rules[{earlier}]; \
                 each pattern may appear once",
                crate::tuf::error::excerpt(&wire.pattern.0)
            )));
        }
        self.context
            .patterns
            .borrow_mut()
            .insert(wire.pattern.0.clone(), index);
        check::rule(wire, index, self.context.read).map_err(|m| self.context.refuse(m))
    }
}

impl<'de> Deserialize<'de> for WireSigner {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SignerVisitor)
    }
}

struct SignerVisitor;

impl<'de> Visitor<'de> for SignerVisitor {
    type Value = WireSigner;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a signer: a name, or a mapping with `name:` and `keys:`")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<WireSigner, E> {
        charge(name.len())?;
        Ok(WireSigner {
            name: name.to_owned(),
            keys: Vec::new(),
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<WireSigner, A::Error> {
        let SignerMapping { name, keys } =
            SignerMapping::deserialize(MapAccessDeserializer::new(map))?;
        Ok(WireSigner { name: name.0, keys })
    }
}
