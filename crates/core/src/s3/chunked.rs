//! `aws-chunked` bodies, decoded as they stream.
//!
//! ```text
//! <hex size>[;chunk-signature=<64 hex>]\r\n<size bytes>\r\n   ...repeated
//! 0[;chunk-signature=<64 hex>]\r\n                             the last chunk
//! <trailer name>:<value>\r\n ...                               (named by x-amz-trailer)
//! [x-amz-trailer-signature:<64 hex>\r\n]                        (signed trailers)
//! \r\n
//! ```
//!
//! [`ChunkedDecoder::feed`] takes the request's bytes in whatever pieces
//! they arrive and hands back only the payload: the stored object is
//! exactly the bytes the client meant, never the framing. Buffers are
//! bounded: a chunk's bytes are passed on as they come (only their SHA-256
//! is kept, for signed chunks), and a header or trailer line may be at
//! most [`MAX_LINE`] bytes. Chunk signatures continue the request's
//! ([`ChunkSigner`]); the trailer's checksum and the decoded length
//! (`x-amz-decoded-content-length`) are checked by [`ChunkedDecoder::finish`].

use super::checksum::{Algorithm, Expected, Hasher};
use super::sigv4::ChunkSigner;
use super::S3Error;
use sha2::{Digest, Sha256};

/// Longest chunk-header or trailer line accepted.
pub const MAX_LINE: usize = 4096;
/// Largest chunk accepted (S3's SDKs send 64 KiB; 16 MiB is generous).
pub const MAX_CHUNK: u64 = 16 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a chunk header line.
    Header,
    /// Inside a chunk: this many bytes left.
    Data(u64),
    /// After a chunk's bytes: its `\r\n`.
    DataEnd,
    /// Reading trailer lines, up to the empty one.
    Trailer,
    /// The body is complete; nothing may follow.
    Done,
}

/// Decodes one aws-chunked body.
#[derive(Debug)]
pub struct ChunkedDecoder {
    state: State,
    line: Vec<u8>,
    signer: Option<ChunkSigner>,
    chunk_signature: Option<String>,
    chunk_hash: Option<Sha256>,
    trailer_names: Vec<String>,
    trailers: Vec<(String, String)>,
    trailer_signature: Option<String>,
    checksum: Option<(Algorithm, Hasher, Option<Expected>)>,
    decoded: u64,
    declared: Option<u64>,
}

fn incomplete(message: impl Into<String>) -> S3Error {
    S3Error::incomplete_body(message)
}

impl ChunkedDecoder {
    /// A decoder for a body whose headers said: `signer` when chunks are
    /// signed, the `x-amz-trailer` names, the checksum given as a header
    /// (when not in a trailer), and `x-amz-decoded-content-length`.
    pub fn new(
        signer: Option<ChunkSigner>,
        trailer: Option<&str>,
        header_checksum: Option<Expected>,
        decoded_length: Option<u64>,
    ) -> Result<ChunkedDecoder, S3Error> {
        let trailer_names: Vec<String> = trailer
            .unwrap_or("")
            .split(',')
            .map(|n| n.trim().to_ascii_lowercase())
            .filter(|n| !n.is_empty())
            .collect();
        let mut checksum =
            header_checksum.map(|e| (e.algorithm, Hasher::new(e.algorithm), Some(e)));
        for name in &trailer_names {
            match Algorithm::from_header(name) {
                Some(a) if checksum.is_none() => checksum = Some((a, Hasher::new(a), None)),
                Some(_) => {
                    return Err(S3Error::invalid_request(
                        "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
                    ))
                }
                None => {
                    return Err(S3Error::invalid_request(format!(
                        "The trailer {name} is not supported"
                    )))
                }
            }
        }
        Ok(ChunkedDecoder {
            state: State::Header,
            line: Vec::new(),
            chunk_hash: signer.as_ref().map(|_| Sha256::new()),
            signer,
            chunk_signature: None,
            trailer_names,
            trailers: Vec::new(),
            trailer_signature: None,
            checksum,
            decoded: 0,
            declared: decoded_length,
        })
    }

