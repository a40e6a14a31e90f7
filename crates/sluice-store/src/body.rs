//! Message bodies as the record stores them: compressed, and a campaign's shared
//! content once per partition.
//!
//! The record's `body` field is one of:
//! - `{…}` — the message as plain JSON (records written before schema version 3;
//!   still read, so mail queued before an upgrade is delivered);
//! - `0x01` + a zstd frame of that JSON — compressed on its own;
//! - `0x02` + the 32-byte SHA-256 of a *content* + a zstd frame of the JSON compressed
//!   with that content as its dictionary.
//!
//! A message submitted over SMTP carries its RFC 5322 bytes in that JSON (`raw`,
//! base64; absent in every other message), compressed like the rest.
//!
//! A content is the JSON of a message's text, HTML and attachments; it is kept once,
//! zstd-compressed, in `…{<partition tag>}:content:<sha256 hex>` (a STRING in the
//! slot of the messages that use it, written with them in the same script call).
//! Within one accept request, the messages of a partition are compressed against a
//! content of that request: their own when it repeats (one body for many recipients:
//! each record then holds some tens of bytes), else the partition's first message's
//! (a template rendered per recipient: each record holds what differs, its
//! recipient, names, links). Content-addressing makes identical contents of other
//! requests one key. A message keeps the dictionary only when it makes its body
//! smaller. A message alone in its partition is always compressed alone: a content
//! outlives the delivery (see below), while a record's own body is dropped when its
//! message settles, so a large one-off message must not leave its body behind for
//! the retention period.
//!
//! A content's expiry is pushed out (`PEXPIRE … GT`) by every message that uses it,
//! to that message's record expiry plus [`CONTENT_MARGIN`], at accept and again at
//! each claim, so it outlives every record that still needs it; nothing deletes it
//! (a cancelled message only drops its own body).

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

use sha2::{Digest, Sha256};
#[cfg(test)]
use sluice_model::Mailbox;
use sluice_model::OutboundMessage;
use zstd::zstd_safe::{CCtx, CDict, DCtx};

use crate::connection::Conn;
use crate::{Partition, StoreError, keys};

/// zstd's fastest regular level: the bodies are small, and level 3 saves only ~3 %
/// more for about twice the time (measured; see the schema docs).
const LEVEL: i32 = 1;

/// How much longer than a record its content lives: covers an attempt in flight
/// between the claim that pushed the content out and the settle that pushes the
/// record out.
pub(crate) const CONTENT_MARGIN: Duration = Duration::from_secs(24 * 3600);

/// Never decompress past this (a corrupt size field must not allocate gigabytes).
const MAX_DECOMPRESSED: u64 = 256 * 1024 * 1024;

const PLAIN_JSON: u8 = b'{';
const ALONE: u8 = 0x01;
const SHARED: u8 = 0x02;
const HASH_LEN: usize = 32;

thread_local! {
    static CCTX: RefCell<CCtx<'static>> = RefCell::new(CCtx::create());
    static DCTX: RefCell<DCtx<'static>> = RefCell::new(DCtx::create());
}

/// A content to store with the records that use it.
#[derive(Debug)]
pub(crate) struct Content {
    pub key: String,
    /// The zstd frame of the content.
    pub stored: Vec<u8>,
}

/// A request's bodies, ready for the record.
#[derive(Debug, Default)]
pub(crate) struct Bodies {
    /// Per message, in order: the `body` field, and the content it needs (an index
    /// into `contents`).
    pub bodies: Vec<(Vec<u8>, Option<usize>)>,
    pub contents: Vec<Content>,
}

