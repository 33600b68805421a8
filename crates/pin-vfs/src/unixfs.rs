//! CIDs computed the way `ipfs add` computes them.
//!
//! `ipfs add` (Kubo, the `unixfs-v0-2015` profile of IPIP-499) splits a file into fixed 256 KiB chunks and
//! builds a balanced DAG of UnixFS `File` nodes with at most 174 links each:
//!
//! - CID version 0 (the default): every leaf is a dag-pb node wrapping its chunk in UnixFS `File` data, and
//!   the root is a CIDv0 (`Qm…`, sha2-256, base58btc).
//! - CID version 1 (`--cid-version 1`, which implies `--raw-leaves`): leaves are raw blocks (codec `raw`),
//!   inner nodes are dag-pb, and the root is a CIDv1 in base32 (`bafy…`, or `bafk…` when the whole file is
//!   one raw leaf).
//!
//! A file of one chunk is its own root; an empty file is one empty leaf. The protobuf encoding is written
//! here by hand (see [`pb`]) because byte-for-byte equality with Kubo depends on details a generic encoder
//! does not promise: dag-pb's links-before-data field order, the empty link name being present, the chunk
//! data field being absent for an empty leaf, and unpacked `blocksizes`.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::str::FromStr;
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Chunk size of `ipfs add` (`size-262144`).
pub const CHUNK_SIZE: usize = 256 * 1024;
/// Most links in one node of the balanced layout.
pub const MAX_LINKS: usize = 174;

const CODEC_RAW: u64 = 0x55;
const CODEC_DAG_PB: u64 = 0x70;
const SHA2_256: u64 = 0x12;

/// Which CID `ipfs add` would print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CidVersion {
    /// `ipfs add`: dag-pb leaves, CIDv0 (`Qm…`).
    #[default]
    V0,
    /// `ipfs add --cid-version 1`: raw leaves, CIDv1 base32 (`bafy…`/`bafk…`).
    V1,
}

impl FromStr for CidVersion {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "0" | "v0" => Ok(Self::V0),
            "1" | "v1" => Ok(Self::V1),
            other => Err(Error::InvalidArgument {
                what: "CID version",
                input: other.to_owned(),
                expected: "0 or 1",
            }),
        }
    }
}

impl fmt::Display for CidVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::V0 => "0",
            Self::V1 => "1",
        })
    }
}

/// A child of a node under construction.
#[derive(Debug, Clone)]
struct Link {
    /// The child's CID in binary form (a bare multihash for CIDv0).
    cid: Vec<u8>,
    /// Bytes of the child's block plus every block below it (`Tsize`).
    tsize: u64,
    /// Bytes of file content below the child (UnixFS `blocksizes` entry).
    filesize: u64,
}

/// Computes a file's CID from its bytes, streamed in any pieces.
///
/// ```
/// use pin_vfs::{CidBuilder, CidVersion};
/// let mut b = CidBuilder::new(CidVersion::V0);
/// b.update(b"hello world\n");
/// assert_eq!(b.finish().to_string(), "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o");
/// ```
#[derive(Debug)]
pub struct CidBuilder {
    version: CidVersion,
    chunk: Vec<u8>,
    /// `levels[k]`: the children gathered so far for the open node at height `k + 1`.
    levels: Vec<Vec<Link>>,
    size: u64,
    leaves: u64,
}

/// A finished CID computation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentId {
    /// The root CID.
    pub cid: cid::Cid,
    /// Bytes of content.
    pub size: u64,
    /// Bytes of every block of the DAG (what `ipfs add` reports as the root's cumulative size).
    pub dag_size: u64,
}

impl ContentId {
    /// The CID as a pin-core [`Cid`](pin_core::Cid), spelled as `ipfs add` prints it.
    pub fn to_pin_cid(&self) -> Result<pin_core::Cid> {
        Ok(pin_core::Cid::parse(&self.cid.to_string())?)
    }
}

impl fmt::Display for ContentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.cid)
    }
}

impl CidBuilder {
    /// A builder for an empty file.
    pub fn new(version: CidVersion) -> Self {
        Self {
            version,
            chunk: Vec::with_capacity(CHUNK_SIZE),
            levels: Vec::new(),
            size: 0,
            leaves: 0,
        }
    }

