//! The console as a browser without script sees it: forms posted, cookies
//! kept, pages read as HTML.

use crate::system::System;

/// A member of staff's browser session with the console.
pub struct Browser {
    base: String,
    client: reqwest::Client,
    cookies: Vec<String>,
}

/// A page: its HTTP status, where it redirected to, its HTML.
#[derive(Debug)]
pub struct Page {
    /// The HTTP status.
    pub status: u16,
    /// The `Location` of a redirect.
    pub location: Option<String>,
    /// The HTML.
    pub html: String,
    /// Its Content-Security-Policy header.
    pub csp: String,
    /// Its `Set-Cookie` headers, whole (with their attributes).
    pub set_cookies: Vec<String>,
}

impl Page {
    /// The value of the first hidden `csrf` field.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let at = self.html.find(marker).map(|i| i + marker.len()).expect("a form with a csrf token");
        self.html[at..].split('"').next().unwrap_or_default().to_string()
    }

    /// The first `/referrals/<id>` link.
    pub fn referral_link(&self) -> Option<String> {
        let at = self.html.find("href=\"/referrals/")? + "href=\"".len();
        self.html[at..].split('"').next().map(str::to_string)
    }
}

impl Browser {
    /// A fresh browser pointed at the system's console.
    pub fn new(system: &System) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client =
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("an HTTP client");
        Self { base: format!("http://{}", system.addr("console")), client, cookies: Vec::new() }
    }

    fn keep_cookies(&mut self, response: &reqwest::Response) {
        for set in response.headers().get_all(reqwest::header::SET_COOKIE) {
            let pair = set.to_str().unwrap_or_default().split(';').next().unwrap_or_default().to_string();
            let name = pair.split('=').next().unwrap_or_default().to_string();
            self.cookies.retain(|c| !c.starts_with(&format!("{name}=")));
            if !pair.ends_with('=') {
                self.cookies.push(pair);
            }
        }
    }

    async fn page(&mut self, response: reqwest::Response) -> Page {
        self.keep_cookies(&response);
        let status = response.status().as_u16();
        let header = |name: &str| response.headers().get(name).and_then(|l| l.to_str().ok()).map(str::to_string);
        let (location, csp) = (header("location"), header("content-security-policy").unwrap_or_default());
        let set_cookies = response
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap_or_default().to_string())
            .collect();
        Page { status, location, csp, set_cookies, html: response.text().await.unwrap_or_default() }
    }

    /// GETs `path`.
    pub async fn get(&mut self, path: &str) -> Page {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookies.join("; "))
            .send()
            .await
            .expect("the console answers");
        self.page(response).await
    }

    /// GETs where a redirect points: a path, or an absolute URL on the console.
    pub async fn follow(&mut self, location: &str) -> Page {
        let path = location.strip_prefix(&self.base).unwrap_or(location).to_string();
        self.get(&path).await
    }

    /// POSTs a form to `path`.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
        self.post_raw(path, "application/x-www-form-urlencoded", body.into_bytes()).await
    }

    /// POSTs a multipart form to `path`: text `fields`, and `files` as (field, file name, media type, bytes).
    pub async fn post_multipart(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        files: &[(&str, &str, &str, &[u8])],
    ) -> Page {
        let boundary = format!("fq{}", uuid::Uuid::new_v4().simple());
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").bytes(),
            );
        }
        for (name, file, media, bytes) in files {
            body.extend(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\nContent-Type: {media}\r\n\r\n"
                )
                .bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend(b"\r\n");
        }
        body.extend(format!("--{boundary}--\r\n").bytes());
        self.post_raw(path, &format!("multipart/form-data; boundary={boundary}"), body).await
    }

    /// POSTs `body` as `content_type` to `path`.
    pub async fn post_raw(&mut self, path: &str, content_type: &str, body: Vec<u8>) -> Page {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookies.join("; "))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("the console answers");
        self.page(response).await
    }

    /// Signs in; the answer to the form.
    pub async fn sign_in(&mut self, username: &str, password: &str) -> Page {
        self.post("/login", &[("username", username), ("password", password)]).await
    }
}

/// Creates a console account with `fengqiao accounts add`; its password.
pub fn add_account(system: &System, username: &str, role: &str, org: &str) -> String {
    let out = system.cli(&["accounts", "add", username, "--role", role, "--org", org]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("a password").trim().to_string()
}

/// Waits until the signed-in member of staff's inbox page lists `case_no`; the page.
pub async fn inbox_listing(browser: &mut Browser, case_no: &str) -> Page {
    for _ in 0..100 {
        let page = browser.get("/inbox").await;
        assert_eq!(page.status, 200, "{}", page.html);
        if page.html.contains(case_no) {
            return page;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("{case_no} never reached the organisation's inbox");
}

/// The password of a standalone demo account.
pub fn demo_password(system: &System, username: &str) -> String {
    let listed = std::fs::read_to_string(system.dir().join("fengqiao-data/console-accounts.txt")).unwrap();
    let line = listed.lines().find(|l| l.starts_with(&format!("{username} "))).expect("a demo account");
    line.split_whitespace().nth(1).unwrap().to_string()
}

/// The text of the element with `id` (its first line of content).
pub fn text_of(html: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\">");
    let at = html.find(&marker).map(|i| i + marker.len()).unwrap_or_else(|| panic!("no #{id} in {html}"));
    html[at..].split('<').next().unwrap_or_default().trim().to_string()
}

/// A browser signed in as `username` (the sign-in asserted to succeed).
pub async fn signed_in(system: &System, username: &str, password: &str) -> Browser {
    let mut browser = Browser::new(system);
    let page = browser.sign_in(username, password).await;
    assert_eq!(page.status, 303, "{username} signs in: {}", page.html);
    browser
}
