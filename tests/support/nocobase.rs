//! A real NocoBase for integration tests, from `tests/nocobase/with-nocobase.sh` (which exports `NOCOBASE_DIR`,
//! `NOCOBASE_URL`, `NOCOBASE_API_KEY`, `NOCOBASE_SCRIPT`).
//!
//! - [`NocoBase::shared`]: the instance with-nocobase.sh started (tests must not stop it, and should use their own
//!   variable names / collections so they can run in parallel);
//! - [`NocoBase::start_private`]: an instance of the test's own, in a temp dir, for tests that stop and start
//!   NocoBase; stopped and removed on drop (`NOCOBASE_KEEP=1` keeps the directory).
//!
//! Raw reads ([`NocoBase::variable`], [`NocoBase::record`], ...) go straight to NocoBase's API with the root key,
//! independent of the operator's client, so assertions do not trust the code under test.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use entramail_operator::auth::SecretText;
use serde_json::{Map, Value, json};
use url::Url;

pub struct NocoBase {
    dir: PathBuf,
    script: PathBuf,
    /// Stopped and removed on drop.
    private: bool,
}

/// A variable as NocoBase stores it (`environmentVariables:get`): a secret's `value` is the ciphertext.
#[derive(Debug, Clone)]
pub struct RawVariable {
    pub type_: String,
    pub value: String,
}

fn env_path(name: &str) -> PathBuf {
    match std::env::var_os(name) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => panic!(
            "{name} is not set: run NocoBase tests through the NocoBase test bed, e.g. \
             `tests/nocobase/with-nocobase.sh cargo test --locked --test nocobase_delivery` (or `make test`)"
        ),
    }
}

fn read_trimmed(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .trim()
        .to_owned()
}

impl NocoBase {
    /// The instance started by with-nocobase.sh.
    pub fn shared() -> Self {
        let dir = env_path("NOCOBASE_DIR");
        let script = env_path("NOCOBASE_SCRIPT");
        Self {
            dir,
            script,
            private: false,
        }
    }