    /// Bytes seen so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends content.
    pub fn update(&mut self, mut data: &[u8]) {
        self.size += data.len() as u64;
        while !data.is_empty() {
            if self.chunk.is_empty() && data.len() >= CHUNK_SIZE {
                // Whole chunks straight from the caller's buffer, without a copy.
                let (whole, rest) = data.split_at(CHUNK_SIZE);
                self.leaf(whole);
                data = rest;
                continue;
            }
            let take = (CHUNK_SIZE - self.chunk.len()).min(data.len());
            self.chunk.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.chunk.len() == CHUNK_SIZE {
                let chunk = std::mem::take(&mut self.chunk);
                self.leaf(&chunk);
                self.chunk = chunk;
                self.chunk.clear();
            }
        }
    }

    /// The root CID of everything appended.
    pub fn finish(mut self) -> ContentId {
        if !self.chunk.is_empty() || self.leaves == 0 {
            let chunk = std::mem::take(&mut self.chunk);
            self.leaf(&chunk);
        }
        // Close the open nodes bottom up. A level that is the highest one holding anything and holds exactly
        // one link is the root (a file of one chunk is its own root); any other level becomes a node, even
        // with a single child, as the balanced layout of `ipfs add` does.
        let mut k = 0;
        loop {
            let higher_empty = self.levels[k + 1..].iter().all(Vec::is_empty);
            if higher_empty && self.levels[k].len() == 1 {
                let root = self.levels[k].remove(0);
                let cid = self.cid_from_bytes(&root.cid);
                return ContentId {
                    cid,
                    size: root.filesize,
                    dag_size: root.tsize,
                };
            }
            if !self.levels[k].is_empty() {
                let children = std::mem::take(&mut self.levels[k]);
                let link = self.node(&children);
                self.push(k + 1, link);
            }
            k += 1;
        }
    }

    fn cid_from_bytes(&self, bytes: &[u8]) -> cid::Cid {
        // `bytes` were built by `cid_of`; decoding them back cannot fail.
        cid::Cid::try_from(bytes).unwrap_or_else(|e| panic!("a CID this module built does not decode: {e}"))
    }

    fn cid_of(&self, codec: u64, digest: &[u8]) -> Vec<u8> {
        let mh = multihash::Multihash::<64>::wrap(SHA2_256, digest)
            .unwrap_or_else(|e| panic!("a 32-byte digest fits a 64-byte multihash: {e}"));
        match self.version {
            CidVersion::V0 => mh.to_bytes(),
            CidVersion::V1 => cid::Cid::new_v1(codec, mh).to_bytes(),
        }
    }

    /// Hashes one chunk into a leaf and files it at level 0.
    fn leaf(&mut self, data: &[u8]) {
        self.leaves += 1;
        let link = match self.version {
            CidVersion::V1 => Link {
                cid: self.cid_of(CODEC_RAW, &Sha256::digest(data)),
                tsize: data.len() as u64,
                filesize: data.len() as u64,
            },
            CidVersion::V0 => {
                // The block is `PBNode{Data: UnixFS{Type: File, Data: chunk, filesize}}`; hash it in three
                // pieces so the chunk is not copied.
                let (head, tail) = pb::leaf_frame(data.len() as u64);
                let mut h = Sha256::new();
                h.update(&head);
                h.update(data);
                h.update(&tail);
                Link {
                    cid: self.cid_of(CODEC_DAG_PB, &h.finalize()),
                    tsize: (head.len() + data.len() + tail.len()) as u64,
                    filesize: data.len() as u64,
                }
            }
        };
        self.push(0, link);
    }

    /// Adds a link to the node open at `level`, closing that node first when it is full.
    fn push(&mut self, level: usize, link: Link) {
        if self.levels.len() <= level + 1 {
            self.levels.resize_with(level + 2, Vec::new);
        }
        if self.levels[level].len() == MAX_LINKS {
            let children = std::mem::take(&mut self.levels[level]);
            let node = self.node(&children);
            self.push(level + 1, node);
        }
        self.levels[level].push(link);
    }

    /// Encodes an inner node over `children` and returns the link to it.
    fn node(&self, children: &[Link]) -> Link {
        let block = pb::inner_node(children);
        Link {
            cid: self.cid_of(CODEC_DAG_PB, &Sha256::digest(&block)),
            tsize: block.len() as u64 + children.iter().map(|c| c.tsize).sum::<u64>(),
            filesize: children.iter().map(|c| c.filesize).sum(),
        }
    }
}

