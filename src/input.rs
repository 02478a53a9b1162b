//! Reading JSON-lines event files (plain or `.gz`) for `replay` and `evaluate`, merged across files
//! in event-time order, with malformed lines turned into dead letters instead of errors.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use flate2::read::MultiGzDecoder;

use crate::engine::{decode, DecodeError, Encoding, Event, EventTimeMerge};

/// A file could not be opened or read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read input file {path}: {source}")]
pub struct InputError {
    /// The file.
    pub path: PathBuf,
    /// The I/O error.
    pub source: std::io::Error,
}

/// A line that is not a valid event, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// The file it came from.
    pub source: Arc<str>,
    /// Its line number (from 1).
    pub line: u64,
    /// The line, unchanged (invalid UTF-8 replaced); only its first bytes when it was too
    /// large (the error gives its size).
    pub payload: String,
    /// Why it was refused.
    pub error: DecodeError,
}

impl DeadLetter {
    /// The dead letter as one JSON line: reason, detail, source, line and the original payload.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "reason": self.error.reason().as_str(),
            "detail": self.error.to_string(),
            "source": self.source.as_ref(),
            "line": self.line,
            "payload": self.payload,
        })
        .to_string()
    }
}

/// What reading the inputs yields, in order.
#[derive(Debug)]
pub enum InputItem {
    /// A valid event.
    Event(Event<'static>),
    /// A malformed line.
    DeadLetter(DeadLetter),
}

/// One open input file and its next valid event.
struct InputFile {
    source: Arc<str>,
    path: PathBuf,
    reader: Box<dyn BufRead>,
    line: u64,
    buffer: Vec<u8>,
    max_line_bytes: usize,
}

impl InputFile {
    fn open(path: &Path, max_line_bytes: usize) -> Result<InputFile, InputError> {
        let file = File::open(path).map_err(|source| InputError {
            path: path.to_path_buf(),
            source,
        })?;
        let gzip = path.extension().is_some_and(|extension| extension == "gz");
        let reader: Box<dyn BufRead> = if gzip {
            Box::new(BufReader::new(MultiGzDecoder::new(file)))
        } else {
            Box::new(BufReader::with_capacity(1 << 16, file))
        };
        Ok(InputFile {
            source: path.display().to_string().into(),
            path: path.to_path_buf(),
            reader,
            line: 0,
            buffer: Vec::new(),
            max_line_bytes,
        })
    }

    /// Reads up to the next valid event, sending malformed lines to `dead_letters`.
    fn next_event(
        &mut self,
        dead_letters: &mut VecDeque<DeadLetter>,
    ) -> Result<Option<Event<'static>>, InputError> {
        loop {
            self.buffer.clear();
            let read = self
                .reader
                .read_until(b'\n', &mut self.buffer)
                .map_err(|source| InputError {
                    path: self.path.clone(),
                    source,
                })?;
            if read == 0 {
                return Ok(None);
            }
            self.line += 1;
            let line = self.buffer.trim_ascii();
            if line.is_empty() {
                continue;
            }
            match decode(Encoding::Json, line, self.max_line_bytes) {
                Ok(event) => return Ok(Some(event.into_owned())),
                Err(error) => dead_letters.push_back(DeadLetter {
                    source: Arc::clone(&self.source),
                    line: self.line,
                    payload: String::from_utf8_lossy(&line[..line.len().min(self.max_line_bytes)])
                        .into_owned(),
                    error,
                }),
            }
        }
    }
}

/// Events from several files, merged by event time (files are expected to be roughly in time
/// order, as topic dumps are; within a file, order is kept). Equal times keep file order: the
/// same [`EventTimeMerge`] rule as the service's merge of its input topics.
pub struct MergedInput {
    files: Vec<InputFile>,
    merge: EventTimeMerge<Event<'static>>,
    dead_letters: VecDeque<DeadLetter>,
}

impl MergedInput {
    /// Opens every file; fails on the first that cannot be opened.
    pub fn open(paths: &[PathBuf]) -> Result<MergedInput, InputError> {
        MergedInput::open_limited(paths, usize::MAX)
    }

    /// Like [`MergedInput::open`], with lines over `max_line_bytes` refused as
    /// [`DecodeError::TooLarge`] (as the service refuses messages over
    /// `kafka.max_message_bytes`).
    pub fn open_limited(
        paths: &[PathBuf],
        max_line_bytes: usize,
    ) -> Result<MergedInput, InputError> {
        let files = paths
            .iter()
            .map(|path| InputFile::open(path, max_line_bytes))
            .collect::<Result<Vec<_>, _>>()?;
        let count = files.len();
        // Files are read on demand, so no input ever waits: the merge needs no clock.
        let mut input = MergedInput {
            files,
            merge: EventTimeMerge::new(count, 0, 0),
            dead_letters: VecDeque::new(),
        };
        for index in 0..count {
            input.refill(index)?;
        }
        Ok(input)
    }

    /// Queues file `index`'s next event, or marks the file as read to its end.
    fn refill(&mut self, index: usize) -> Result<(), InputError> {
        match self.files[index].next_event(&mut self.dead_letters)? {
            Some(event) => self.merge.push(index, Some(event.time.millis()), event, 0),
            None => self.merge.set_caught_up(index, true),
        }
        Ok(())
    }

    /// The next item: dead letters as soon as they are read, events in merged time order.
    pub fn next_item(&mut self) -> Result<Option<InputItem>, InputError> {
        if let Some(dead_letter) = self.dead_letters.pop_front() {
            return Ok(Some(InputItem::DeadLetter(dead_letter)));
        }
        let Some(merged) = self.merge.pop(0) else {
            return Ok(None);
        };
        self.refill(merged.input)?;
        Ok(Some(InputItem::Event(merged.item)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn merges_files_by_time_and_reports_bad_lines() {
        let directory = tempfile::tempdir().unwrap();
        let first = directory.path().join("usage.jsonl");
        let second = directory.path().join("payments.jsonl.gz");
        std::fs::write(
            &first,
            "{\"customer_id\":\"a\",\"type\":\"login\",\"timestamp\":1000}\n\nnot json\n{\"customer_id\":\"a\",\"type\":\"login\",\"timestamp\":3000}\n",
        )
        .unwrap();
        let mut encoder = flate2::write::GzEncoder::new(
            File::create(&second).unwrap(),
            flate2::Compression::fast(),
        );
        encoder
            .write_all(
                b"{\"customer_id\":\"a\",\"type\":\"refund\",\"timestamp\":2000,\"amount\":5}\n",
            )
            .unwrap();
        encoder.finish().unwrap();

        let mut input = MergedInput::open(&[first, second]).unwrap();
        let mut seen = Vec::new();
        while let Some(item) = input.next_item().unwrap() {
            seen.push(match item {
                InputItem::Event(event) => format!("{}@{}", event.event_type, event.time.millis()),
                InputItem::DeadLetter(dead) => {
                    format!("dead:{}:{}", dead.line, dead.error.reason().as_str())
                }
            });
        }
        assert_eq!(
            seen,
            vec![
                "login@1000",
                "dead:3:invalid_json",
                "refund@2000",
                "login@3000"
            ]
        );
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let error = MergedInput::open(&[PathBuf::from("/no/such/file.jsonl")])
            .err()
            .unwrap();
        assert!(error.to_string().contains("/no/such/file.jsonl"));
    }
}