    /// A new instance of this test's own (its own SQLite data, port and keys). Takes ~10-15 s.
    pub fn start_private() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let script = env_path("NOCOBASE_SCRIPT");
        let dir = std::env::temp_dir().join(format!(
            "entramail-nocobase-private-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let nb = Self {
            dir,
            script,
            private: true,
        };
        nb.start();
        nb
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn url(&self) -> Url {
        Url::parse(&read_trimmed(&self.dir.join("url"))).expect("NocoBase url")
    }

    /// Root's API key.
    pub fn root_key(&self) -> SecretText {
        SecretText::new(read_trimmed(&self.dir.join("api-key")))
    }

    /// API key of a role with only the `pm.environment-variables` snippet.
    pub fn variables_key(&self) -> SecretText {
        SecretText::new(read_trimmed(&self.dir.join("api-key-variables")))
    }

    /// API key of a role with only view + update on `mailSettings` (fields clientId, clientSecret, tenantId).
    pub fn mailsettings_key(&self) -> SecretText {
        SecretText::new(read_trimmed(&self.dir.join("api-key-mailsettings")))
    }

    /// API key of a role without any permission.
    pub fn no_permission_key(&self) -> SecretText {
        SecretText::new(read_trimmed(&self.dir.join("api-key-none")))
    }

    /// Id of the provisioned record of collection `mailSettings`.
    pub fn record_id(&self) -> String {
        read_trimmed(&self.dir.join("record-id"))
    }

    fn script(&self, cmd: &str) {
        let out = Command::new(&self.script)
            .arg(cmd)
            .arg(&self.dir)
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", self.script.display()));
        assert!(
            out.status.success(),
            "nocobase.sh {cmd} {} failed: {}",
            self.dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stops NocoBase (data and port kept). Blocking.
    pub fn stop(&self) {
        self.script("stop");
    }

    /// Starts it (again): same data, same port. Blocking; returns once NocoBase is healthy.
    pub fn start(&self) {
        self.script("start");
    }

    fn api(&self, path: &str) -> Url {
        self.url().join(&format!("api/{path}")).expect("api url")
    }

    async fn call(
        &self,
        post: bool,
        path: &str,
        query: &[(&str, String)],
        body: Option<Value>,
    ) -> (u16, Value) {
        let http = reqwest::Client::new();
        let url = self.api(path);
        let req = if post { http.post(url) } else { http.get(url) };
        let mut req = req
            .query(query)
            .bearer_auth(self.root_key().expose())
            .timeout(std::time::Duration::from_secs(30));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("NocoBase {path}: {e}"));
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// The variable as stored (root key, `environmentVariables:get`), `None` if absent.
    pub async fn variable(&self, name: &str) -> Option<RawVariable> {
        let (status, body) = self
            .call(
                false,
                "environmentVariables:get",
                &[("filterByTk", name.to_owned())],
                None,
            )
            .await;
        assert_eq!(status, 200, "environmentVariables:get {name}");
        let data = body.get("data")?.as_object()?;
        Some(RawVariable {
            type_: data["type"].as_str().expect("type").to_owned(),
            value: data["value"].as_str().expect("value").to_owned(),
        })
    }

    /// NocoBase's "restart needed" flag (`meta.updated` of `environmentVariables:list`).
    pub async fn variables_restart_needed(&self) -> bool {
        let (status, body) = self
            .call(false, "environmentVariables:list", &[], None)
            .await;
        assert_eq!(status, 200, "environmentVariables:list");
        body.pointer("/meta/updated")
            .and_then(Value::as_bool)
            .expect("meta.updated")
    }

    /// The plaintext of a secret variable, decrypted from what NocoBase stores with the instance's AES key
    /// (storage/apps/main/aes_key.dat; NocoBase: AES-256-CBC, hex IV + hex ciphertext). The strongest read-back a
    /// test can do: NocoBase's API never returns a secret's value.
    pub async fn secret_plaintext(&self, name: &str) -> Option<String> {
        let raw = self.variable(name).await?;
        assert_eq!(raw.type_, "secret", "variable {name} is not a secret");
        let key =
            std::fs::read(self.dir.join("storage/apps/main/aes_key.dat")).expect("aes_key.dat");
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let (iv, ct) = raw.value.split_at(32);
        let ct: Vec<u8> = (0..ct.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&ct[i..i + 2], 16).expect("hex ciphertext"))
            .collect();
        let mut child = Command::new("openssl")
            .args(["enc", "-d", "-aes-256-cbc", "-K", &hex(&key), "-iv", iv])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("run openssl");
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), &ct).unwrap();
        drop(child.stdin.take());
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "openssl could not decrypt {name}");
        Some(String::from_utf8(out.stdout).expect("utf-8 plaintext"))
    }

    /// Deletes a variable (root key).
    pub async fn delete_variable(&self, name: &str) {
        let (status, _) = self
            .call(
                true,
                "environmentVariables:destroy",
                &[("filterByTk", name.to_owned())],
                Some(json!({})),
            )
            .await;
        assert_eq!(status, 200, "environmentVariables:destroy {name}");
    }

    /// The record `id` of `collection` (root key), `None` if absent.
    pub async fn record(&self, collection: &str, id: &str) -> Option<Map<String, Value>> {
        let (status, body) = self
            .call(
                false,
                &format!("{collection}:get"),
                &[("filterByTk", id.to_owned())],
                None,
            )
            .await;
        assert_eq!(status, 200, "{collection}:get {id}");
        body.get("data")?.as_object().cloned()
    }

    /// Creates a collection with the given string fields (plus NocoBase's `id` primary key).
    pub async fn create_collection(&self, name: &str, string_fields: &[&str]) {
        let fields: Vec<Value> = string_fields
            .iter()
            .map(|f| json!({"name": f, "type": "string", "interface": "input"}))
            .collect();
        let (status, _) = self
            .call(
                true,
                "collections:create",
                &[],
                Some(json!({"name": name, "fields": fields})),
            )
            .await;
        assert_eq!(status, 200, "collections:create {name}");
    }

    /// Creates a record; returns its id.
    pub async fn create_record(&self, collection: &str, values: Value) -> String {
        let (status, body) = self
            .call(true, &format!("{collection}:create"), &[], Some(values))
            .await;
        assert_eq!(status, 200, "{collection}:create");
        body.pointer("/data/id").expect("record id").to_string()
    }
}

impl Drop for NocoBase {
    fn drop(&mut self) {
        if !self.private {
            return;
        }
        let _ = Command::new(&self.script)
            .arg("stop")
            .arg(&self.dir)
            .status();
        if std::env::var("NOCOBASE_KEEP").as_deref() != Ok("1") {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
