//! The "Synchronize Products" web page through the real binary (issue 16): headless
//! Chromium driven over WebDriver (Debian's `chromium` and `chromium-driver`, through
//! fantoccini) on a private copy of the demo, and plain HTTP for what a browser hides
//! (headers, cookies, forged forms, a busy store).
//!
//! Screenshots of the main pages are written when `INVSYNC_SCREENSHOTS` names a folder:
//! `INVSYNC_SCREENSHOTS=docs/screenshots cargo test -p invsync --test e2e web::` (README, "Web page").

use crate::support::daemon::Daemon as Process;
use crate::support::demo::Demo;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `invsync daemon` on a config (the shared process helper), with the port of its page.
struct Daemon {
    process: Process,
    port: u16,
}

impl Daemon {
    fn start(config: &Path, env: &[(&str, &str)]) -> Daemon {
        let process = Process::start(config, env);
        let port = process.http_port();
        Daemon { process, port }
    }

    fn log(&self) -> String {
        self.process.log()
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// A private demo whose daemon listens on a free loopback port. Only the `market`
/// schedule is kept: a schedule that never ran runs at start, and the tests want the
/// shop out of sync.
fn demo(daemon: &str) -> Demo {
    let demo = Demo::new();
    let text = std::fs::read_to_string(demo.config()).expect("config");
    let shop_schedule = "[[schedules]]\nstore = \"shop\"\nevery = \"15m\"\nupdate = \"store\"\nfields = [\"price\", \"quantity\"]\n";
    assert!(text.contains(shop_schedule), "the demo's shop schedule");
    let text = format!(
        "[daemon]\nlisten = \"127.0.0.1:0\"\npoll = \"200ms\"\n{daemon}\n{}",
        text.replace(shop_schedule, "")
    );
    std::fs::write(demo.config(), text).expect("write config");
    demo
}

/// Chromium under chromedriver, with a fresh profile, until dropped.
struct Browser {
    client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start(width: u32, height: u32) -> Browser {
        assert!(
            Path::new("/usr/bin/chromedriver").exists(),
            "chromedriver is missing: apt-get install -y chromium chromium-driver (scripts/test.sh does)"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let profile = tempfile::tempdir().expect("profile dir");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage",
                    format!("--user-data-dir={}", profile.path().display()),
                    format!("--window-size={width},{height}"),
                ],
            }),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            let builder = ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await;
            match builder {
                Ok(client) => break client,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("cannot start a browser session: {e}"),
            }
        };
        Browser {
            client,
            driver,
            _profile: profile,
        }
    }

    async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }

    /// Writes a PNG of the window to `$INVSYNC_SCREENSHOTS/NAME.png`, if that is set.
    async fn shot(&self, name: &str) {
        let Ok(dir) = std::env::var("INVSYNC_SCREENSHOTS") else {
            return;
        };
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(Path::new(&dir).join(format!("{name}.png")), png).expect("write png");
    }

    async fn css(&self, selector: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Css(selector))
            .await
            .unwrap_or_else(|e| panic!("`{selector}`: {e}"))
    }

    /// Waits until the page's text contains `text`.
    async fn wait_text(&self, text: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let body = match self.client.find(Locator::Css("body")).await {
                Ok(body) => body.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if body.contains(text) {
                return body;
            }
            assert!(Instant::now() < deadline, "`{text}` never showed:\n{body}");
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("{script}: {e}"))
    }

    /// The SKUs of the product rows shown, and their statuses.
    async fn rows(&self) -> Vec<(String, String)> {
        let rows = self
            .js("return Array.from(document.querySelectorAll('table.products tbody tr[data-status]')).map(r => [r.querySelector('td.sku').innerText.split('\\n')[0], r.dataset.status]);")
            .await;
        serde_json::from_value(rows).expect("rows")
    }
}

