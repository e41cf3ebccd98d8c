//! A grid worker's position, through the real binary: taken from a photo's
//! GPS metadata when the form gives no degrees, from the phone (the form's
//! device fields) when it does; kept with the case and shown to the village
//! committee on the referral page. Degrees that are not numbers are refused
//! by the console, degrees off the globe by intake, each naming its field.

use fengqiao_proto::fengqiao::common::v1::{Category, Source};
use fengqiao_tests::console::{demo_password, inbox_listing, jpeg_with_gps, signed_in, text_of, Browser};
use fengqiao_tests::system::{Mode, System};

async fn grid_form(worker: &mut Browser) -> Vec<(&'static str, String)> {
    let form = worker.get("/register").await;
    let grid = (Source::Grid as i32).to_string();
    let category = (Category::Neighbourhood as i32).to_string();
    vec![
        ("csrf", form.csrf()),
        ("reference", form.hidden("reference")),
        ("source", grid),
        ("category", category),
        ("division_code", "620802001001".into()),
        ("grid_id", "620802001001-G03".into()),
        ("address", "东关村三组".into()),
        ("narrative", "两户因院墙渗水发生争执".into()),
        ("applicant", "赵六".into()),
    ]
}

fn borrowed<'a>(fields: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    fields.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grid_workers_position_comes_from_the_phone_or_a_photo_and_reaches_the_village_committee() {
    let system = System::start(Mode::Standalone).await.unwrap();
    let mut worker = signed_in(&system, "village-clerk", &demo_password(&system, "village-clerk")).await;
    let form = worker.get("/register").await;
    assert!(form.html.contains("<script src=\"/static/position.js\" defer></script>"), "{}", form.html);
    assert!(form.html.contains("id=\"locate\" hidden"), "without script the button stays hidden: {}", form.html);
    assert!(form.csp.contains("script-src 'self'") && !form.csp.contains("unsafe-inline"), "{}", form.csp);
    let script = worker.get("/static/position.js").await;
    assert!(script.status == 200 && script.html.contains("getCurrentPosition"), "{}", script.html);

    // No degrees typed: the photo's GPS metadata gives the point.
    let fields = grid_form(&mut worker).await;
    let photo = jpeg_with_gps(35.5428, 106.6654);
    let receipt =
        worker.post_multipart("/register", &borrowed(&fields), &[("photos", "现场.jpg", "image/jpeg", &photo)]).await;
    assert_eq!(receipt.status, 200, "{}", receipt.html);
    assert_eq!(text_of(&receipt.html, "point"), "北纬 35.54280°, 东经 106.66540° (照片定位信息)");
    let from_photo = text_of(&receipt.html, "case_no");

    // The phone's position (the script's fields) comes before a photo's.
    let mut fields = grid_form(&mut worker).await;
    fields.extend([
        ("latitude", "35.551234".into()),
        ("longitude", "106.701234".into()),
        ("accuracy_m", "12".into()),
        ("point_source", "device".into()),
    ]);
    let receipt =
        worker.post_multipart("/register", &borrowed(&fields), &[("photos", "现场.jpg", "image/jpeg", &photo)]).await;
    assert_eq!(receipt.status, 200, "{}", receipt.html);
    assert_eq!(text_of(&receipt.html, "point"), "北纬 35.55123°, 东经 106.70123° ±12 m (手机定位)");

    // The village committee sees where it happened.
    let mut head = signed_in(&system, "village-head", &demo_password(&system, "village-head")).await;
    let link = inbox_listing(&mut head, &from_photo).await.referral_link_of(&from_photo).expect("a link");
    let page = head.get(&link).await;
    assert_eq!(text_of(&page.html, "point"), "北纬 35.54280°, 东经 106.66540° (照片定位信息)");
    assert_eq!(text_of(&page.html, "dispute-place"), "620802001001 · 620802001001-G03 · 东关村三组");

    // Degrees that are not numbers: the console names the field, and registers nothing.
    let mut fields = grid_form(&mut worker).await;
    fields.extend([("latitude", "北纬35度".into()), ("longitude", "106.7".into())]);
    let refused = worker.post("/register", &borrowed(&fields)).await;
    assert_eq!(refused.status, 400, "{}", refused.html);
    assert!(refused.html.contains("latitude") && refused.html.contains("decimal degrees"), "{}", refused.html);
    assert!(refused.html.contains("value=\"北纬35度\""), "the form keeps what was typed: {}", refused.html);

    // Degrees off the globe: intake refuses, naming the field.
    let mut fields = grid_form(&mut worker).await;
    fields.extend([("latitude", "95".into()), ("longitude", "106.7".into())]);
    let refused = worker.post("/register", &borrowed(&fields)).await;
    assert_eq!(refused.status, 400, "{}", refused.html);
    assert!(refused.html.contains("dispute.location.point.latitude"), "{}", refused.html);
    assert!(!refused.html.contains("id=\"case_no\""), "nothing registered");
    system.finish().await;
}
