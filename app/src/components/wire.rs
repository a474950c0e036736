//! The island's calls to our own server functions: a plain XHR and the browser's `JSON.parse`,
//! read field by field into the shared types. The server-function client and serde_json would
//! add about 50 kB to the page's WASM (see `doc/page-weight.md`); the endpoints are stable
//! (`endpoint = "…"`), and their JSON is the server's serde form of the types in `model`.

use js_sys::{Array, Reflect, JSON};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::XmlHttpRequest;

use crate::i18n::{td_string, Locale};
use crate::model::{PartUrl, PartUrls, SendPlan, UploadRow, UploadStatus, UploadTicket};

/// What a call sends: form fields (the default server-function encoding) or a JSON body.
pub enum Args<'a> {
    Form(&'a [(&'a str, Option<String>)]),
    Json(String),
}

/// POSTs to `/api/<endpoint>`; the parsed answer, or the server's own words for a refusal (in the
/// request's language, which the browser's cookie or `Accept-Language` tells the server). Our own
/// words, when the server's cannot be had, are in `locale`.
pub async fn call(endpoint: &str, args: Args<'_>, locale: Locale) -> Result<JsValue, String> {
    let unreachable = || td_string!(locale, drop.unreachable).to_owned();
    let unreadable = || td_string!(locale, drop.unreadable).to_owned();
    let xhr = XmlHttpRequest::new().map_err(|_| unreachable())?;
    xhr.open("POST", &format!("/api/{endpoint}")).map_err(|_| unreachable())?;
    let _ = xhr.set_request_header("Accept", "application/json");
    let body = match args {
        Args::Form(fields) => {
            let _ = xhr.set_request_header("Content-Type", "application/x-www-form-urlencoded");
            fields
                .iter()
                .filter_map(|(k, v)| {
                    v.as_ref().map(|v| format!("{k}={}", String::from(js_sys::encode_uri_component(v))))
                })
                .collect::<Vec<_>>()
                .join("&")
        }
        Args::Json(json) => {
            let _ = xhr.set_request_header("Content-Type", "application/json");
            json
        }
    };
    let done = js_sys::Promise::new(&mut |resolve, _| xhr.set_onloadend(Some(&resolve)));
    xhr.send_with_opt_str(Some(&body)).map_err(|_| unreachable())?;
    let _ = JsFuture::from(done).await;
    let status = xhr.status().unwrap_or(0);
    let text = xhr.response_text().ok().flatten().unwrap_or_default();
    if status == 0 {
        return Err(unreachable());
    }
    let parsed = JSON::parse(&text).ok();
    if (200..300).contains(&status) {
        return parsed.ok_or_else(unreadable);
    }
    Err(parsed.as_ref().and_then(|v| string(v, "message")).unwrap_or_else(unreadable))
}

/// The `i`th answer of a batched call (`[{"Ok": …} | {"Err": {"message": …}}, …]`): the value, or
/// the server's words for that one item; `None` when there is no such item.
pub fn each(answers: &JsValue, i: usize) -> Option<Result<JsValue, String>> {
    let item = answers.dyn_ref::<Array>()?.get(i as u32);
    if let Some(ok) = field(&item, "Ok") {
        return Some(Ok(ok));
    }
    Some(Err(field(&item, "Err").and_then(|e| string(&e, "message"))?))
}

/// A JSON string of `s` (quotes and escapes by the browser).
pub fn json_string(s: &str) -> String {
    JSON::stringify(&JsValue::from_str(s)).ok().and_then(|s| s.as_string()).unwrap_or_default()
}

fn field(v: &JsValue, key: &str) -> Option<JsValue> {
    Reflect::get(v, &JsValue::from_str(key)).ok().filter(|x| !x.is_undefined() && !x.is_null())
}

fn string(v: &JsValue, key: &str) -> Option<String> {
    field(v, key)?.as_string()
}

fn number(v: &JsValue, key: &str) -> Option<f64> {
    field(v, key)?.as_f64()
}

fn array(v: &JsValue, key: &str) -> Option<Array> {
    field(v, key)?.dyn_into::<Array>().ok()
}

/// `[["name", "value"], …]`, as serde writes a `Vec<(String, String)>`.
fn pairs(v: &JsValue, key: &str) -> Option<Vec<(String, String)>> {
    array(v, key)?
        .iter()
        .map(|pair| {
            let pair: Array = pair.dyn_into().ok()?;
            Some((pair.get(0).as_string()?, pair.get(1).as_string()?))
        })
        .collect()
}

fn send_plan(v: &JsValue) -> Option<SendPlan> {
    if let Some(p) = field(v, "Post") {
        return Some(SendPlan::Post { url: string(&p, "url")?, fields: pairs(&p, "fields")? });
    }
    if let Some(p) = field(v, "Put") {
        return Some(SendPlan::Put { url: string(&p, "url")?, headers: pairs(&p, "headers")? });
    }
    let p = field(v, "Multipart")?;
    Some(SendPlan::Multipart {
        part_size: number(&p, "part_size")? as u64,
        part_count: number(&p, "part_count")? as u32,
        concurrency: number(&p, "concurrency")? as u32,
        done: array(&p, "done")?.iter().filter_map(|n| n.as_f64()).map(|n| n as u32).collect(),
        resumed: field(&p, "resumed")?.as_bool()?,
    })
}

pub fn ticket(v: &JsValue) -> Option<UploadTicket> {
    Some(UploadTicket {
        upload_id: string(v, "upload_id")?,
        object_key: string(v, "object_key")?,
        send: send_plan(&field(v, "send")?)?,
        expires_at: number(v, "expires_at")? as i64,
        server_time: number(v, "server_time")? as i64,
    })
}

pub fn part_urls(v: &JsValue) -> Option<PartUrls> {
    let parts = array(v, "parts")?
        .iter()
        .map(|p| {
            Some(PartUrl {
                part_number: number(&p, "part_number")? as u32,
                url: string(&p, "url")?,
                headers: pairs(&p, "headers")?,
                expires_at: number(&p, "expires_at")? as i64,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(PartUrls { parts, server_time: number(v, "server_time")? as i64 })
}

/// What the history shows of a row (the rest stays on the server).
pub fn upload_row(v: &JsValue) -> Option<UploadRow> {
    let status = UploadStatus::try_from(string(v, "status")?).ok()?;
    let method = string(v, "method")?.try_into().ok()?;
    Some(UploadRow {
        id: string(v, "id")?,
        owner_id: string(v, "owner_id").unwrap_or_default(),
        object_key: string(v, "object_key").unwrap_or_default(),
        file_name: string(v, "file_name")?,
        content_type: string(v, "content_type").unwrap_or_default(),
        declared_size: number(v, "declared_size")? as i64,
        confirmed_size: number(v, "confirmed_size").map(|n| n as i64),
        etag: None,
        checksum_sha256: string(v, "checksum_sha256"),
        status,
        method,
        error: string(v, "error"),
        created_at: number(v, "created_at")? as i64,
        expires_at: number(v, "expires_at").unwrap_or(0.0) as i64,
        confirmed_at: number(v, "confirmed_at").map(|n| n as i64),
        multipart_upload_id: None,
        part_size: None,
        part_count: None,
        fingerprint: None,
        found_at: None,
    })
}
