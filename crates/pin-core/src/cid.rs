//! Content identifiers.
//!
//! A [`Cid`] is parsed with the `cid` crate and keyed by its CIDv1 binary form, so a `Qm…` CIDv0 and its
//! `bafy…` CIDv1 spelling are one pin. The spelling the user gave is kept for display.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::sync::Arc;

use crate::error::{Error, Result};

/// A parsed content identifier: the index key plus the spelling to show.
#[derive(Clone)]
pub struct Cid {
    key: Arc<[u8]>,
    display: Arc<str>,
    /// How `display` relates to `key`, worked out once when the CID is built (stores ask for every pin
    /// they write, and the CIDv0 check is a base58 encoding).
    form: CidForm,
}

impl Cid {
    /// Parses a CID as users write it: CIDv0 (`Qm…`), CIDv1 in any multibase, optionally behind `/ipfs/`
    /// (a trailing path after the CID is refused: a pin is a whole DAG).
    pub fn parse(input: &str) -> Result<Self> {
        let trimmed = input.trim();
        let bare = trimmed
            .strip_prefix("/ipfs/")
            .or_else(|| trimmed.strip_prefix("ipfs://"))
            .unwrap_or(trimmed);
        let invalid = |reason: String| Error::InvalidCid {
            input: input.to_owned(),
            reason,
        };
        if bare.is_empty() {
            return Err(invalid("empty".into()));
        }
        if bare.contains('/') {
            return Err(invalid("a pin is a whole CID, not a path inside one".into()));
        }
        let parsed = cid::Cid::try_from(bare).map_err(|e| invalid(e.to_string()))?;
        let v1 = cid::Cid::new_v1(parsed.codec(), *parsed.hash());
        let key: Arc<[u8]> = v1.to_bytes().into();
        // A CIDv0 string is base58btc without leading zero digits (it starts with `Qm`), a spelling that
        // decoding maps one to one onto its bytes: the one that parsed is the one `cid` prints.
        let form = if parsed.version() == cid::Version::V0 {
            CidForm::V0
        } else {
            form_of(&key, &v1, bare)
        };
        Ok(Self {
            key,
            display: bare.into(),
            form,
        })
    }

    /// Rebuilds a CID from a stored key and display string (no validation beyond the key).
    pub fn from_parts(key: &[u8], display: &str) -> Result<Self> {
        let c = cid::Cid::try_from(key).map_err(|e| Error::InvalidCid {
            input: display.to_owned(),
            reason: format!("stored key does not decode: {e}"),
        })?;
        Ok(Self {
            key: key.into(),
            display: display.into(),
            form: form_of(key, &c, display),
        })
    }

    /// Rebuilds a CID from its key alone; it is displayed in its canonical CIDv1 form.
    pub fn from_key(key: &[u8]) -> Result<Self> {
        let c = decode_key(key)?;
        let display = v1_string(key, &c);
        // `v1_string` falls back to `cid`'s own spelling for a key that is not a CIDv1's bytes.
        let form = if display.starts_with('b') && c.version() == cid::Version::V1 {
            CidForm::V1
        } else {
            form_of(key, &c, &display)
        };
        Ok(Self {
            key: key.into(),
            display: display.into(),
            form,
        })
    }

    /// The index key: the CIDv1 binary form.
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// The index key, shared: a store that keeps keys as `Arc<[u8]>` takes this one instead of copying it.
    pub fn shared_key(&self) -> &Arc<[u8]> {
        &self.key
    }

    /// The spelling the user gave (without an `/ipfs/` prefix).
    pub fn as_str(&self) -> &str {
        &self.display
    }

    /// The canonical CIDv1 string (base32 for CIDv1), whatever spelling was given.
    pub fn to_v1_string(&self) -> String {
        cid::Cid::try_from(&*self.key)
            .map(|c| v1_string(&self.key, &c))
            .unwrap_or_else(|_| self.display.to_string())
    }
}

/// Decodes a stored key, naming it in hexadecimal when it does not decode.
fn decode_key(key: &[u8]) -> Result<cid::Cid> {
    cid::Cid::try_from(key).map_err(|e| Error::InvalidCid {
        input: format!("0x{}", hex(key)),
        reason: e.to_string(),
    })
}