/// Encodes the bodies of one request's messages (with each one's partition).
pub(crate) fn encode(messages: &[(&OutboundMessage, Partition)]) -> Bodies {
    let prepared: Vec<Vec<u8>> = messages.iter().map(|(m, _)| to_json(m)).collect();
    // Per partition: its first message, and how many it has.
    let mut first: HashMap<Partition, (usize, usize)> = HashMap::new();
    for (i, (_, p)) in messages.iter().enumerate() {
        first.entry(*p).or_insert((i, 0)).1 += 1;
    }
    let first_hashes: HashMap<Partition, [u8; HASH_LEN]> = first
        .iter()
        .map(|(p, (i, _))| (*p, Sha256::digest(&prepared[*i]).into()))
        .collect();
    let mut out = Bodies::default();
    let mut dictionaries: HashMap<[u8; HASH_LEN], CDict<'static>> = HashMap::new();
    let mut used: HashMap<(Partition, [u8; HASH_LEN]), usize> = HashMap::new();
    for ((_, p), json) in messages.iter().zip(&prepared) {
        let (first_of_p, in_p) = first.get(p).copied().unwrap_or_default();
        let dictionary = match first_hashes.get(p) {
            Some(first_hash) if in_p > 1 => Some((&prepared[first_of_p], first_hash)),
            _ => None,
        };
        let shared = dictionary.and_then(|(dictionary, dictionary_hash)| {
            let cdict = dictionaries
                .entry(*dictionary_hash)
                .or_insert_with(|| CDict::create(dictionary, LEVEL));
            let body = frame(SHARED, Some(dictionary_hash), &compress(json, Some(cdict))?);
            Some((body, dictionary, dictionary_hash))
        });
        // Should compression ever fail, the JSON is stored as it is (every reader
        // takes it).
        let alone =
            || compress(json, None).map_or_else(|| json.clone(), |c| frame(ALONE, None, &c));
        // Compared with the message compressed alone, unless sharing obviously pays
        // (the common case in a campaign: a tenth of the message or less).
        let (body, dictionary, dictionary_hash) = match shared {
            Some(shared) if shared.0.len() * 8 <= json.len() => shared,
            Some(shared) => {
                let alone = alone();
                if shared.0.len() >= alone.len() {
                    out.bodies.push((alone, None));
                    continue;
                }
                shared
            }
            None => {
                out.bodies.push((alone(), None));
                continue;
            }
        };
        let index = match used.get(&(*p, *dictionary_hash)) {
            Some(&index) => index,
            None => {
                let Some(stored) = compress(dictionary, None) else {
                    out.bodies.push((alone(), None));
                    continue;
                };
                out.contents.push(Content {
                    key: keys::content(*p, &hex::encode(dictionary_hash)),
                    stored,
                });
                used.insert((*p, *dictionary_hash), out.contents.len() - 1);
                out.contents.len() - 1
            }
        };
        out.bodies.push((body, Some(index)));
    }
    out
}

/// A chunk's share of the request's bodies (see [`encode`]).
pub(crate) struct ChunkBodies<'a> {
    /// From the chunk's first message on.
    pub bodies: &'a [(Vec<u8>, Option<usize>)],
    pub contents: &'a [Content],
}

impl ChunkBodies<'_> {
    pub fn body(&self, index: usize) -> &[u8] {
        self.bodies
            .get(index)
            .map(|(b, _)| &b[..])
            .unwrap_or_default()
    }

    /// The contents that the chunk's messages `members` use (each once), as KEYS;
    /// returns each message's content number among them (1-based, 0 = none), in the
    /// order of `members`.
    pub fn add_contents(
        &self,
        invocation: &mut redis::ScriptInvocation<'_>,
        members: impl IntoIterator<Item = usize>,
    ) -> Vec<usize> {
        let mut used: Vec<usize> = Vec::new();
        members
            .into_iter()
            .map(|index| match self.bodies.get(index).and_then(|(_, c)| *c) {
                None => 0,
                Some(content) => match used.iter().position(|&u| u == content) {
                    Some(at) => at + 1,
                    None => {
                        used.push(content);
                        invocation.key(&self.contents[content].key);
                        used.len()
                    }
                },
            })
            .collect()
    }

    /// The contents' count, their expiry margin and the contents themselves, for the
    /// same `members` as [`add_contents`](Self::add_contents), in its order.
    pub fn add_content_args(
        &self,
        invocation: &mut redis::ScriptInvocation<'_>,
        members: impl IntoIterator<Item = usize>,
    ) {
        let mut used: Vec<usize> = Vec::new();
        for index in members {
            if let Some(content) = self.bodies.get(index).and_then(|(_, c)| *c)
                && !used.contains(&content)
            {
                used.push(content);
            }
        }
        invocation
            .arg(used.len())
            .arg(CONTENT_MARGIN.as_millis() as u64);
        for content in used {
            invocation.arg(&self.contents[content].stored[..]);
        }
    }
}

