//! Key encodings for the store's trees. Integers are big-endian so that sled's byte order is
//! numeric order: iterating `candidate_by_id` yields ids from smallest to largest, and the last
//! key of `checkpoint_by_step` is the latest step.

use std::fmt;

/// A stored key or value that should have been a big-endian `u64` but has the wrong length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadKey {
    /// The length that was found (a `u64` key is 8 bytes).
    pub len: usize,
}

impl fmt::Display for BadKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "expected an 8-byte big-endian integer key, found {} bytes",
            self.len
        )
    }
}

impl std::error::Error for BadKey {}

/// Encodes a `u64` as 8 big-endian bytes.
pub fn encode_u64(value: u64) -> [u8; 8] {
    value.to_be_bytes()
}

/// Decodes 8 big-endian bytes into a `u64`; any other length is an error.
pub fn decode_u64(bytes: &[u8]) -> Result<u64, BadKey> {
    let array: [u8; 8] = bytes.try_into().map_err(|_| BadKey { len: bytes.len() })?;
    Ok(u64::from_be_bytes(array))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_keys_sort_in_numeric_order() {
        let values = [
            0u64,
            1,
            2,
            9,
            10,
            255,
            256,
            65_535,
            65_536,
            1 << 40,
            u64::MAX,
        ];
        let mut encoded: Vec<[u8; 8]> = values.iter().map(|v| encode_u64(*v)).collect();
        encoded.sort();
        let decoded: Vec<u64> = encoded.iter().map(|k| decode_u64(k).unwrap()).collect();
        assert_eq!(decoded, values);
    }

    #[test]
    fn decoding_round_trips() {
        for value in [0u64, 42, 1 << 33, u64::MAX] {
            assert_eq!(decode_u64(&encode_u64(value)), Ok(value));
        }
    }

    #[test]
    fn a_key_of_the_wrong_length_is_a_clear_error() {
        let err = decode_u64(&[1, 2, 3]).unwrap_err();
        assert_eq!(err, BadKey { len: 3 });
        assert!(err.to_string().contains("found 3 bytes"));
        assert!(decode_u64(&[0; 9]).is_err());
    }
}
