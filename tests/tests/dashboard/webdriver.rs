//! Just enough W3C WebDriver to drive headless Chromium through Debian's
//! `chromedriver`: a session, navigation, typing, clicks, a script's value
//! and a screenshot. A plain HTTP/1.1 client over TCP: the harness needs
//! nothing more, and no crate for it builds offline.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use base64::Engine as _;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use xregion_tests::net::free_port;
use xregion_tests::{wait_until, WAIT};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Where Debian puts them; `CHROMIUM` / `CHROMEDRIVER` override.
fn tool(env: &str, default: &str) -> anyhow::Result<String> {
    let path = std::env::var(env).unwrap_or_else(|_| default.to_string());
    anyhow::ensure!(
        Path::new(&path).is_file(),
        "{path} not found: the dashboard test needs Debian's chromium and chromium-driver \
         (`apt-get install -y --no-install-recommends chromium chromium-driver`; .ci/run \
         installs them), or set {env}"
    );
    Ok(path)
}

pub struct Browser {
    driver: tokio::process::Child,
    port: u16,
    session: String,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session whose profile
    /// lives in `dir`.
    pub async fn start(dir: &Path) -> anyhow::Result<Self> {
        let chromium = tool("CHROMIUM", "/usr/bin/chromium")?;
        let chromedriver = tool("CHROMEDRIVER", "/usr/bin/chromedriver")?;
        let port = free_port()?;
        let log = std::fs::File::create(dir.join("chromedriver.log"))?;
        let driver = tokio::process::Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()?;
        let mut browser = Self {
            driver,
            port,
            session: String::new(),
        };
        wait_until("chromedriver to answer", WAIT, || async {
            let status = browser.call("GET", "/status", None).await;
            Ok(status.ok().filter(|v| v["ready"] == true).map(|_| ()))
        })
        .await?;
        let profile = dir.join("chromium-profile");
        let created = browser
            .call(
                "POST",
                "/session",
                Some(json!({"capabilities": {"alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": chromium,
                        "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                                 "--disable-dev-shm-usage", "--window-size=1440,1100",
                                 "--hide-scrollbars",
                                 format!("--user-data-dir={}", profile.display())],
                    }
                }}})),
            )
            .await
            .context("new session")?;
        browser.session = created["sessionId"]
            .as_str()
            .context("no sessionId")?
            .to_string();
        Ok(browser)
    }

    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.session_call("POST", "/url", json!({ "url": url }))
            .await
            .map(drop)
    }

    async fn element(&self, css: &str) -> anyhow::Result<String> {
        let found = self
            .session_call(
                "POST",
                "/element",
                json!({"using": "css selector", "value": css}),
            )
            .await
            .with_context(|| format!("element {css}"))?;
        Ok(found[ELEMENT]
            .as_str()
            .with_context(|| format!("no element id for {css}: {found}"))?
            .to_string())
    }

    pub async fn type_into(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let id = self.element(css).await?;
        let path = format!("/element/{id}/value");
        self.session_call("POST", &path, json!({ "text": text }))
            .await
            .map(drop)
    }

    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        let id = self.element(css).await?;
        let path = format!("/element/{id}/click");
        self.session_call("POST", &path, json!({})).await.map(drop)
    }

    /// The value of `script` (a function body) run in the page.
    pub async fn eval(&self, script: &str) -> anyhow::Result<Value> {
        self.session_call(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
        .await
    }

    pub async fn screenshot_png(&self) -> anyhow::Result<Vec<u8>> {
        let b64 = self.session_call("GET", "/screenshot", Value::Null).await?;
        let b64 = b64.as_str().context("screenshot is not a string")?;
        Ok(base64::engine::general_purpose::STANDARD.decode(b64)?)
    }

    pub async fn quit(mut self) -> anyhow::Result<()> {
        let path = format!("/session/{}", self.session);
        self.call("DELETE", &path, None).await?;
        self.driver.kill().await?;
        Ok(())
    }

    async fn session_call(&self, method: &str, path: &str, body: Value) -> anyhow::Result<Value> {
        let path = format!("/session/{}{path}", self.session);
        let body = (!body.is_null()).then_some(body);
        self.call(method, &path, body).await
    }

    /// One WebDriver command; its `value`, or its error as an error.
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await?;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.port,
            body.len()
        );
        s.write_all(head.as_bytes()).await?;
        s.write_all(body.as_bytes()).await?;
        // chromedriver keeps the connection open whatever we ask: read the
        // header, then exactly the body it announces.
        let (head, mut body) =
            tokio::time::timeout(Duration::from_secs(60), read_reply(&mut s)).await??;
        if head.contains("transfer-encoding: chunked") {
            body = dechunk(&body)?;
        }
        let payload = body;
        let reply: Value = serde_json::from_str(&payload)
            .with_context(|| format!("{method} {path}: not JSON: {payload}"))?;
        let value = reply["value"].clone();
        anyhow::ensure!(value.get("error").is_none(), "{method} {path}: {}", value);
        Ok(value)
    }
}

/// The lower-cased header and the body of one HTTP reply.
async fn read_reply(s: &mut tokio::net::TcpStream) -> anyhow::Result<(String, String)> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = s.read(&mut buf).await?;
        anyhow::ensure!(
            n > 0 || !raw.is_empty(),
            "connection closed without a reply"
        );
        raw.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&raw).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let head = head.to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            let complete = match length {
                Some(len) => body.len() >= len,
                None => n == 0 || body.ends_with("0\r\n\r\n"),
            };
            if complete {
                return Ok((head, body.to_string()));
            }
        }
        if n == 0 {
            anyhow::bail!("connection closed mid-reply");
        }
    }
}

fn dechunk(mut rest: &str) -> anyhow::Result<String> {
    let mut out = String::new();
    loop {
        let (size, tail) = rest.split_once("\r\n").context("bad chunk")?;
        let size = usize::from_str_radix(size.trim(), 16)?;
        if size == 0 {
            return Ok(out);
        }
        out.push_str(tail.get(..size).context("short chunk")?);
        rest = tail.get(size + 2..).context("short chunk")?;
    }
}
