//! Outbound HTTP (`threadline:plugin@0.4.0`): requests to the hosts the
//! workspace's admin allowed for the hook (`allowed_hosts` in its
//! settings), made by the host within the call's time limit. A plugin that
//! never calls these does not import the interface, and loads on servers
//! without it.

mod bindings {
    wit_bindgen::generate!({
        path: "wit/0.4.0",
        world: "threadline:plugin/outbound@0.4.0",
        runtime_path: "threadline_plugin_sdk::__rt",
    });
}

use bindings::threadline::plugin::http as h;

/// An answer: any status (a 500 is an answer, not an error).
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Sends a request; the error says why there is no answer (a host not
/// allowed, the time limit, a refused address), worded for the operator.
pub fn fetch(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<Response, String> {
    let request = h::Request {
        method: method.to_owned(),
        url: url.to_owned(),
        headers: headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        body: body.to_vec(),
    };
    h::fetch(&request).map(|r| Response {
        status: r.status,
        headers: r.headers,
        body: r.body,
    })
}

/// POSTs a JSON body (`Content-Type: application/json`) with `headers`.
pub fn post_json(url: &str, headers: &[(&str, &str)], json: &str) -> Result<Response, String> {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    fetch("POST", url, &all, json.as_bytes())
}
