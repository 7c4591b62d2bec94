//! TLS for outgoing requests and PostgreSQL: rustls with the ring provider (no aws-lc).

/// Install ring as the process-wide rustls provider. Idempotent: later calls, and calls
/// after another component installed it, do nothing.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
