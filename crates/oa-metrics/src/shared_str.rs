//! [`SharedStr`]: an immutable, reference-counted string for snapshot fields that are copied
//! often (worker ids, hosts, tags), so that a status of 1,000 workers copies no string.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An immutable string that is cheap to clone (an `Arc<str>`); it derefs to `str`, compares
/// with `str`, and serializes as a plain JSON string.
///
/// ```
/// use oa_metrics::SharedStr;
///
/// let host = SharedStr::from("box-1");
/// assert_eq!(host, "box-1");
/// assert_eq!(host.len(), 5);
/// assert_eq!(serde_json::to_string(&host)?, "\"box-1\"");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SharedStr(Arc<str>);

impl SharedStr {
    /// The text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for SharedStr {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for SharedStr {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for SharedStr {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&str> for SharedStr {
    fn from(text: &str) -> Self {
        SharedStr(Arc::from(text))
    }
}

impl From<String> for SharedStr {
    fn from(text: String) -> Self {
        SharedStr(Arc::from(text))
    }
}

impl From<Arc<str>> for SharedStr {
    fn from(text: Arc<str>) -> Self {
        SharedStr(text)
    }
}

impl From<SharedStr> for String {
    fn from(text: SharedStr) -> Self {
        text.0.as_ref().to_owned()
    }
}

impl PartialEq<str> for SharedStr {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for SharedStr {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for SharedStr {
    fn eq(&self, other: &String) -> bool {
        &*self.0 == other.as_str()
    }
}

impl PartialEq<SharedStr> for str {
    fn eq(&self, other: &SharedStr) -> bool {
        self == &*other.0
    }
}

impl PartialEq<SharedStr> for &str {
    fn eq(&self, other: &SharedStr) -> bool {
        *self == &*other.0
    }
}

impl fmt::Debug for SharedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for SharedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for SharedStr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SharedStr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(SharedStr::from)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn compares_derefs_and_round_trips() {
        let a = SharedStr::from("w-1");
        let b = a.clone();
        assert!(Arc::ptr_eq(&a.0, &b.0), "clones share the text");
        assert_eq!(a, "w-1");
        assert_eq!("w-1", a);
        assert_eq!(a, String::from("w-1"));
        assert_eq!(a.as_str(), "w-1");
        assert!(a.starts_with("w-"));
        assert_eq!(format!("{a} {a:?}"), "w-1 \"w-1\"");
        assert_eq!(String::from(a.clone()), "w-1");
        let mut map = BTreeMap::new();
        map.insert(a.clone(), 1);
        assert_eq!(map.get("w-1"), Some(&1));
        let json = serde_json::to_string(&map).unwrap();
        assert_eq!(json, r#"{"w-1":1}"#);
        let back: BTreeMap<SharedStr, i32> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, map);
    }
}
