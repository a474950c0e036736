//! Just enough XML for S3's answers (used by the server's client and by the page to read S3's errors).
//! S3 bodies are flat and attribute-free below the root, so no parser is needed.

/// Text of every `<name>…</name>` element, in document order, unescaped.
pub fn all(xml: &str, name: &str) -> Vec<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let mut out = vec![];
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        out.push(unescape(&after[..end]));
        rest = &after[end + close.len()..];
    }
    out
}

/// Text of the first `<name>` element.
pub fn first(xml: &str, name: &str) -> Option<String> {
    all(xml, name).into_iter().next()
}

/// Name of the document's root element (`<PostResponse>` on AWS, `<PostObject>` on Garage).
pub fn root(xml: &str) -> Option<&str> {
    let mut rest = xml;
    loop {
        let start = rest.find('<')?;
        rest = &rest[start + 1..];
        if rest.starts_with('?') || rest.starts_with('!') {
            continue;
        }
        let end = rest.find(['>', ' ', '/'])?;
        return Some(&rest[..end]);
    }
}

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#34;", "\"")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_s3_error_body() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>InvalidRequest</Code><Message>Key &apos;key&apos; has value not allowed in policy</Message><RequestId>1</RequestId></Error>"#;
        assert_eq!(root(body), Some("Error"));
        assert_eq!(first(body, "Code").as_deref(), Some("InvalidRequest"));
        assert_eq!(first(body, "Message").as_deref(), Some("Key 'key' has value not allowed in policy"));
        assert_eq!(first(body, "Missing"), None);
    }

    #[test]
    fn reads_repeated_elements_in_order() {
        assert_eq!(all("<a><M>1</M><M>2</M></a>", "M"), vec!["1", "2"]);
    }

    #[test]
    fn escaping_round_trips() {
        let s = "a<b>&\"c'";
        assert_eq!(unescape(&escape(s)), s);
    }
}
