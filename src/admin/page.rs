//! The status page: one self-contained HTML document (inline CSS and script, no external
//! assets) that reads `/status` every few seconds and draws it in the browser: the
//! sites × links grid, services and their answers, targets, overrides, recent state changes,
//! the LVS table, cluster peers and anycast prefixes; its form sets overrides through the
//! override API with the admin token.
//!
//! The server sends the same static page every time, with a fresh nonce in its
//! Content-Security-Policy: only the page's own script runs, so even a name that reached the
//! document as markup could not run an inline handler. The script itself writes every value
//! with `textContent` (names in the policy file are operator-controlled text, never markup);
//! `tests/status_page.rs` proves both in headless Chromium.

/// The page, with `NONCE` where the per-response nonce goes.
pub const PAGE: &str = include_str!("page.html");

/// Placeholder for the script nonce in [`PAGE`].
const NONCE: &str = "{{nonce}}";

/// The page for one response: `PAGE` with a fresh random nonce.
pub fn status_page() -> String {
    with_nonce(&format!("{:032x}", rand::random::<u128>()))
}

fn with_nonce(nonce: &str) -> String {
    PAGE.replace(NONCE, nonce)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nonce_is_fresh_and_fills_the_policy_and_the_script() {
        assert_eq!(
            PAGE.matches(NONCE).count(),
            4,
            "two in the CSP, <style>, <script>"
        );
        let a = status_page();
        let b = status_page();
        assert_ne!(a, b);
        assert!(!a.contains(NONCE));
        let html = with_nonce("abc123");
        assert!(html.contains("script-src 'nonce-abc123'"), "{html}");
        assert!(html.contains("<script nonce=\"abc123\">"));
        assert!(html.contains("<style nonce=\"abc123\">"));
    }

    #[test]
    fn the_page_loads_nothing_from_elsewhere() {
        for bad in [
            "src=\"http",
            "href=\"http",
            "url(",
            "@import",
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
        ] {
            assert!(!PAGE.contains(bad), "page contains {bad}");
        }
        // Every script is the one inline script.
        assert_eq!(PAGE.matches("<script").count(), 1);
    }
}
