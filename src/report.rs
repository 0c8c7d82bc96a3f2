//! Writing an error with its whole source chain, for the one log line each failure gets.

use std::error::Error;
use std::fmt;

/// Displays an error and each of its sources, joined by `: ` (`commit failed: database error:
/// disk I/O error`). Error types here keep their causes as sources instead of formatting them
/// into their own message, so this is how a log line shows the whole story.
pub struct Chain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Chain;

    #[derive(Debug, thiserror::Error)]
    enum Outer {
        #[error("storage failed")]
        Storage(#[source] std::io::Error),
    }

    #[test]
    fn shows_every_source() {
        let e = Outer::Storage(std::io::Error::other("disk full"));
        assert_eq!(Chain(&e).to_string(), "storage failed: disk full");
    }
}
