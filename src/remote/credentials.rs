//! Credentials for a registry's token service: given explicitly, or found in a Docker config.

/// A user name and password (or identity token) for basic auth against a token service.
#[derive(Clone)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password; never printed.
    pub password: zeroize::Zeroizing<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}
