//! TLS on the proxy's listener ([RFC 8446](https://www.rfc-editor.org/rfc/rfc8446), with
//! rustls): the certificate chain and its key from PEM files, HTTP/2 and HTTP/1.1 offered
//! through ALPN ([RFC 7301](https://www.rfc-editor.org/rfc/rfc7301)), TLS 1.3 and 1.2 with
//! rustls's default suites, and the certificate reloaded on `SIGHUP` and whenever its files
//! change, without dropping a connection: each handshake takes the certificate current then
//! ([`Reloading`]), and connections made earlier keep theirs.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// The certificate and key files, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The PEM certificate chain: the server's certificate first, then its intermediates.
    pub cert: PathBuf,
    /// The PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// The TLS side of the listener: the acceptor, and the certificate it serves.
#[derive(Clone)]
pub struct Tls {
    /// Accepts TLS connections (rustls).
    pub acceptor: tokio_rustls::TlsAcceptor,
    /// The certificate served, reloadable.
    pub certificate: Arc<Reloading>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("files", &self.certificate.files)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Loads `files` and makes the acceptor: ALPN `h2` then `http/1.1`.
    ///
    /// # Errors
    /// When a file cannot be read, holds no certificate or no key, or the key does not match
    /// the certificate.
    pub fn new(files: TlsFiles) -> Result<Self, String> {
        let certificate = Arc::new(Reloading::new(files)?);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_cert_resolver(certificate.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            certificate,
        })
    }
}

/// The certificate every new handshake gets: replaced by [`Reloading::reload`], never while a
/// handshake reads it.
pub struct Reloading {
    files: TlsFiles,
    current: RwLock<Arc<CertifiedKey>>,
    /// The files' modification times when last loaded.
    stamps: Mutex<(Option<SystemTime>, Option<SystemTime>)>,
}

impl std::fmt::Debug for Reloading {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloading")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        )
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl Reloading {
    fn new(files: TlsFiles) -> Result<Self, String> {
        let stamps = (modified(&files.cert), modified(&files.key));
        let key = load(&files)?;
        Ok(Self {
            files,
            current: RwLock::new(Arc::new(key)),
            stamps: Mutex::new(stamps),
        })
    }

    /// Loads the files again; on success new handshakes get the new certificate. A pair that
    /// does not load (a half-written file, a key for another certificate) is refused and the
    /// current certificate kept.
    ///
    /// # Errors
    /// Why the files were refused.
    pub fn reload(&self) -> Result<(), String> {
        let stamps = (modified(&self.files.cert), modified(&self.files.key));
        let key = load(&self.files)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(key);
        *self.stamps.lock().unwrap_or_else(PoisonError::into_inner) = stamps;
        Ok(())
    }

    /// Whether either file's modification time differs from when it was last loaded.
    fn changed(&self) -> bool {
        let now = (modified(&self.files.cert), modified(&self.files.key));
        *self.stamps.lock().unwrap_or_else(PoisonError::into_inner) != now
    }

    /// The end-entity certificate served now (DER).
    pub fn current_certificate(&self) -> Option<CertificateDer<'static>> {
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        current.cert.first().cloned()
    }
}

/// The certificate chain and key of `files`, checked against each other.
fn load(files: &TlsFiles) -> Result<CertifiedKey, String> {
    let shown = |p: &Path| p.display().to_string();
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| format!("--tls-cert {}: {e}", shown(&files.cert)))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("--tls-cert {}: {e}", shown(&files.cert)))?;
    if chain.is_empty() {
        return Err(format!(
            "--tls-cert {}: no certificate in it",
            shown(&files.cert)
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| format!("--tls-key {}: {e}", shown(&files.key)))?;
    let provider = rustls::crypto::ring::default_provider();
    CertifiedKey::from_der(chain, key, &provider).map_err(|e| {
        format!(
            "--tls-cert {} with --tls-key {}: {e}",
            shown(&files.cert),
            shown(&files.key)
        )
    })
}

/// Reloads `certificate` on every `SIGHUP`, and when its files change (looked at every
/// `every`), until the process ends. Each outcome is logged and counted
/// (`mcp_authz_tls_reloads_total{outcome}`).
pub fn watch(certificate: Arc<Reloading>, every: Duration) {
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    tokio::spawn(async move {
        loop {
            #[cfg(unix)]
            let signalled = {
                let hup = async {
                    match hup.as_mut() {
                        Some(s) => s.recv().await.is_some(),
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    got = hup => got,
                    () = tokio::time::sleep(every) => false,
                }
            };
            #[cfg(not(unix))]
            let signalled = {
                tokio::time::sleep(every).await;
                false
            };
            if !signalled && !certificate.changed() {
                continue;
            }
            let outcome = match certificate.reload() {
                Ok(()) => {
                    tracing::info!(target: "mcp_authz", cert = %certificate.files.cert.display(), "TLS certificate reloaded: new connections get it");
                    "reloaded"
                }
                Err(e) => {
                    tracing::error!(target: "mcp_authz", error = %e, "TLS certificate reload refused: the current one is kept");
                    "refused"
                }
            };
            mcp_authz_driver::observe::tls_reload(outcome);
        }
    });
}