/// The CID of `data`, as `ipfs add --only-hash` computes it.
pub fn cid_of_bytes(data: &[u8], version: CidVersion) -> ContentId {
    let mut b = CidBuilder::new(version);
    b.update(data);
    b.finish()
}

/// The CID of everything `reader` yields.
pub fn cid_of_reader(mut reader: impl Read, version: CidVersion) -> io::Result<ContentId> {
    let mut b = CidBuilder::new(version);
    let mut buf = vec![0u8; CHUNK_SIZE * 4];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(b.finish()),
            Ok(n) => b.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// How many times [`cid_of_file`] hashes a file that keeps changing before it gives up.
pub const HASH_ATTEMPTS: u32 = 5;

/// The CID of the file at `path`.
///
/// The file's size and modification time are compared before and after hashing; a file that changed while
/// it was read is hashed again, up to [`HASH_ATTEMPTS`] times, and then refused with [`Error::Unstable`]
/// rather than recorded half-read.
pub fn cid_of_file(path: &Path, version: CidVersion) -> Result<ContentId> {
    hash_until_stable(path, version, Stamp::of).map(|(id, _)| id)
}

/// [`cid_of_file`] and the stamp the file had, unchanged, before and after the hashing that produced the CID.
///
/// The watcher records this stamp, never one taken later: a stamp taken after the hash could already show a
/// newer version of the file, which would then look unchanged and never be hashed again.
pub(crate) fn cid_of_file_stamped(path: &Path, version: CidVersion) -> Result<(ContentId, Stamp)> {
    hash_until_stable(path, version, Stamp::of)
}

/// [`cid_of_file_stamped`] with the stamp probe passed in, so tests can make a file look unstable.
fn hash_until_stable(
    path: &Path,
    version: CidVersion,
    mut stamp: impl FnMut(&Path) -> io::Result<Stamp>,
) -> Result<(ContentId, Stamp)> {
    let io_err = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    for _ in 0..HASH_ATTEMPTS {
        let before = stamp(path).map_err(io_err)?;
        let file = File::open(path).map_err(io_err)?;
        let id = cid_of_reader(file, version).map_err(io_err)?;
        let after = stamp(path).map_err(io_err)?;
        if before == after && id.size == after.len {
            return Ok((id, after));
        }
        tracing::debug!(path = %path.display(), "file changed while it was hashed; hashing again");
    }
    Err(Error::Unstable {
        path: path.to_path_buf(),
        attempts: HASH_ATTEMPTS,
    })
}

/// What tells whether a file changed: its size, modification time and (on Unix) inode number, so a file
/// replaced by another of the same size and time (write a temporary file, rename it over) still differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub(crate) len: u64,
    pub(crate) modified: Option<SystemTime>,
    pub(crate) inode: u64,
}

impl Stamp {
    pub(crate) fn of(path: &Path) -> io::Result<Self> {
        Ok(Self::from_metadata(&std::fs::metadata(path)?))
    }

    pub(crate) fn from_metadata(m: &std::fs::Metadata) -> Self {
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(m);
        #[cfg(not(unix))]
        let inode = 0;
        Self {
            len: m.len(),
            modified: m.modified().ok(),
            inode,
        }
    }
}

/// The few protobuf messages `ipfs add` writes: dag-pb `PBNode`/`PBLink` and UnixFS `Data`.
///
/// ```text
/// PBNode { repeated PBLink Links = 2; optional bytes Data = 1; }   // Links are written first
/// PBLink { optional bytes Hash = 1; optional string Name = 2; optional uint64 Tsize = 3; }
/// Data   { required DataType Type = 1; optional bytes Data = 2; optional uint64 filesize = 3;
///          repeated uint64 blocksizes = 4; }                       // File = 2, blocksizes unpacked
/// ```
mod pb {
    use super::Link;

    const UNIXFS_FILE: u64 = 2;

    pub(super) fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    /// Tag byte of field `field` with wire type `wire` (fields here are all below 16).
    fn tag(field: u8, wire: u8) -> u8 {
        (field << 3) | wire
    }