    /// Decodes the next piece of the body, appending payload bytes to `out`.
    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), S3Error> {
        while !input.is_empty() {
            match self.state {
                State::Data(left) => {
                    let n = (left as usize).min(input.len());
                    let (bytes, rest) = input.split_at(n);
                    if let Some(h) = &mut self.chunk_hash {
                        h.update(bytes);
                    }
                    if let Some((_, h, _)) = &mut self.checksum {
                        h.update(bytes);
                    }
                    out.extend_from_slice(bytes);
                    self.decoded += n as u64;
                    if self.declared.is_some_and(|d| self.decoded > d) {
                        // Longer than `x-amz-decoded-content-length`: refused
                        // now, before the store's fixed-length input overflows.
                        return Err(incomplete(
                            "the decoded body is longer than x-amz-decoded-content-length",
                        ));
                    }
                    input = rest;
                    self.state = if left == n as u64 {
                        self.end_chunk()?;
                        State::DataEnd
                    } else {
                        State::Data(left - n as u64)
                    };
                }
                State::Done => {
                    return Err(incomplete(
                        "Unexpected bytes after the end of an aws-chunked body",
                    ))
                }
                State::Header | State::DataEnd | State::Trailer => {
                    let (line, rest) = match input.iter().position(|&b| b == b'\n') {
                        Some(i) => (&input[..i], Some(&input[i + 1..])),
                        None => (input, None),
                    };
                    if self.line.len() + line.len() > MAX_LINE {
                        return Err(incomplete("An aws-chunked line is too long"));
                    }
                    self.line.extend_from_slice(line);
                    let Some(rest) = rest else {
                        return Ok(());
                    };
                    input = rest;
                    let mut line = std::mem::take(&mut self.line);
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    self.line_done(&line)?;
                }
            }
        }
        Ok(())
    }

    fn line_done(&mut self, line: &[u8]) -> Result<(), S3Error> {
        let text = std::str::from_utf8(line)
            .map_err(|_| incomplete("An aws-chunked header is not text"))?;
        match self.state {
            State::DataEnd => {
                if !text.is_empty() {
                    return Err(incomplete("A chunk is longer than its declared size"));
                }
                self.state = State::Header;
            }
            State::Header => {
                let (size, ext) = text.split_once(';').unwrap_or((text, ""));
                let size = u64::from_str_radix(size.trim(), 16)
                    .ok()
                    .filter(|s| *s <= MAX_CHUNK)
                    .ok_or_else(|| incomplete("An aws-chunked chunk size is not valid"))?;
                self.chunk_signature = ext
                    .split(';')
                    .find_map(|e| e.trim().strip_prefix("chunk-signature="))
                    .map(str::to_string);
                if self.signer.is_some() && self.chunk_signature.is_none() {
                    return Err(S3Error::signature_does_not_match(
                        "A chunk of a signed aws-chunked body has no signature",
                    ));
                }
                if size == 0 {
                    self.end_chunk()?;
                    self.state = State::Trailer;
                } else {
                    self.state = State::Data(size);
                }
            }
            State::Trailer => {
                if text.is_empty() {
                    self.state = State::Done;
                    return Ok(());
                }
                let (name, value) = text
                    .split_once(':')
                    .ok_or_else(|| incomplete("An aws-chunked trailer is malformed"))?;
                let name = name.trim().to_ascii_lowercase();
                let value = value.trim().to_string();
                if name == "x-amz-trailer-signature" {
                    self.trailer_signature = Some(value);
                } else if self.trailer_names.contains(&name) && self.trailer_signature.is_none() {
                    if self.trailers.iter().any(|(n, _)| *n == name) {
                        return Err(incomplete("An aws-chunked trailer is repeated"));
                    }
                    self.trailers.push((name, value));
                } else {
                    return Err(S3Error::invalid_request(format!(
                        "The trailer {name} was not declared in x-amz-trailer"
                    )));
                }
            }
            State::Data(_) | State::Done => {}
        }
        Ok(())
    }

    /// A chunk's bytes are complete: check its signature.
    fn end_chunk(&mut self) -> Result<(), S3Error> {
        let (Some(signer), Some(hash)) = (&mut self.signer, self.chunk_hash.take()) else {
            return Ok(());
        };
        let digest: [u8; 32] = hash.finalize().into();
        let signature = self.chunk_signature.take().unwrap_or_default();
        if !signer.verify_chunk(&digest, &signature) {
            return Err(S3Error::signature_does_not_match(
                "The chunk signature we calculated does not match the signature you provided.",
            ));
        }
        self.chunk_hash = Some(Sha256::new());
        Ok(())
    }

    /// The body ended: checks it was complete, its length, the trailer's
    /// signature (signed trailers) and its checksum. Answers the checksum
    /// verified, if any, and the payload's length.
    pub fn finish(self) -> Result<(u64, Option<Expected>), S3Error> {
        if self.state != State::Done {
            return Err(incomplete(
                "The request body terminated unexpectedly: the aws-chunked body is not complete",
            ));
        }
        if self.declared.is_some_and(|d| d != self.decoded) {
            return Err(incomplete(
                "The decoded length differs from x-amz-decoded-content-length",
            ));
        }
        if let Some(mut signer) = self.signer {
            if !self.trailer_names.is_empty() {
                let canonical: String = self
                    .trailers
                    .iter()
                    .map(|(n, v)| format!("{n}:{v}\n"))
                    .collect();
                let digest: [u8; 32] = Sha256::digest(canonical.as_bytes()).into();
                let ok = self
                    .trailer_signature
                    .as_deref()
                    .is_some_and(|s| signer.verify_trailer(&digest, s));
                if !ok {
                    return Err(S3Error::signature_does_not_match(
                        "The trailer signature we calculated does not match the signature you provided.",
                    ));
                }
            }
        }
        for name in &self.trailer_names {
            if !self.trailers.iter().any(|(n, _)| n == name) {
                return Err(incomplete(format!("The trailer {name} is missing")));
            }
        }
        let Some((algorithm, hasher, header)) = self.checksum else {
            return Ok((self.decoded, None));
        };
        let expected = match header {
            Some(e) => e,
            None => {
                let value = self
                    .trailers
                    .iter()
                    .find(|(n, _)| n == algorithm.header())
                    .map(|(_, v)| v.as_str())
                    .unwrap_or("");
                Expected::parse(algorithm, value)?
            }
        };
        if hasher.finish() != expected.digest {
            return Err(S3Error::bad_digest(format!(
                "The {} you specified did not match the calculated checksum.",
                algorithm.name()
            )));
        }
        Ok((self.decoded, Some(expected)))
    }
}

#[cfg(test)]
mod tests;