/// The CIDv0 string of `c`, if it has one (dag-pb with a sha2-256 multihash).
fn v0_string(c: &cid::Cid) -> Option<String> {
    (c.codec() == 0x70)
        .then(|| cid::Cid::new_v0(*c.hash()).ok())
        .flatten()
        .map(|v0| v0.to_string())
}

/// The string `cid` prints for `c`, decoded from `key`. A key is a CIDv1's bytes, so its string is the
/// key itself in lower-case base32 behind the multibase prefix: encoded here straight from the key, without
/// the copies of the bytes and of the string that `Display` makes (this runs once per pin a listing reads).
fn v1_string(key: &[u8], c: &cid::Cid) -> String {
    use cid::multibase::Base;
    if c.version() != cid::Version::V1 || c.encoded_len() != key.len() {
        return c.to_string();
    }
    let base = Base::Base32Lower;
    let body = base.encode(key);
    let mut s = String::with_capacity(1 + body.len());
    s.push(base.code());
    s.push_str(&body);
    s
}

/// Which spelling of `key` (decoded: `c`) `display` is, the slow way: encoding the spellings it could be.
fn form_of(key: &[u8], c: &cid::Cid, display: &str) -> CidForm {
    // A canonical CIDv1 string starts with the base32 prefix `b` and a CIDv0 with `Qm`: only the
    // spelling that can match is encoded.
    if display.starts_with('b') && display == v1_string(key, c) {
        CidForm::V1
    } else if display.starts_with("Qm") && v0_string(c).as_deref() == Some(display) {
        CidForm::V0
    } else {
        CidForm::Other
    }
}

/// How a CID's display spelling relates to its key, so stores can keep only what the key does not imply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CidForm {
    /// The canonical CIDv1 string of the key (base32 for CIDv1).
    V1,
    /// The CIDv0 (`Qm…`) string of the key.
    V0,
    /// Some other multibase spelling; it must be stored.
    Other,
}

impl CidForm {
    /// A small stable number for compact encodings.
    pub const fn code(self) -> u8 {
        match self {
            Self::V1 => 0,
            Self::V0 => 1,
            Self::Other => 2,
        }
    }

    /// The form with [`code`](Self::code) `code`.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Self::V1),
            1 => Some(Self::V0),
            2 => Some(Self::Other),
            _ => None,
        }
    }
}

impl Cid {
    /// Which spelling the display string is.
    pub fn form(&self) -> CidForm {
        self.form
    }

    /// The CIDv0 string of this CID, if it has one (dag-pb with a sha2-256 multihash).
    pub fn to_v0_string(&self) -> Option<String> {
        v0_string(&cid::Cid::try_from(&*self.key).ok()?)
    }

    /// Rebuilds a CID from its key and the spelling form recorded for it (`literal` for [`CidForm::Other`]).
    pub fn from_key_form(key: &[u8], form: CidForm, literal: Option<&str>) -> Result<Self> {
        match form {
            CidForm::V1 => Self::from_key(key),
            CidForm::V0 => {
                let c = decode_key(key)?;
                let v0 = v0_string(&c).ok_or_else(|| Error::InvalidCid {
                    input: v1_string(key, &c),
                    reason: "recorded as CIDv0 but is not dag-pb with sha2-256".into(),
                })?;
                Ok(Self {
                    key: key.into(),
                    display: v0.into(),
                    form: CidForm::V0,
                })
            }
            CidForm::Other => match literal {
                Some(literal) => Self::from_parts(key, literal),
                None => Self::from_key(key),
            },
        }
    }
}

/// Lower-case hexadecimal of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

impl PartialEq for Cid {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl Eq for Cid {}
impl Hash for Cid {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key.hash(state);
    }
}
impl PartialOrd for Cid {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Cid {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key.cmp(&other.key)
    }
}