/// The content (its SHA-256, hex) that a stored body needs, if any.
pub(crate) fn content_of(body: &[u8]) -> Result<Option<String>, String> {
    match body.first() {
        Some(&SHARED) if body.len() > 1 + HASH_LEN => Ok(Some(hex::encode(&body[1..1 + HASH_LEN]))),
        Some(&PLAIN_JSON | &ALONE) => Ok(None),
        _ => Err("unknown body format".into()),
    }
}

/// The message of a stored body, given its content as stored (the zstd frame) when
/// it needs one (see [`content_of`]).
pub(crate) fn decode(body: &[u8], content: Option<&[u8]>) -> Result<OutboundMessage, String> {
    let json = match (body.first(), content) {
        (Some(&PLAIN_JSON), _) => return serde_json::from_slice(body).map_err(|e| e.to_string()),
        (Some(&ALONE), _) => decompress(&body[1..], None)?,
        (Some(&SHARED), Some(content)) if body.len() > 1 + HASH_LEN => {
            let dictionary = decompress(content, None)?;
            decompress(&body[1 + HASH_LEN..], Some(&dictionary))?
        }
        _ => return Err("unknown body format, or its content missing".into()),
    };
    serde_json::from_slice(&json).map_err(|e| e.to_string())
}

/// The message of a record's body, reading its content when it has one (and pushing
/// the content's expiry out to `ttl` plus the margin: see the module doc).
pub(crate) async fn open(
    conn: &mut Conn,
    p: Partition,
    record: &str,
    body: &[u8],
    ttl: Duration,
) -> Result<OutboundMessage, StoreError> {
    let content = match content_of(body).map_err(|e| StoreError::corrupt(record, e))? {
        None => None,
        Some(hash) => {
            let key = keys::content(p, &hash);
            // Not MULTI/EXEC: Redis refuses a transaction outright once it is over
            // maxmemory, and a full Redis must still deliver (that is what frees
            // it). PEXPIRE and GET are both allowed then; they need no atomicity.
            let (content,): (Option<Vec<u8>>,) = redis::pipe()
                .cmd("PEXPIRE")
                .arg(&key)
                .arg((ttl + CONTENT_MARGIN).as_millis() as u64)
                .arg("GT")
                .ignore()
                .get(&key)
                .query_async(conn)
                .await?;
            match content {
                Some(content) => Some(content),
                None => return Err(StoreError::corrupt(&key, "the shared content is missing")),
            }
        }
    };
    decode(body, content.as_deref()).map_err(|e| StoreError::corrupt(record, e))
}

fn to_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Plain data with string keys: serialising cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

fn frame(tag: u8, hash: Option<&[u8; HASH_LEN]>, compressed: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + HASH_LEN + compressed.len());
    out.push(tag);
    if let Some(hash) = hash {
        out.extend_from_slice(hash);
    }
    out.extend_from_slice(compressed);
    out
}

fn compress(input: &[u8], dictionary: Option<&CDict<'_>>) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(input.len()));
    let done = CCTX.with(|cctx| {
        let mut cctx = cctx.borrow_mut();
        match dictionary {
            Some(dictionary) => cctx.compress_using_cdict(&mut out, input, dictionary),
            None => cctx.compress(&mut out, input, LEVEL),
        }
    });
    // The output has room for the worst case (compress_bound): this does not fail.
    done.ok().map(|_| out)
}

fn decompress(frame: &[u8], dictionary: Option<&[u8]>) -> Result<Vec<u8>, String> {
    let size = match zstd::zstd_safe::get_frame_content_size(frame) {
        Ok(Some(size)) if size <= MAX_DECOMPRESSED => size as usize,
        _ => return Err("a compressed body without a valid size".into()),
    };
    let mut out = Vec::with_capacity(size);
    DCTX.with(|dctx| {
        let mut dctx = dctx.borrow_mut();
        match dictionary {
            Some(dictionary) => dctx.decompress_using_dict(&mut out, frame, dictionary),
            None => dctx.decompress(&mut out, frame),
        }
    })
    .map_err(|code| format!("decompressing: {}", zstd::zstd_safe::get_error_name(code)))?;
    Ok(out)
}

#[cfg(test)]
#[path = "body_tests.rs"]
mod tests;
