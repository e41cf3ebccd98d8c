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
        self.hidden("csrf")
    }

    /// The value of the first field `name` written as `name="…" value="…"`.
    pub fn hidden(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let at =
            self.html.find(&marker).map(|i| i + marker.len()).unwrap_or_else(|| panic!("no {name} in {}", self.html));
        self.html[at..].split('"').next().unwrap_or_default().to_string()
    }

    /// The `/referrals/<id>` link in the table row that shows `case_no`.
    pub fn referral_link_of(&self, case_no: &str) -> Option<String> {
        let row = self.html.split("<tr").find(|r| r.contains(case_no))?;
        let at = row.find("href=\"/referrals/")? + "href=\"".len();
        row[at..].split('"').next().map(str::to_string)
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

/// A JPEG whose EXIF metadata records a GPS position (degrees, minutes and
/// seconds, with hemispheres), as a phone's camera writes it; no picture.
pub fn jpeg_with_gps(latitude: f64, longitude: f64) -> Vec<u8> {
    use exif::{Field, In, Rational, Tag, Value};
    let dms = |degrees: f64| {
        let d = degrees.abs();
        let (whole, minutes) = (d.trunc(), (d.fract() * 60.0));
        let seconds = (minutes.fract() * 60.0 * 1000.0).round() as u32;
        Value::Rational(vec![
            Rational { num: whole as u32, denom: 1 },
            Rational { num: minutes.trunc() as u32, denom: 1 },
            Rational { num: seconds, denom: 1000 },
        ])
    };
    let hemisphere =
        |negative: bool, signs: [&str; 2]| Value::Ascii(vec![signs[usize::from(negative)].as_bytes().to_vec()]);
    let fields = [
        Field { tag: Tag::GPSLatitudeRef, ifd_num: In::PRIMARY, value: hemisphere(latitude < 0.0, ["N", "S"]) },
        Field { tag: Tag::GPSLatitude, ifd_num: In::PRIMARY, value: dms(latitude) },
        Field { tag: Tag::GPSLongitudeRef, ifd_num: In::PRIMARY, value: hemisphere(longitude < 0.0, ["E", "W"]) },
        Field { tag: Tag::GPSLongitude, ifd_num: In::PRIMARY, value: dms(longitude) },
    ];
    let mut writer = exif::experimental::Writer::new();
    for field in &fields {
        writer.push_field(field);
    }
    let mut tiff = std::io::Cursor::new(Vec::new());
    writer.write(&mut tiff, false).expect("EXIF written");
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend(tiff.into_inner());
    let mut jpeg = vec![0xff, 0xd8, 0xff, 0xe1];
    jpeg.extend(u16::try_from(app1.len() + 2).expect("a small segment").to_be_bytes());
    jpeg.extend(app1);
    jpeg.extend([0xff, 0xd9]);
    jpeg
}
