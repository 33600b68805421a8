//! CIDs byte for byte as `ipfs add` computes them.
//!
//! The expected values were computed independently with the reference JavaScript importer of the IPFS
//! project (`ipfs-unixfs-importer` 17.1.1, `importBytes` with `profile: 'unixfs-v0-2015'`, which is Kubo's
//! default: 256 KiB chunks, balanced layout, 174 links, dag-pb leaves, CIDv0; and the same profile with
//! `cidVersion: 1, rawLeaves: true` for `ipfs add --cid-version 1`), on the content `pattern(n)` below. The
//! empty-file and `hello world\n` values are also the well-known ones Kubo prints.

use std::io::Write;

use pin_vfs::{CHUNK_SIZE, CidBuilder, CidVersion, cid_of_bytes, cid_of_file};

/// Byte `i` of the test content: `(i mod 251) xor ((i >> 9) mod 256)`.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| ((i % 251) ^ ((i >> 9) & 0xff)) as u8).collect()
}

const K: usize = CHUNK_SIZE;

/// (name, size, CIDv0, CIDv1 with raw leaves)
const VECTORS: &[(&str, usize, &str, &str)] = &[
    (
        "empty",
        0,
        "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH",
        "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
    ),
    (
        "one byte",
        1,
        "QmS9JArPwa55ePgDnyg6TzX24mYTS1b1vLqWNebyVotKxQ",
        "bafkreidogqfzz75tpkmjzjke425xqcrmpcib2p5tg44hnbirumdbpl5adu",
    ),
    (
        "exactly one chunk",
        K,
        "QmaPFyVp5wt8y99xzCsn7nNFQ4c5bUNCnPHxJtkbrXJPMi",
        "bafkreigcvxz2xef7bhkzktwspa7nndi67ccrl5e7uvyxo64wvo3e5lqvca",
    ),
    (
        "one byte over one chunk",
        K + 1,
        "QmXmEYtJKKMWm4ndUsVh4xW79KSsSkZePxmpBQPJzwuCDn",
        "bafybeigvyptjzooqgo3z4hown6qwh46snhtrewz3yh5aw2tx7dkivl57oq",
    ),
    (
        "two chunks",
        2 * K,
        "QmUV3yD22t5RyZLKuYX6DYa6xPx54dxoeJyRVALonB6xES",
        "bafybeibnxchrmexl5zffqtxjbcle2dusi6hjw7hyworlx3cjjpkjglzizi",
    ),
    (
        "174 chunks, one full level",
        174 * K,
        "QmZ1DLwpEVLEK7RgWYn3jBZhbv8p8ChwdDNr6GHo4tvG5A",
        "bafybeid6l5joskezynt2gwxpqj262mz6elhgskdpdj5tivth4wrja7unby",
    ),
    (
        "175 chunks, two levels",
        174 * K + 1,
        "QmScVM3sZsEsKkbHPFcgwtsVjkg4bL9hrHA5wpZJ1dhn66",
        "bafybeifwm44bczrrul7a3dntjaydh3rmzbytqj3z7jjmwnn2ozt47wqniu",
    ),
    (
        "201 chunks, two levels, short last chunk",
        200 * K + 12345,
        "QmT9zfLCMMDunivHorW3Dtw6Mqrv3iSgLsYZv5gsqTsLf8",
        "bafybeicvkqyefmiuwyitipwkcvtkexqhjxadjxpe52kbhcfr46l7ftmrta",
    ),
];

#[test]
fn cids_match_the_reference_importer() {
    let biggest = VECTORS.iter().map(|v| v.1).max().unwrap();
    let content = pattern(biggest);
    for &(name, size, v0, v1) in VECTORS {
        let data = &content[..size];
        let got0 = cid_of_bytes(data, CidVersion::V0);
        assert_eq!(got0.cid.to_string(), v0, "{name}, CIDv0");
        assert_eq!(got0.size, size as u64);
        let got1 = cid_of_bytes(data, CidVersion::V1);
        assert_eq!(got1.cid.to_string(), v1, "{name}, CIDv1");
    }
}

#[test]
fn well_known_small_files() {
    let hello = cid_of_bytes(b"hello world\n", CidVersion::V0);
    assert_eq!(hello.to_string(), "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o");
    assert_eq!(hello.dag_size, 20, "what `ipfs add` reports as the cumulative size");
    assert_eq!(
        cid_of_bytes(b"hello world\n", CidVersion::V1).to_string(),
        "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
    );
}

#[test]
fn files_hash_like_bytes_and_become_pin_cids() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.bin");
    let data = pattern(2 * K + 5);
    std::fs::File::create(&path).unwrap().write_all(&data).unwrap();
    let from_file = cid_of_file(&path, CidVersion::V0).unwrap();
    assert_eq!(from_file, cid_of_bytes(&data, CidVersion::V0));
    let pin = from_file.to_pin_cid().unwrap();
    assert_eq!(
        pin.as_str(),
        from_file.cid.to_string(),
        "the spelling `ipfs add` prints"
    );

    let err = cid_of_file(&dir.path().join("missing"), CidVersion::V0).unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
}

#[test]
fn odd_piece_sizes_do_not_change_the_dag() {
    let data = pattern(3 * K + 100);
    for piece in [1usize, 4095, K - 1, K + 1] {
        let mut b = CidBuilder::new(CidVersion::V1);
        for p in data.chunks(piece) {
            b.update(p);
        }
        assert_eq!(b.finish(), cid_of_bytes(&data, CidVersion::V1), "pieces of {piece}");
    }
}
