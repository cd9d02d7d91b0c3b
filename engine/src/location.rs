//! Where the Parquet files and the catalog live: an `object_store` plus a prefix inside it.
//!
//! A local directory is served by `LocalFileSystem` rooted at `/` with the directory's absolute
//! path as prefix, so DataFusion reads it through its default `file://` store; an `s3://bucket/
//! prefix` URL is served by `AmazonS3` configured from the `AWS_*` environment variables
//! (`AWS_ENDPOINT` and `AWS_ALLOW_HTTP` for S3-compatible servers). Everything above this module
//! works on object paths relative to the prefix and never lists the store on the query path.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use bytes::Bytes;
use datafusion::execution::object_store::ObjectStoreUrl;
use futures::TryStreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload};
use url::Url;

use crate::EngineError;

/// An object store and the prefix under which faultline keeps its tables.
#[derive(Debug, Clone)]
pub struct DataLocation {
    store: Arc<dyn ObjectStore>,
    url: ObjectStoreUrl,
    prefix: ObjectPath,
    local_root: Option<PathBuf>,
    display: String,
}

impl DataLocation {
    /// Opens `data`: a local directory (created if missing) or an `s3://bucket/prefix` URL.
    pub fn open(data: &str) -> Result<Self, EngineError> {
        Self::open_with(data, &[])
    }

    /// Like [`DataLocation::open`], with object-store options (`aws_endpoint`,
    /// `aws_access_key_id`, `aws_allow_http`, … as `object_store` names them) that override the
    /// environment.
    pub fn open_with(data: &str, options: &[(String, String)]) -> Result<Self, EngineError> {
        match Url::parse(data) {
            Ok(url) if url.scheme() == "s3" => Self::s3(&url, options),
            Ok(url) if url.scheme() == "file" => {
                let path = url
                    .to_file_path()
                    .map_err(|()| EngineError::Location(format!("not a file path: {data}")))?;
                Self::local(path)
            }
            Ok(url) if url.scheme().len() > 1 => Err(EngineError::Location(format!(
                "unsupported storage URL scheme `{}` in {data} (use a directory or s3://)",
                url.scheme()
            ))),
            _ => Self::local(PathBuf::from(data)),
        }
    }

    fn local(dir: PathBuf) -> Result<Self, EngineError> {
        std::fs::create_dir_all(&dir).map_err(EngineError::io("creating", &dir))?;
        let root = std::fs::canonicalize(&dir).map_err(EngineError::io("resolving", &dir))?;
        let prefix = ObjectPath::from_absolute_path(&root)
            .map_err(|e| EngineError::Location(format!("{}: {e}", root.display())))?;
        Ok(Self {
            store: Arc::new(LocalFileSystem::new()),
            url: ObjectStoreUrl::local_filesystem(),
            prefix,
            display: root.display().to_string(),
            local_root: Some(root),
        })
    }

    fn s3(url: &Url, options: &[(String, String)]) -> Result<Self, EngineError> {
        let bucket = url.host_str().unwrap_or_default();
        if bucket.is_empty() {
            return Err(EngineError::Location(format!("no bucket in {url}")));
        }
        let mut builder = AmazonS3Builder::from_env().with_url(url.as_str());
        for (key, value) in options {
            let key = AmazonS3ConfigKey::from_str(key)
                .map_err(|e| EngineError::Location(format!("storage option `{key}`: {e}")))?;
            builder = builder.with_config(key, value);
        }
        let store = builder
            .build()
            .map_err(|e| EngineError::Location(format!("{url}: {e}")))?;
        let store_url = ObjectStoreUrl::parse(format!("s3://{bucket}"))?;
        Ok(Self {
            store: Arc::new(store),
            url: store_url,
            prefix: ObjectPath::from(url.path().trim_matches('/')),
            local_root: None,
            display: url.to_string(),
        })
    }

    /// The store, for registering with DataFusion.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The URL DataFusion knows the store by (`file://` or `s3://bucket`).
    pub fn url(&self) -> &ObjectStoreUrl {
        &self.url
    }

    /// The local directory, when the store is local.
    pub fn local_root(&self) -> Option<&std::path::Path> {
        self.local_root.as_deref()
    }

