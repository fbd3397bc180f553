//! Random tokens and passwords from the kernel's CSPRNG.

use std::fs::File;
use std::io::Read;

/// `len` random characters from [a-z0-9], from the kernel's CSPRNG.
pub(crate) fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = vec![0u8; len];
    let filled = File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if filled.is_err() {
        // Never reached on Linux; still, a unique-enough fallback beats a panic.
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
            ^ u128::from(std::process::id());
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (seed >> ((i * 5) % 120)) as u8;
        }
    }
    // 256 is not a multiple of 36; the slight bias is irrelevant for these uses.
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

/// A fresh random password: 24 characters of [a-z0-9] (about 124 bits).
pub(crate) fn random_password() -> String {
    random_token(24)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_tokens_differ_and_use_the_alphabet() {
        let a = random_password();
        let b = random_password();
        assert_eq!(a.len(), 24);
        assert_ne!(a, b);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
    }
}
