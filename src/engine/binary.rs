//! A small little-endian binary writer and reader for snapshot bodies.

/// Why bytes could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BinaryError {
    /// The bytes ended early.
    #[error("truncated at byte {0}")]
    Truncated(usize),
    /// A length or value is impossible.
    #[error("invalid {what} at byte {at}")]
    Invalid {
        /// What was being read.
        what: &'static str,
        /// Where.
        at: usize,
    },
}

/// Appends values to a byte buffer.
#[derive(Debug, Default, Clone)]
pub struct Writer {
    /// The bytes written so far.
    pub bytes: Vec<u8>,
}

impl Writer {
    /// Writes one byte.
    pub fn u8(&mut self, value: u8) {
        self.bytes.push(value);
    }

    /// Writes a `u16`.
    pub fn u16(&mut self, value: u16) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    /// Writes a `u32`.
    pub fn u32(&mut self, value: u32) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    /// Writes a `u64`.
    pub fn u64(&mut self, value: u64) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    /// Writes an `i64`.
    pub fn i64(&mut self, value: i64) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    /// Writes text with a `u32` length.
    pub fn text(&mut self, value: &str) {
        self.u32(value.len() as u32);
        self.bytes.extend_from_slice(value.as_bytes());
    }

    /// Writes `u32` words with a `u32` count.
    pub fn words(&mut self, words: &[u32]) {
        self.u32(words.len() as u32);
        for word in words {
            self.u32(*word);
        }
    }
}

/// Reads values back in the order they were written.
#[derive(Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `bytes`.
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, position: 0 }
    }

    /// How many bytes were read so far.
    pub fn position(&self) -> usize {
        self.position
    }

    /// How many bytes are left to read.
    pub fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.position)
    }

    /// Whether every byte was read.
    pub fn is_done(&self) -> bool {
        self.position == self.bytes.len()
    }

    fn take(&mut self, count: usize) -> Result<&'a [u8], BinaryError> {
        let end = self
            .position
            .checked_add(count)
            .filter(|end| *end <= self.bytes.len())
            .ok_or(BinaryError::Truncated(self.position))?;
        let slice = &self.bytes[self.position..end];
        self.position = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], BinaryError> {
        let mut array = [0u8; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }

    /// Reads one byte.
    pub fn u8(&mut self) -> Result<u8, BinaryError> {
        Ok(self.take(1)?[0])
    }

    /// Reads a `u16`.
    pub fn u16(&mut self) -> Result<u16, BinaryError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    /// Reads a `u32`.
    pub fn u32(&mut self) -> Result<u32, BinaryError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// Reads a `u64`.
    pub fn u64(&mut self) -> Result<u64, BinaryError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// Reads an `i64`.
    pub fn i64(&mut self) -> Result<i64, BinaryError> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    /// Reads text written by [`Writer::text`].
    pub fn text(&mut self) -> Result<&'a str, BinaryError> {
        let length = self.u32()? as usize;
        let at = self.position;
        std::str::from_utf8(self.take(length)?)
            .map_err(|_| BinaryError::Invalid { what: "text", at })
    }

    /// Reads words written by [`Writer::words`].
    pub fn words(&mut self) -> Result<Vec<u32>, BinaryError> {
        let count = self.u32()? as usize;
        if count > self.bytes.len() / 4 {
            return Err(BinaryError::Invalid {
                what: "word count",
                at: self.position,
            });
        }
        (0..count).map(|_| self.u32()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_truncation_is_caught() {
        let mut writer = Writer::default();
        writer.u8(7);
        writer.u16(300);
        writer.i64(-5);
        writer.text("acme");
        writer.words(&[1, 2, 3]);
        let mut reader = Reader::new(&writer.bytes);
        assert_eq!(reader.u8(), Ok(7));
        assert_eq!(reader.u16(), Ok(300));
        assert_eq!(reader.i64(), Ok(-5));
        assert_eq!(reader.text(), Ok("acme"));
        assert_eq!(reader.words(), Ok(vec![1, 2, 3]));
        assert!(reader.is_done());
        let mut short = Reader::new(&writer.bytes[..5]);
        short.u8().unwrap();
        short.u16().unwrap();
        assert_eq!(short.i64(), Err(BinaryError::Truncated(3)));
    }
}