    /// The full object path of `relative` (a path under the prefix, `/`-separated).
    pub fn object(&self, relative: &str) -> ObjectPath {
        relative
            .split('/')
            .filter(|p| !p.is_empty())
            .fold(self.prefix.clone(), |path, part| path.clone().join(part))
    }

    /// `relative` with the store prefix stripped from a full object path, if it is under it.
    pub fn relative(&self, full: &ObjectPath) -> Option<String> {
        let parts: Vec<_> = full.prefix_match(&self.prefix)?.collect();
        Some(
            parts
                .iter()
                .map(|p| p.as_ref())
                .collect::<Vec<_>>()
                .join("/"),
        )
    }

    /// Writes `bytes` to `relative` atomically (a reader sees all of it or nothing) and, on a
    /// local disk, durably (fsync) before returning.
    pub async fn put(&self, relative: &str, bytes: Bytes) -> Result<(), EngineError> {
        let path = self.object(relative);
        self.store
            .put(&path, PutPayload::from(bytes))
            .await
            .map_err(|e| self.store_error("write", relative, e))?;
        if let Some(root) = &self.local_root {
            sync_local(root, relative)?;
        }
        Ok(())
    }

    /// Reads all of `relative`; `Ok(None)` when it does not exist.
    pub async fn get(&self, relative: &str) -> Result<Option<Bytes>, EngineError> {
        let path = self.object(relative);
        match self.store.get(&path).await {
            Ok(got) => Ok(Some(
                got.bytes()
                    .await
                    .map_err(|e| self.store_error("read", relative, e))?,
            )),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.store_error("read", relative, e)),
        }
    }

    /// Reads bytes `range` of `relative`.
    pub async fn get_range(
        &self,
        relative: &str,
        range: std::ops::Range<u64>,
    ) -> Result<Bytes, EngineError> {
        self.store
            .get_range(&self.object(relative), range)
            .await
            .map_err(|e| self.store_error("read", relative, e))
    }

    /// Deletes `relative`; a missing object is not an error.
    pub async fn delete(&self, relative: &str) -> Result<(), EngineError> {
        match self.store.delete(&self.object(relative)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.store_error("delete", relative, e)),
        }
    }

    /// Every object under `relative` (used only when the catalog is rebuilt, never per query).
    pub async fn list(&self, relative: &str) -> Result<Vec<ObjectMeta>, EngineError> {
        let path = self.object(relative);
        self.store
            .list(Some(&path))
            .try_collect()
            .await
            .map_err(|e| self.store_error("list", relative, e))
    }

    fn store_error(&self, op: &str, relative: &str, e: object_store::Error) -> EngineError {
        EngineError::Location(format!("{op} {}/{relative}: {e}", self.display))
    }
}

impl std::fmt::Display for DataLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display)
    }
}

/// Flushes a file just written by the local store, and its directory, to disk.
fn sync_local(root: &std::path::Path, relative: &str) -> Result<(), EngineError> {
    let path = root.join(relative);
    std::fs::File::open(&path)
        .and_then(|f| f.sync_all())
        .map_err(EngineError::io("syncing", &path))?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(EngineError::io("syncing", dir))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let loc = DataLocation::open(dir.path().to_str().unwrap()).unwrap();
        assert!(loc.get("a/b.txt").await.unwrap().is_none());
        loc.put("a/b.txt", Bytes::from_static(b"hello"))
            .await
            .unwrap();
        assert_eq!(
            loc.get("a/b.txt").await.unwrap().unwrap(),
            Bytes::from_static(b"hello")
        );
        assert!(dir.path().join("a/b.txt").exists());
        let listed = loc.list("a").await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(loc.relative(&listed[0].location).unwrap(), "a/b.txt");
        loc.delete("a/b.txt").await.unwrap();
        loc.delete("a/b.txt").await.unwrap();
        assert!(loc.get("a/b.txt").await.unwrap().is_none());
    }

    #[test]
    fn unknown_scheme_is_refused() {
        let err = DataLocation::open("gopher://x/y").unwrap_err();
        assert!(err.to_string().contains("gopher"), "{err}");
    }

    #[test]
    fn s3_url_needs_a_bucket() {
        assert!(DataLocation::open("s3:///prefix").is_err());
    }
}
