//! Base64, the two forms Strata reads and writes: standard with padding
//! (`$binary` values, `Content-MD5`, S3 checksums) and URL-safe without
//! padding (JWTs, JWKs, REST cursors).
//!
//! Why not the `base64` crate: its generic engine is ~6 KiB of the Worker's
//! wasm for these two fixed configurations (BENCHMARKS.md, "Bundle size").
//! The rules are that crate's for `STANDARD` and `URL_SAFE_NO_PAD`, and a
//! unit test checks both against it: decoding is strict — canonical padding
//! (exactly as much as the length needs, or none without padding), no
//! whitespace, no other alphabet's symbols, and the unused low bits of the
//! last symbol must be zero, so each byte string has one encoding.

/// A base64 variant: its last two symbols and whether it pads.
#[derive(Clone, Copy)]
pub struct Base64 {
    /// The symbols for 62 and 63.
    symbols: [u8; 2],
    /// `=` padding to a multiple of four symbols.
    pad: bool,
}

/// RFC 4648 §4 base64, padded.
pub const STANDARD: Base64 = Base64 {
    symbols: *b"+/",
    pad: true,
};

/// RFC 4648 §5 base64url, without padding.
pub const URL_SAFE_NO_PAD: Base64 = Base64 {
    symbols: *b"-_",
    pad: false,
};

/// Not base64 of this variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeError;

impl Base64 {
    /// Encodes `bytes`.
    pub fn encode(&self, bytes: impl AsRef<[u8]>) -> String {
        encode(*self, bytes.as_ref())
    }

    /// Decodes `text`, strictly (see the module documentation).
    pub fn decode(&self, text: impl AsRef<[u8]>) -> Result<Vec<u8>, DecodeError> {
        decode(*self, text.as_ref()).ok_or(DecodeError)
    }

    /// The symbol for the six bits `v`.
    fn symbol(self, v: u32) -> char {
        let v = (v & 63) as u8;
        char::from(match v {
            0..=25 => b'A' + v,
            26..=51 => b'a' + v - 26,
            52..=61 => b'0' + v - 52,
            _ => self.symbols[usize::from(v - 62)],
        })
    }

    /// The six bits of the symbol `c`, if it is one of this variant.
    fn value(self, c: u8) -> Option<u32> {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            _ if c == self.symbols[0] => 62,
            _ if c == self.symbols[1] => 63,
            _ => return None,
        };
        Some(u32::from(v))
    }
}

fn encode(variant: Base64, bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let byte = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let group = byte(0) << 16 | byte(1) << 8 | byte(2);
        // n bytes take n + 1 symbols.
        for i in 0..=chunk.len() {
            out.push(variant.symbol(group >> (18 - 6 * i)));
        }
        if variant.pad {
            for _ in chunk.len()..3 {
                out.push('=');
            }
        }
    }
    out
}

fn decode(variant: Base64, text: &[u8]) -> Option<Vec<u8>> {
    let symbols = if variant.pad {
        if !text.len().is_multiple_of(4) {
            return None;
        }
        let pads = text.iter().rev().take_while(|&&c| c == b'=').count();
        if pads > 2 {
            return None;
        }
        &text[..text.len() - pads]
    } else {
        text
    };
    // One symbol alone carries only six bits: never the end of a byte.
    if symbols.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(symbols.len() / 4 * 3 + 2);
    let (mut bits, mut held) = (0u32, 0u32);
    for &c in symbols {
        bits = bits << 6 | variant.value(c)?;
        held += 6;
        if held >= 8 {
            held -= 8;
            out.push((bits >> held) as u8);
            bits &= (1 << held) - 1;
        }
    }
    // The last symbol's unused bits must be zero (one encoding per value).
    (bits == 0).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    /// Every decision agrees with the `base64` crate's engine of the same
    /// configuration, on random bytes, their encodings, and damaged ones.
    #[test]
    fn agrees_with_the_base64_crate() {
        let engines: [(Base64, &base64::engine::GeneralPurpose); 2] = [
            (STANDARD, &base64::engine::general_purpose::STANDARD),
            (
                URL_SAFE_NO_PAD,
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            ),
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_= \n.";
        for (ours, theirs) in engines {
            for len in 0..70 {
                let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                let text = ours.encode(&bytes);
                assert_eq!(text, theirs.encode(&bytes));
                assert_eq!(ours.decode(&text), Ok(bytes.clone()));
                // One symbol changed, removed or added, anywhere.
                for _ in 0..40 {
                    let mut damaged = text.clone().into_bytes();
                    let at = (next() as usize) % (damaged.len() + 1);
                    let symbol = alphabet[(next() as usize) % alphabet.len()];
                    match next() % 3 {
                        0 if at < damaged.len() => damaged[at] = symbol,
                        1 if at < damaged.len() => {
                            damaged.remove(at);
                        }
                        _ => damaged.insert(at, symbol),
                    }
                    assert_eq!(
                        ours.decode(&damaged).ok(),
                        theirs.decode(&damaged).ok(),
                        "{:?}",
                        String::from_utf8_lossy(&damaged)
                    );
                }
            }
            // Short strings of every shape, exhaustively over a small alphabet.
            let small = b"AQg=-_+/";
            for len in 0..=5u32 {
                for n in 0..small.len().pow(len) {
                    let text: Vec<u8> = (0..len)
                        .map(|i| small[n / small.len().pow(i) % small.len()])
                        .collect();
                    assert_eq!(
                        ours.decode(&text).ok(),
                        theirs.decode(&text).ok(),
                        "{:?}",
                        String::from_utf8_lossy(&text)
                    );
                }
            }
        }
    }

    #[test]
    fn known_values() {
        assert_eq!(STANDARD.encode(b"f"), "Zg==");
        assert_eq!(STANDARD.encode(b"fo"), "Zm8=");
        assert_eq!(STANDARD.encode(b"foo"), "Zm9v");
        assert_eq!(URL_SAFE_NO_PAD.encode([0xfb, 0xff]), "-_8");
        assert_eq!(STANDARD.encode([0xfb, 0xff]), "+/8=");
        assert_eq!(STANDARD.decode("Zg=="), Ok(b"f".to_vec()));
        assert_eq!(STANDARD.decode("Zh=="), Err(DecodeError), "low bits set");
        assert_eq!(STANDARD.decode("Zg"), Err(DecodeError), "padding required");
        assert_eq!(URL_SAFE_NO_PAD.decode("Zg=="), Err(DecodeError));
        assert_eq!(URL_SAFE_NO_PAD.decode(""), Ok(Vec::new()));
    }
}
