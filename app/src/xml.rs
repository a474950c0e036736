//! Just enough XML for S3's answers (used by the server's client and by the page to read S3's errors).
//! S3 bodies are flat and attribute-free below the root, so no parser is needed.

/// Text of every `<name>…</name>` element, in document order, unescaped.
pub fn all(xml: &str, name: &str) -> Vec<String> {
    elements(xml, name).into_iter().map(unescape).collect()
}

/// Content of every `<name>…</name>` element as written, entities and markup untouched: for an
/// element that holds others (a `<CORSRule>`, a `<Part>`), whose children are then read with
/// [`all`] or [`first`]. Unescaping it first would unescape their text twice and turn escaped
/// text into markup.
pub fn elements<'a>(xml: &'a str, name: &str) -> Vec<&'a str> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let mut out = vec![];
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        out.push(&after[..end]);
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
    fn nested_elements_are_read_raw_so_their_text_is_unescaped_once() {
        let doc = format!(
            "<R><P><K>{}</K></P><P><K>{}</K></P></R>",
            escape("&lt; is how < is written"),
            escape("</K><K>smuggled")
        );
        let keys: Vec<Vec<String>> = elements(&doc, "P").iter().map(|p| all(p, "K")).collect();
        assert_eq!(keys, vec![vec!["&lt; is how < is written".to_owned()], vec!["</K><K>smuggled".to_owned()]]);
    }

    #[test]
    fn reads_repeated_elements_in_order() {
        assert_eq!(all("<a><M>1</M><M>2</M></a>", "M"), vec!["1", "2"]);
    }

    #[test]
    fn escaping_writes_entities_and_round_trips() {
        let s = "a<b>&\"c'";
        assert_eq!(escape(s), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(unescape(&escape(s)), s);
        // `&` first: an entity in the text is escaped, not taken for markup.
        assert_eq!(escape("&lt;"), "&amp;lt;");
        assert_eq!(unescape(&escape("&lt;")), "&lt;");
        // Escaped text inside an element reads back as it was.
        let doc = format!("<a><M>{}</M></a>", escape("x</M><M>y & \"z\""));
        assert_eq!(all(&doc, "M"), vec!["x</M><M>y & \"z\""]);
    }
}