fn csv_row(demo: &Demo, file: &str, sku: &str) -> String {
    demo.read(file)
        .lines()
        .find(|l| l.starts_with(&format!("{sku},")))
        .unwrap_or_else(|| panic!("{sku} in {file}"))
        .to_owned()
}

/// `sync_runs` as operators read it: the run's trigger and status.
async fn run_row(demo: &Demo, id: i64) -> (String, String, Option<String>) {
    let db = demo.dir.path().join("var/demo.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .expect("open the demo database");
    let row: (String, String, Option<String>) =
        sqlx::query_as("SELECT trigger, status, schedule FROM sync_runs WHERE id = ?")
            .bind(id)
            .fetch_one(&pool)
            .await
            .expect("the run's row");
    pool.close().await;
    row
}

/// The run a finished job's page links to: "Run N ended" in its text, or its
/// `/runs/N` link in its HTML.
fn run_id(page: &str) -> i64 {
    page.split("Run ")
        .chain(page.split("href=\"/runs/"))
        .skip(1)
        .filter_map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .next()
        .unwrap_or_else(|| panic!("a run id in:\n{page}"))
}

#[tokio::test]
async fn synchronize_products_in_a_browser() {
    let demo = demo("");
    let daemon = Daemon::start(&demo.config(), &[]);
    let browser = Browser::start(1280, 1000).await;
    let b = &browser;

    // `/` opens Synchronize Products of the first store (`market`); pick the shop.
    b.client.goto(&daemon.url("/")).await.expect("open /");
    b.wait_text("Synchronize Products", Duration::from_secs(30))
        .await;
    b.client
        .goto(&daemon.url("/products?store=shop"))
        .await
        .expect("open the shop");
    b.wait_text("products, read", Duration::from_secs(30)).await;
    b.shot("products").await;

    // The keyboard's first stop is "Skip to content".
    b.css("body")
        .await
        .send_keys("\u{E004}")
        .await
        .expect("Tab");
    let first = b.js("return document.activeElement.textContent;").await;
    assert_eq!(first, "Skip to content");

    // Every control has a name a screen reader says; numbers are right-aligned.
    let unnamed = b
        .js("return Array.from(document.querySelectorAll('input:not([type=hidden]), select, button')).filter(e => !e.hidden && !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim()).map(e => e.outerHTML);")
        .await;
    assert_eq!(unnamed, json!([]), "controls without a label");
    let align = b
        .js("return getComputedStyle(document.querySelector('td.num')).textAlign;")
        .await;
    assert_eq!(align, "right");

    // Filter Out of Sync.
    b.css("button[name=status][value=out-of-sync]")
        .await
        .click()
        .await
        .expect("filter");
    b.wait_text("matching", Duration::from_secs(10)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let rows = loop {
        let rows = b.rows().await;
        if !rows.is_empty() && rows.iter().all(|(_, s)| s == "out-of-sync") {
            break rows;
        }
        assert!(Instant::now() < deadline, "only out-of-sync rows: {rows:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let skus: Vec<&str> = rows.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(skus, ["MUG-2", "TEE-M"], "{rows:?}");

    // Two products, the Store side, Price + Quantity; Preview.
    for sku in ["MUG-2", "TEE-M"] {
        b.css(&format!("input[type=checkbox][aria-label='{sku}']"))
            .await
            .click()
            .await
            .expect("select");
    }
    b.shot("products-out-of-sync").await;
    let store_side = b.css("input[name=update][value=store]").await;
    assert!(store_side.is_selected().await.expect("selected"));
    for field in ["price", "quantity"] {
        let box_ = b.css(&format!("#field-{field}")).await;
        assert!(box_.is_selected().await.expect("checked"), "{field}");
    }
    b.css("button[name=action][value=preview]")
        .await
        .click()
        .await
        .expect("preview");
    let preview = b
        .wait_text("Changes that would be written", Duration::from_secs(60))
        .await;
    assert!(
        preview.contains("Preview: nothing was written"),
        "{preview}"
    );
    for expected in ["MUG-2", "TEE-M", "would be written"] {
        assert!(preview.contains(expected), "{expected} in {preview}");
    }
    assert!(
        csv_row(&demo, "shop.csv", "MUG-2").contains("13.00,2"),
        "a preview writes nothing"
    );
    b.shot("preview").await;

    // Synchronize: progress, then the changes, what was held back, the counts, the run.
    b.css("button[name=action][value=sync]")
        .await
        .click()
        .await
        .expect("synchronize");
    let result = b.wait_text(" ended ", Duration::from_secs(60)).await;
    assert!(result.contains("succeeded"), "{result}");
    assert!(result.contains("Updated"), "{result}");
    let id = run_id(&result);
    b.shot("synchronized").await;
    assert!(csv_row(&demo, "shop.csv", "MUG-2").starts_with("MUG-2,Stoneware mug,14.00,0,"));
    assert!(csv_row(&demo, "shop.csv", "TEE-M").starts_with("TEE-M,T-shirt (M),19.90,7,"));
    let (trigger, status, schedule) = run_row(&demo, id).await;
    assert_eq!((trigger.as_str(), status.as_str()), ("web", "succeeded"));
    assert_eq!(schedule, None);

    // The run's page lists its items.
    b.css(&format!("a[href='/runs/{id}']"))
        .await
        .click()
        .await
        .expect("open the run");
    let run = b.wait_text("Items", Duration::from_secs(10)).await;
    assert!(run.contains("MUG-2") && run.contains("updated"), "{run}");

    // In Orders: TEE-L's quantity is held by order #1042. Quantity alone cannot be
    // chosen for it, and synced with its price, its quantity is held back, not written.
    b.client
        .goto(&daemon.url("/products?store=shop&status=in-orders"))
        .await
        .expect("in orders");
    let page = b.wait_text("TEE-L", Duration::from_secs(10)).await;
    assert!(page.contains("#1042"), "{page}");
    assert!(page.contains("held back until"), "{page}");
    b.css("#field-price")
        .await
        .click()
        .await
        .expect("price off");
    let tee_l = b.css("input[type=checkbox][aria-label='TEE-L']").await;
    assert!(!tee_l.is_enabled().await.expect("enabled?"));
    let why = b.css("#field-why").await.text().await.expect("why");
    assert!(why.contains("In Orders"), "{why}");
    b.css("#field-price").await.click().await.expect("price on");
    tee_l.click().await.expect("select TEE-L");
    b.css("button[name=action][value=sync]")
        .await
        .click()
        .await
        .expect("synchronize");
    let held = b.wait_text(" ended ", Duration::from_secs(60)).await;
    assert!(held.contains("Held back"), "{held}");
    assert!(held.contains("in-orders"), "{held}");
    assert!(
        csv_row(&demo, "shop.csv", "TEE-L").contains(",19.90,5,"),
        "TEE-L's quantity is not written: {}",
        csv_row(&demo, "shop.csv", "TEE-L")
    );

    // A forged POST — this browser's session, no token or a wrong one — is refused.
    for token in ["", "&csrf=0000"] {
        let status = b
            .js(&format!("var x = new XMLHttpRequest(); x.open('POST', '/sync', false); x.setRequestHeader('Content-Type', 'application/x-www-form-urlencoded'); x.send('store=shop&update=store&field=price&field=quantity&sku=MUG-1&action=sync{token}'); return x.status;"))
            .await;
        assert_eq!(status, json!(403), "token `{token}`");
    }
    assert!(
        daemon.log().contains("web: a form was refused"),
        "{}",
        daemon.log()
    );
    assert!(csv_row(&demo, "shop.csv", "MUG-1").contains(",12.50,44,"));

    // Runs, Schedules (Run now), Mappings.
    b.client
        .goto(&daemon.url("/runs?store=shop"))
        .await
        .expect("runs");
    let runs = b.wait_text("invsync runs", Duration::from_secs(10)).await;
    assert!(runs.contains("web"), "{runs}");
    b.shot("runs").await;

    b.client
        .goto(&daemon.url("/schedules"))
        .await
        .expect("schedules");
    b.wait_text("market-store", Duration::from_secs(10)).await;
    b.shot("schedules").await;
    b.css("button[aria-label='Run market-store now']")
        .await
        .click()
        .await
        .expect("run now");
    let ran = b.wait_text(" ended ", Duration::from_secs(60)).await;
    let ran_id = run_id(&ran);
    let (trigger, _, schedule) = run_row(&demo, ran_id).await;
    assert_eq!(trigger, "web");
    assert_eq!(schedule.as_deref(), Some("market-store"));

    b.client
        .goto(&daemon.url("/mappings?store=shop"))
        .await
        .expect("mappings");
    b.css("#store-sku")
        .await
        .send_keys("POSTER-1")
        .await
        .expect("type");
    b.css("#accounting-sku")
        .await
        .send_keys("POSTER-A")
        .await
        .expect("type");
    b.css("form.add button[type=submit]")
        .await
        .click()
        .await
        .expect("add");
    b.wait_text("now maps to accounting SKU", Duration::from_secs(10))
        .await;
    b.shot("mappings").await;
    b.client
        .goto(&daemon.url("/products?store=shop&q=poster"))
        .await
        .expect("search");
    let matched = b
        .wait_text("matched by manual mapping", Duration::from_secs(30))
        .await;
    assert!(matched.contains("POSTER-A"), "{matched}");
    b.client
        .goto(&daemon.url("/mappings?store=shop"))
        .await
        .expect("mappings");
    b.css("button[aria-label='Remove the mapping of POSTER-1 in shop']")
        .await
        .click()
        .await
        .expect("remove");
    b.wait_text("matches by SKU again", Duration::from_secs(10))
        .await;

    // A phone-width screen: nothing but the tables scrolls sideways.
    browser
        .client
        .set_window_size(390, 844)
        .await
        .expect("resize");
    b.client
        .goto(&daemon.url("/products?store=shop"))
        .await
        .expect("products");
    b.wait_text("products, read", Duration::from_secs(10)).await;
    let overflow = b
        .js("return document.documentElement.scrollWidth - document.documentElement.clientWidth;")
        .await;
    assert!(
        overflow.as_i64().is_some_and(|o| o <= 0),
        "page overflows by {overflow}"
    );
    b.shot("products-phone").await;

    browser.close().await;
}

/// GET with reqwest, no redirects followed.
fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// The `name=value` of a `Set-Cookie` named `name`, and the whole header.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<(String, String)> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| (v.split(';').next().unwrap_or("").to_owned(), v.to_owned()))
}

/// Follows a started sync (`303` to its page) until its page says `text`; the page.
async fn follow_job(
    client: &reqwest::Client,
    daemon: &Daemon,
    started: reqwest::Response,
    session: &str,
    text: &str,
) -> String {
    assert_eq!(started.status(), 303);
    let job = started.headers()["location"]
        .to_str()
        .expect("job")
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let html = client
            .get(daemon.url(&job))
            .header("cookie", session)
            .send()
            .await
            .expect("GET")
            .text()
            .await
            .expect("body");
        if html.contains(text) {
            return html;
        }
        assert!(Instant::now() < deadline, "`{text}` never showed: {html}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The CSRF token of the first form on a page.
fn csrf_of(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a csrf field")
        .to_owned()
}

#[tokio::test]
async fn with_a_password_the_page_logs_in_with_a_strict_session_and_refuses_forged_forms() {
    let demo = demo("password = { env = \"WEB_PASSWORD\" }");
    let daemon = Daemon::start(&demo.config(), &[("WEB_PASSWORD", "s3cret pass")]);
    let client = http();

    // A browser without the password is sent to the login page; a scraper gets 401.
    let page = client
        .get(daemon.url("/runs"))
        .header("accept", "text/html")
        .send()
        .await
        .expect("GET");
    assert_eq!(page.status(), 303);
    assert_eq!(page.headers()["location"], "/login?next=%2Fruns");
    let metrics = client
        .get(daemon.url("/metrics"))
        .send()
        .await
        .expect("GET");
    assert_eq!(metrics.status(), 401);

    let login = client.get(daemon.url("/login")).send().await.expect("GET");
    assert_eq!(login.status(), 200);
    let csp = login.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_owned();
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "{csp}");
    }
    let (login_cookie, header) = set_cookie(&login, "invsync_login").expect("login cookie");
    assert!(header.contains("HttpOnly") && header.contains("SameSite=Strict"));
    let html = login.text().await.expect("body");
    let token = csrf_of(&html);

    // A wrong password, then the right one.
    let wrong = client
        .post(daemon.url("/login"))
        .header("cookie", &login_cookie)
        .form(&[
            ("csrf", token.as_str()),
            ("password", "guess"),
            ("next", "/runs"),
        ])
        .send()
        .await
        .expect("POST");
    assert_eq!(wrong.status(), 401);
    let (login_cookie, _) = set_cookie(&wrong, "invsync_login").expect("a new login cookie");
    let token = csrf_of(&wrong.text().await.expect("body"));
    let no_token = client
        .post(daemon.url("/login"))
        .header("cookie", &login_cookie)
        .form(&[("password", "s3cret pass")])
        .send()
        .await
        .expect("POST");
    assert_eq!(no_token.status(), 403, "a login form without its token");
    let ok = client
        .post(daemon.url("/login"))
        .header("cookie", &login_cookie)
        .form(&[
            ("csrf", token.as_str()),
            ("password", "s3cret pass"),
            ("next", "/runs"),
        ])
        .send()
        .await
        .expect("POST");
    assert_eq!(ok.status(), 303);
    assert_eq!(ok.headers()["location"], "/runs");
    let (session, header) = set_cookie(&ok, "invsync_session").expect("session cookie");
    assert!(
        header.contains("HttpOnly")
            && header.contains("SameSite=Strict")
            && header.contains("Path=/"),
        "{header}"
    );

    // The session opens the page and /metrics; the password is never rendered.
    let page = client
        .get(daemon.url("/products?store=shop"))
        .header("cookie", &session)
        .send()
        .await
        .expect("GET");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("body");
    assert!(html.contains("Synchronize Products"));
    assert!(!html.contains("s3cret"), "the password is never rendered");
    let metrics = client
        .get(daemon.url("/metrics"))
        .header("cookie", &session)
        .send()
        .await
        .expect("GET");
    assert_eq!(metrics.status(), 200);
    let token = csrf_of(&html);

    // Forged forms: no token, a wrong token, another site's Origin.
    let sync = [
        ("store", "shop"),
        ("update", "store"),
        ("field", "price"),
        ("sku", "MUG-2"),
        ("action", "sync"),
    ];
    for (extra, origin) in [
        (None, None),
        (Some("f".repeat(64)), None),
        (Some(token.clone()), Some("https://evil.example")),
    ] {
        let mut form: Vec<(&str, String)> =
            sync.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        if let Some(t) = &extra {
            form.push(("csrf", t.clone()));
        }
        let mut request = client
            .post(daemon.url("/sync"))
            .header("cookie", &session)
            .form(&form);
        if let Some(o) = origin {
            request = request.header("origin", o);
        }
        let refused = request.send().await.expect("POST");
        assert_eq!(refused.status(), 403, "token {extra:?}, origin {origin:?}");
    }
    assert!(csv_row(&demo, "shop.csv", "MUG-2").contains(",13.00,2,"));

    // The real form works, and is a web run.
    let mut form: Vec<(&str, String)> = sync.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
    form.push(("csrf", token.clone()));
    let started = client
        .post(daemon.url("/sync"))
        .header("cookie", &session)
        .header("origin", daemon.url(""))
        .form(&form)
        .send()
        .await
        .expect("POST");
    let done = follow_job(&client, &daemon, started, &session, " ended ").await;
    let (trigger, status, _) = run_row(&demo, run_id(&done)).await;
    assert_eq!((trigger.as_str(), status.as_str()), ("web", "succeeded"));
    assert!(csv_row(&demo, "shop.csv", "MUG-2").contains(",14.00,2,"));

    // Logging out ends the session.
    let out = client
        .post(daemon.url("/logout"))
        .header("cookie", &session)
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .expect("POST");
    assert_eq!(out.status(), 303);
    let after = client
        .get(daemon.url("/runs"))
        .header("cookie", &session)
        .header("accept", "text/html")
        .send()
        .await
        .expect("GET");
    assert_eq!(after.status(), 303, "the session is over");

    let log = daemon.log();
    assert!(!log.contains("s3cret"), "the password is never logged");
    for line in [
        "web: logged in",
        "web: a login with a wrong password",
        "trigger=\"web\"",
    ] {
        assert!(log.contains(line), "`{line}` in the log:\n{log}");
    }
}

#[tokio::test]
async fn a_store_that_is_running_is_refused_and_other_hosts_are_not_served() {
    let demo = demo("");
    let daemon = Daemon::start(&demo.config(), &[]);
    let client = http();

    // Without a password, a name other than localhost is a rebinding attempt.
    let rebound = client
        .get(daemon.url("/"))
        .header("host", format!("evil.example:{}", daemon.port))
        .send()
        .await
        .expect("GET");
    assert_eq!(rebound.status(), 421);

    let page = client
        .get(daemon.url("/products?store=shop"))
        .send()
        .await
        .expect("GET");
    assert_eq!(page.status(), 200);
    let (session, header) = set_cookie(&page, "invsync_session").expect("a session");
    assert!(header.contains("SameSite=Strict") && !header.contains("Secure"));
    let token = csrf_of(&page.text().await.expect("body"));

    // The shop is running (as if a CLI run held it): the page refuses, names the run,
    // and queues nothing.
    let db_url = format!("sqlite://{}", demo.dir.path().join("var/demo.db").display());
    let db = invsync_store::Db::connect(&db_url, &invsync_store::PoolOptions::default())
        .await
        .expect("db");
    let busy = db
        .start_run(&invsync_store::NewRun {
            schedule: None,
            store: "shop".to_owned(),
            trigger: invsync_core::Trigger::Manual,
            update_side: invsync_core::Side::Store,
            fields: invsync_core::FieldSet::BOTH,
            owner: invsync_store::ProcessIdentity::current(),
            scheduled_for: None,
        })
        .await
        .expect("a running run");
    let started = client
        .post(daemon.url("/sync"))
        .header("cookie", &session)
        .form(&[
            ("csrf", token.as_str()),
            ("store", "shop"),
            ("update", "store"),
            ("field", "price"),
            ("all_matching", "1"),
            ("status", "out-of-sync"),
            ("action", "sync"),
        ])
        .send()
        .await
        .expect("POST");
    let refused = follow_job(&client, &daemon, started, &session, "Refused").await;
    assert!(
        refused.contains(&format!("is already running (run {busy}")),
        "{refused}"
    );
    assert!(refused.contains("nothing is queued"), "{refused}");
    assert!(csv_row(&demo, "shop.csv", "MUG-2").contains(",13.00,2,"));
    db.finish_run(
        busy,
        invsync_core::RunStatus::Succeeded,
        &invsync_core::RunCounts::default(),
        None,
    )
    .await
    .expect("finish");
    db.close().await;
}
