//! The connection to Redis that both sides share: the URL parsed and shown without its
//! password, connecting with a clear verdict (a wrong password is final, an unreachable server
//! is worth retrying), and the back-off between retries.

use std::time::Duration;

use redis::{Client, Connection, ErrorKind, RedisError};

use crate::error::{Error, Result};

/// How long a blocking read may wait on the socket before the server counts as gone.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest pause between two attempts to reach Redis.
const MAX_BACKOFF: Duration = Duration::from_secs(4);

/// A Redis server as the user named it.
#[derive(Clone, Debug)]
pub struct Endpoint {
    client: Client,
    /// The URL without its password, for messages.
    pub shown: String,
}

/// Why a connection or command failed.
#[derive(Debug)]
pub enum Trouble {
    /// The server refused the password or user: retrying cannot help.
    Refused(String),
    /// The server is unreachable or dropped the connection: worth retrying.
    Down(String),
}

impl Endpoint {
    /// Parses `redis://[:PASSWORD@]HOST:PORT[/DB]` (or `rediss://` for TLS).
    pub fn parse(url: &str) -> Result<Endpoint> {
        let shown = hide_password(url);
        if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
            return Err(Error::invalid(
                "--broker",
                format!("`{shown}` is not a redis:// or rediss:// URL (redis://[:PASSWORD@]HOST:PORT[/DB])"),
            ));
        }
        let client =
            Client::open(url).map_err(|e| Error::invalid("--broker", format!("`{shown}`: {e}")))?;
        Ok(Endpoint { client, shown })
    }

    /// A connection, or why there is none.
    pub fn connect(&self) -> std::result::Result<Connection, Trouble> {
        let conn = self
            .client
            .get_connection_with_timeout(Duration::from_secs(3))
            .map_err(classify)?;
        conn.set_read_timeout(Some(READ_TIMEOUT))
            .map_err(classify)?;
        Ok(conn)
    }

    /// A connection at once, or the error that ends a command: a refused password is told as
    /// such, an unreachable server as unreachable.
    pub fn connect_now(&self) -> Result<Connection> {
        let mut conn = self.connect().map_err(|t| self.error(t))?;
        redis::cmd("PING")
            .query::<String>(&mut conn)
            .map_err(|e| self.error(classify(e)))?;
        Ok(conn)
    }

    /// The library error for a trouble that ends a command.
    pub fn error(&self, trouble: Trouble) -> Error {
        match trouble {
            Trouble::Refused(msg) => Error::invalid(
                "--broker",
                format!("Redis at {} refused the credentials: {msg} (check the password in the URL, redis://:PASSWORD@HOST:PORT)", self.shown),
            ),
            Trouble::Down(msg) => Error::invalid(
                "--broker",
                format!("cannot reach Redis at {}: {msg}", self.shown),
            ),
        }
    }
}

/// Connects to `url` once: a refused password or an unreachable server is an error now,
/// before a search creates its run.
pub fn check(url: &str) -> Result<()> {
    Endpoint::parse(url)?.connect_now().map(|_| ())
}

/// Sorts a Redis error into final (credentials) or worth retrying (everything else).
pub fn classify(err: RedisError) -> Trouble {
    let text = err.to_string();
    let upper = text.to_uppercase();
    let auth = err.kind() == ErrorKind::AuthenticationFailed
        || upper.contains("WRONGPASS")
        || upper.contains("NOAUTH")
        || upper.contains("INVALID PASSWORD")
        || upper.contains("NOPERM");
    match auth {
        true => Trouble::Refused(text),
        false => Trouble::Down(text),
    }
}

impl std::fmt::Display for Trouble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trouble::Refused(msg) | Trouble::Down(msg) => f.write_str(msg),
        }
    }
}

/// `redis://:secret@host:6379/0` shown as `redis://host:6379/0`.
pub fn hide_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://{host}"),
        None => url.to_string(),
    }
}

/// Doubling pauses between retries, from 100 ms to [`MAX_BACKOFF`].
#[derive(Debug, Default)]
pub struct Backoff {
    next: Option<Duration>,
}

impl Backoff {
    /// The pause before the next attempt.
    pub fn next(&mut self) -> Duration {
        let now = self.next.unwrap_or(Duration::from_millis(100));
        self.next = Some((now * 2).min(MAX_BACKOFF));
        now
    }

    /// Whether this is the first failure since the last success (the one worth telling).
    pub fn first(&self) -> bool {
        self.next.is_none()
    }

    pub fn reset(&mut self) {
        self.next = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_never_shows_in_messages() {
        assert_eq!(
            hide_password("redis://:s3cret@10.0.0.5:6379/2"),
            "redis://10.0.0.5:6379/2"
        );
        assert_eq!(hide_password("redis://host:1"), "redis://host:1");
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let mut b = Backoff::default();
        assert!(b.first());
        assert_eq!(b.next(), Duration::from_millis(100));
        assert!(!b.first());
        for _ in 0..10 {
            b.next();
        }
        assert_eq!(b.next(), MAX_BACKOFF);
    }

    #[test]
    fn a_url_of_another_scheme_is_refused() {
        let err = Endpoint::parse("http://host:6379").unwrap_err().to_string();
        assert!(err.contains("--broker"), "{err}");
    }
}