    /// The bytes around a leaf's chunk: `PBNode{Data: UnixFS{Type: File, Data: chunk, filesize: n}}`.
    /// An empty chunk has no UnixFS `Data` field, as Kubo writes the empty file.
    pub(super) fn leaf_frame(n: u64) -> (Vec<u8>, Vec<u8>) {
        let mut unixfs_head = vec![tag(1, 0)];
        varint(&mut unixfs_head, UNIXFS_FILE);
        if n > 0 {
            unixfs_head.push(tag(2, 2));
            varint(&mut unixfs_head, n);
        }
        let mut tail = vec![tag(3, 0)];
        varint(&mut tail, n);
        let unixfs_len = unixfs_head.len() as u64 + n + tail.len() as u64;
        let mut head = vec![tag(1, 2)];
        varint(&mut head, unixfs_len);
        head.extend_from_slice(&unixfs_head);
        (head, tail)
    }

    /// An inner node: a link per child (empty name, cumulative size) and UnixFS data with the total size
    /// and each child's content size.
    pub(super) fn inner_node(children: &[Link]) -> Vec<u8> {
        let filesize: u64 = children.iter().map(|c| c.filesize).sum();
        let mut data = vec![tag(1, 0)];
        varint(&mut data, UNIXFS_FILE);
        data.push(tag(3, 0));
        varint(&mut data, filesize);
        for c in children {
            data.push(tag(4, 0));
            varint(&mut data, c.filesize);
        }
        let mut out = Vec::with_capacity(children.len() * 48 + data.len() + 8);
        for c in children {
            let mut link = vec![tag(1, 2)];
            varint(&mut link, c.cid.len() as u64);
            link.extend_from_slice(&c.cid);
            link.extend_from_slice(&[tag(2, 2), 0]);
            link.push(tag(3, 0));
            varint(&mut link, c.tsize);
            out.push(tag(2, 2));
            varint(&mut out, link.len() as u64);
            out.extend_from_slice(&link);
        }
        out.push(tag(1, 2));
        varint(&mut out, data.len() as u64);
        out.extend_from_slice(&data);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_leaf_is_the_block_kubo_writes() {
        let (head, tail) = pb::leaf_frame(0);
        let block: Vec<u8> = head.into_iter().chain(tail).collect();
        assert_eq!(block, [0x0a, 0x04, 0x08, 0x02, 0x18, 0x00]);
    }

    #[test]
    fn varints_follow_protobuf() {
        let enc = |v| {
            let mut b = Vec::new();
            pb::varint(&mut b, v);
            b
        };
        assert_eq!(enc(0), [0]);
        assert_eq!(enc(127), [127]);
        assert_eq!(enc(128), [0x80, 1]);
        assert_eq!(enc(262_144), [0x80, 0x80, 0x10]);
    }

    #[test]
    fn pieces_do_not_change_the_cid() {
        let data: Vec<u8> = (0..CHUNK_SIZE * 2 + 77).map(|i| (i % 253) as u8).collect();
        let whole = cid_of_bytes(&data, CidVersion::V0);
        let mut b = CidBuilder::new(CidVersion::V0);
        for piece in data.chunks(1000) {
            b.update(piece);
        }
        assert_eq!(b.finish(), whole);
    }

    #[test]
    fn a_file_changing_while_hashed_is_hashed_again_then_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello world\n").unwrap();
        let real = Stamp::of(&path).unwrap();
        // The modification time moves during the first two readings, then holds.
        let mut calls = 0;
        let (id, stamp) = hash_until_stable(&path, CidVersion::V0, |_| {
            calls += 1;
            let tick = if calls <= 4 { calls } else { 100 };
            Ok(Stamp {
                modified: real.modified.map(|t| t + std::time::Duration::from_secs(tick)),
                ..real
            })
        })
        .unwrap();
        assert_eq!(calls, 6, "hashed three times");
        assert_eq!(
            stamp.modified,
            real.modified.map(|t| t + std::time::Duration::from_secs(100))
        );
        assert_eq!(id.to_string(), "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o");
        // A file that never holds still is refused, not recorded half-read.
        let mut n = 0u64;
        let err = hash_until_stable(&path, CidVersion::V0, |_| {
            n += 1;
            Ok(Stamp { len: n, ..real })
        })
        .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Unstable {
                    attempts: HASH_ATTEMPTS,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("changed while being hashed"), "{err}");
    }

    #[test]
    fn versions_parse() {
        assert_eq!("1".parse::<CidVersion>().unwrap(), CidVersion::V1);
        assert!("2".parse::<CidVersion>().unwrap_err().to_string().contains("\"2\""));
    }
}