impl fmt::Display for Cid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}
impl fmt::Debug for Cid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cid({})", self.display)
    }
}
impl FromStr for Cid {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl serde::Serialize for Cid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.display)
    }
}
impl<'de> serde::Deserialize<'de> for Cid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V0: &str = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG";
    const V1: &str = "bafybeie5nqv6kd3qnfjupgvz34woh3oksc3iau6abmyajn7qvtf6d2ho34";

    #[test]
    fn v0_and_its_v1_spelling_are_one_pin() {
        let a = Cid::parse(V0).unwrap();
        let b = Cid::parse(V1).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_str(), V0);
        assert_eq!(b.as_str(), V1);
        assert_eq!(a.to_v1_string(), V1);
    }

    #[test]
    fn the_canonical_spelling_is_what_cid_prints() {
        for input in [V0, V1, "zdj7WWeQ43G6JJvLWQWZpyHuAMq6uYWRjkBXFad11vE2LHhQ7"] {
            let c = Cid::parse(input).unwrap();
            let printed = cid::Cid::try_from(c.key()).unwrap().to_string();
            assert_eq!(c.to_v1_string(), printed);
            assert_eq!(Cid::from_key(c.key()).unwrap().as_str(), printed);
        }
    }

    #[test]
    fn ipfs_prefix_is_accepted() {
        let a = Cid::parse(&format!("/ipfs/{V1}")).unwrap();
        assert_eq!(a.as_str(), V1);
    }

    #[test]
    fn invalid_input_is_quoted() {
        let err = Cid::parse("Qmfoo").unwrap_err().to_string();
        assert!(err.starts_with("invalid CID \"Qmfoo\": "), "{err}");
        let err = Cid::parse("/ipfs/bafy/x").unwrap_err().to_string();
        assert!(err.contains("\"/ipfs/bafy/x\""), "{err}");
        assert!(Cid::parse("").is_err());
    }

    #[test]
    fn forms_rebuild_the_spelling_from_the_key() {
        for input in [V0, V1, "zdj7WWeQ43G6JJvLWQWZpyHuAMq6uYWRjkBXFad11vE2LHhQ7"] {
            let c = Cid::parse(input).unwrap();
            let back = Cid::from_key_form(c.key(), c.form(), Some(input)).unwrap();
            assert_eq!(back.as_str(), input);
        }
        assert_eq!(Cid::parse(V0).unwrap().form(), CidForm::V0);
        assert_eq!(Cid::parse(V1).unwrap().form(), CidForm::V1);
    }

    #[test]
    fn the_form_kept_at_construction_is_the_one_the_spellings_give() {
        let upper = V1.to_uppercase();
        for input in [V0, V1, &upper, "zdj7WWeQ43G6JJvLWQWZpyHuAMq6uYWRjkBXFad11vE2LHhQ7"] {
            let c = Cid::parse(input).unwrap();
            let decoded = cid::Cid::try_from(c.key()).unwrap();
            assert_eq!(c.form(), form_of(c.key(), &decoded, input), "{input}");
            let stored = Cid::from_parts(c.key(), input).unwrap();
            assert_eq!(stored.form(), c.form(), "{input}");
            let bare = Cid::from_key(c.key()).unwrap();
            assert_eq!(bare.form(), CidForm::V1);
        }
        assert_eq!(Cid::parse(&upper).unwrap().form(), CidForm::Other);
        // Many CIDv0 strings: the one that parsed is always the one `cid` prints.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..256 {
            let mut digest = [0u8; 32];
            for chunk in digest.chunks_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                chunk.copy_from_slice(&x.to_le_bytes());
            }
            let mh = cid::multihash::Multihash::<64>::wrap(0x12, &digest).unwrap();
            let v0 = cid::Cid::new_v0(mh).unwrap().to_string();
            let c = Cid::parse(&v0).unwrap();
            assert_eq!(c.form(), CidForm::V0);
            let decoded = cid::Cid::try_from(c.key()).unwrap();
            assert_eq!(form_of(c.key(), &decoded, &v0), CidForm::V0);
        }
        let odd = Cid::from_parts(Cid::parse(V0).unwrap().key(), "not-a-spelling").unwrap();
        assert_eq!(odd.form(), CidForm::Other);
    }

    #[test]
    fn key_round_trips() {
        let a = Cid::parse(V0).unwrap();
        let b = Cid::from_key(a.key()).unwrap();
        assert_eq!(a, b);
        assert_eq!(b.as_str(), V1);
    }
}
