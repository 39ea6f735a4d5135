//! A connection to Redis made on first use, or the application's own (feature `redis`): what
//! `RedisCheck` and the fleet's Redis store share.

use std::sync::Arc;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

use crate::error::{ConfigError, causes};

/// A `ConnectionManager` made from a URL on first use, or given. Cheap to clone: clones share
/// the connection.
#[derive(Clone)]
pub(crate) struct Link {
    client: Option<redis::Client>,
    manager: Arc<OnceCell<ConnectionManager>>,
}

impl Link {
    /// The Redis at `url`; nothing connects until the first [`manager`](Self::manager). The
    /// URL (it may hold a password) is shown redacted in the error.
    pub(crate) fn open(url: &str) -> Result<Self, ConfigError> {
        let client = redis::Client::open(url).map_err(|_| ConfigError::InvalidPath {
            path: crate::redact::redact(url),
            reason: "not a Redis URL",
        })?;
        Ok(Self {
            client: Some(client),
            manager: Arc::default(),
        })
    }

    /// The application's own manager.
    pub(crate) fn with_manager(manager: ConnectionManager) -> Self {
        Self {
            client: None,
            manager: Arc::new(OnceCell::new_with(Some(manager))),
        }
    }

    /// Keeps `client` (the one the application's manager was made from) to diagnose with.
    pub(crate) fn set_client(&mut self, client: redis::Client) {
        self.client = Some(client);
    }

    /// Trusts `pem` (a CA in PEM) for `rediss://` instead of the system's roots.
    #[cfg(feature = "tls")]
    pub(crate) fn trust(&mut self, pem: &[u8]) -> Result<(), ConfigError> {
        let info = self
            .client
            .as_ref()
            .map(|c| c.get_connection_info().clone());
        let certificates = redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(pem.to_vec()),
        };
        let client = info
            .map(|info| redis::Client::build_with_tls(info, certificates))
            .transpose()
            .map_err(|_| ConfigError::InvalidPath {
                path: "the Redis root certificate".to_owned(),
                reason: "not a PEM certificate Redis' TLS can use",
            })?;
        if client.is_some() {
            self.client = client;
        }
        Ok(())
    }

    pub(crate) fn client(&self) -> Option<&redis::Client> {
        self.client.as_ref()
    }

    /// Whether a manager is made (or was given).
    pub(crate) fn connected(&self) -> bool {
        self.manager.initialized()
    }

    /// The manager, made on first use with one attempt per reconnection: while Redis is down a
    /// command fails at once with the connection's error instead of waiting out a back-off.
    pub(crate) async fn manager(&self) -> Result<ConnectionManager, String> {
        let manager = self
            .manager
            .get_or_try_init(|| async {
                let client = self.client.clone().expect("a client or a manager");
                let config = ConnectionManagerConfig::new().set_number_of_retries(0);
                ConnectionManager::new_lazy_with_config(client, config)
            })
            .await
            .map_err(|e| format!("connect: {}", causes(&e)))?;
        Ok(manager.clone())
    }
}
