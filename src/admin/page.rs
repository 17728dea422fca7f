//! The HTML status page: one self-contained document rendered from the `/status` JSON, with
//! every value escaped for HTML content and attributes.

/// Escapes text for HTML content and for quoted attribute values.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A plain HTML rendering of the status document: one table per top-level list.
pub fn status_page(v: &serde_json::Value) -> String {
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=utf-8><title>Meridian</title>\
         <style>body{font-family:sans-serif}td,th{padding:2px 8px;border-bottom:1px solid #ddd}\
         .up{color:green}.down{color:#b00}.drain{color:#a60}\
         .warn{background:#fdd;border:1px solid #b00;padding:6px}</style></head><body><h1>Meridian</h1>",
    );
    if let Some(list) = v["cluster"]["divergent"]
        .as_array()
        .filter(|l| !l.is_empty())
    {
        let names: Vec<String> = list
            .iter()
            .map(|n| esc(n.as_str().unwrap_or("?")))
            .collect();
        html.push_str(&format!(
            "<p class=warn>Configuration differs from this node's on: {} (answering is not affected)</p>",
            names.join(", ")
        ));
    }
    section(&mut html, v, 2);
    html.push_str("<p><a href=\"/metrics\">metrics</a> · <a href=\"/status\">status.json</a></p></body></html>");
    html
}

/// One object: arrays of objects as tables, nested objects as sub-sections, the rest as lines.
fn section(html: &mut String, v: &serde_json::Value, level: u8) {
    let Some(obj) = v.as_object() else { return };
    for (k, val) in obj {
        match val {
            serde_json::Value::Array(rows)
                if rows.iter().all(|r| r.is_object()) && !rows.is_empty() =>
            {
                html.push_str(&format!("<h{level}>{}</h{level}><table>", esc(k)));
                if let Some(first) = rows.first().and_then(|r| r.as_object()) {
                    html.push_str("<tr>");
                    for h in first.keys() {
                        html.push_str(&format!("<th>{}</th>", esc(h)));
                    }
                    html.push_str("</tr>");
                }
                for r in rows {
                    html.push_str("<tr>");
                    if let Some(o) = r.as_object() {
                        for c in o.values() {
                            let t = c.as_str().map_or_else(|| c.to_string(), str::to_string);
                            html.push_str(&format!("<td class=\"{0}\">{0}</td>", esc(&t)));
                        }
                    }
                    html.push_str("</tr>");
                }
                html.push_str("</table>");
            }
            serde_json::Value::Object(_) if level < 4 => {
                html.push_str(&format!("<h{level}>{}</h{level}>", esc(k)));
                section(html, val, level + 1);
            }
            other => {
                let t = other
                    .as_str()
                    .map_or_else(|| other.to_string(), str::to_string);
                html.push_str(&format!("<p><b>{}</b>: {}</p>", esc(k), esc(&t)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_page_escapes_attributes_and_flags_divergence() {
        let v = serde_json::json!({
            "targets": [{"site": "x\" onmouseover=\"alert(1)", "state": "up"}],
            "cluster": {"node": "a", "divergent": ["b"], "peers": [{"node": "b", "liveness": "alive"}]},
        });
        let html = status_page(&v);
        assert!(!html.contains("\" onmouseover"), "{html}");
        assert!(html.contains("&quot; onmouseover=&quot;"), "{html}");
        assert!(
            html.contains("class=warn>Configuration differs from this node's on: b"),
            "{html}"
        );
        assert!(html.contains("<h3>peers</h3>"), "{html}");
    }
}
