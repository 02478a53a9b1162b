//! Who may read the customer API (`/customers/...`): everyone, or only requests that carry the
//! bearer token of `http.token_file`. Probes and metrics are not guarded here.
//!
//! The token file is read at start and read again whenever its modification time changes, so a
//! rotated Kubernetes Secret takes effect without a restart. Tokens are compared in constant time.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use subtle::ConstantTimeEq;

use crate::config::service::HttpConfig;

/// Why the HTTP settings cannot be served as they are.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// The token file could not be read.
    #[error("config key `http.token_file`: cannot read {path}: {source}")]
    Unreadable {
        /// The file named by `http.token_file`.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// The token file holds no token.
    #[error(
        "config key `http.token_file`: {path} holds no token (it is empty or only white space)"
    )]
    Empty {
        /// The file named by `http.token_file`.
        path: PathBuf,
    },
    /// The server would listen beyond loopback with the customer API open.
    #[error(
        "config key `http.listen`: {listen} is reachable beyond this machine ({address}), and \
         `http.token_file` is not set, so anyone who reaches the port could read every customer's \
         data; set `http.token_file` to a file holding a bearer token, or set \
         `http.allow_unauthenticated = true` if that is intended"
    )]
    OpenBeyondLoopback {
        /// The `http.listen` setting.
        listen: String,
        /// The first address it resolves to that is not a loopback address.
        address: SocketAddr,
    },
}

/// The access rule of the customer API.
#[derive(Debug)]
pub enum CustomerAccess {
    /// Anyone who reaches the port.
    Open,
    /// Only requests with `Authorization: Bearer <token>`.
    Token(TokenFile),
}

impl CustomerAccess {
    /// The rule that `http` asks for, given the addresses `http.listen` resolves to: a token when
    /// `token_file` is set; open on loopback, or beyond it only with `allow_unauthenticated`.
    pub fn from_config(
        http: &HttpConfig,
        listen_addresses: &[SocketAddr],
    ) -> Result<CustomerAccess, AccessError> {
        if let Some(path) = &http.token_file {
            return Ok(CustomerAccess::Token(TokenFile::open(Path::new(path))?));
        }
        let beyond_loopback = listen_addresses
            .iter()
            .find(|address| !address.ip().is_loopback());
        match beyond_loopback {
            Some(&address) if !http.allow_unauthenticated => Err(AccessError::OpenBeyondLoopback {
                listen: http.listen.clone(),
                address,
            }),
            _ => Ok(CustomerAccess::Open),
        }
    }

    /// Whether a request whose `Authorization` header is `authorization` may read customers.
    pub fn admits(&self, authorization: Option<&[u8]>) -> bool {
        match self {
            CustomerAccess::Open => true,
            CustomerAccess::Token(file) => authorization
                .and_then(bearer_credentials)
                .is_some_and(|presented| file.matches(presented)),
        }
    }
}

/// The credentials of an `Authorization: Bearer <token>` header value (the scheme's case is
/// not significant, RFC 9110 section 11.1).
fn bearer_credentials(header: &[u8]) -> Option<&[u8]> {
    let (scheme, credentials) = header.split_at_checked(7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| credentials.trim_ascii())
}

/// The token held in a file, kept in memory and read again when the file changes.
#[derive(Debug)]
pub struct TokenFile {
    path: PathBuf,
    current: Mutex<Loaded>,
}

#[derive(Debug)]
struct Loaded {
    modified: Option<SystemTime>,
    token: Vec<u8>,
}

impl TokenFile {
    /// Reads the token in `path` (surrounding white space, such as a trailing newline, is not
    /// part of it).
    pub fn open(path: &Path) -> Result<TokenFile, AccessError> {
        let loaded = read_token(path)?;
        Ok(TokenFile {
            path: path.to_path_buf(),
            current: Mutex::new(loaded),
        })
    }

    /// Whether `presented` is the token, compared in constant time. A file that changed is read
    /// again first; a file that became unreadable or empty keeps the token it held (and says so
    /// in the log), so a botched rotation does not open the API.
    fn matches(&self, presented: &[u8]) -> bool {
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let modified = modified_time(&self.path);
        if modified != current.modified {
            match read_token(&self.path) {
                Ok(loaded) => {
                    tracing::info!(path = %self.path.display(), "Customer API token reloaded.");
                    *current = loaded;
                }
                Err(error) => {
                    tracing::warn!(%error, "Keeping the customer API token read before.");
                    current.modified = modified;
                }
            }
        }
        bool::from(current.token.as_slice().ct_eq(presented))
    }
}

fn modified_time(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn read_token(path: &Path) -> Result<Loaded, AccessError> {
    let modified = modified_time(path);
    let bytes = std::fs::read(path).map_err(|source| AccessError::Unreadable {
        path: path.to_path_buf(),
        source,
    })?;
    let token = bytes.trim_ascii().to_vec();
    if token.is_empty() {
        return Err(AccessError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(Loaded { modified, token })
}

#[cfg(test)]
mod tests;
