//! The `x-request-id` every response carries.
//!
//! A well-formed id sent by the client is echoed so callers can correlate
//! their logs with ours; anything else (too long, odd characters that could
//! forge log lines or headers) is replaced by a fresh random id.

/// A request id that is safe to put in a header and a log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

/// The longest client-supplied id we echo.
pub const MAX_LEN: usize = 128;

impl RequestId {
    /// Accepts a client's id if it is 1..=128 characters of `[A-Za-z0-9._:-]`.
    pub fn from_client(value: &str) -> Option<RequestId> {
        let ok = !value.is_empty()
            && value.len() <= MAX_LEN
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        ok.then(|| RequestId(value.to_string()))
    }

    /// A new id from 16 random bytes (the caller supplies the randomness, so
    /// this stays pure): 32 lowercase hex digits.
    pub fn from_random(bytes: [u8; 16]) -> RequestId {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut id = String::with_capacity(32);
        for b in bytes {
            id.push(char::from(HEX[usize::from(b >> 4)]));
            id.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        RequestId(id)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoes_only_well_formed_ids() {
        assert_eq!(
            RequestId::from_client("abc-123_x.y:z").unwrap().as_str(),
            "abc-123_x.y:z"
        );
        for bad in ["", "a b", "a\nb", "é", "x\"y", &"a".repeat(MAX_LEN + 1)] {
            assert!(RequestId::from_client(bad).is_none(), "{bad:?}");
        }
        assert!(RequestId::from_client(&"a".repeat(MAX_LEN)).is_some());
    }

    #[test]
    fn random_ids_are_hex() {
        let id = RequestId::from_random([0xab; 16]);
        assert_eq!(id.as_str().len(), 32);
        assert_eq!(id.as_str(), "ab".repeat(16));
        let mut bytes = [0u8; 16];
        bytes[0] = 0x0f;
        bytes[15] = 0xf0;
        assert_eq!(
            RequestId::from_random(bytes).as_str(),
            format!("0f{}f0", "00".repeat(14))
        );
    }
}
