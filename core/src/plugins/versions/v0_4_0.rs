//! `threadline:plugin@0.4.0` (`wit/0.4.0`): outbound HTTP. It only adds an
//! import (`http.fetch`), which a component of any hook version may take
//! beside its exports; so this version is linked for everyone and finds no
//! exports of its own.

use wasmtime::component::{HasSelf, Linker};

use crate::plugins::outbound::{self, Request};
use crate::plugins::sandbox::CallState;

pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit/0.4.0",
        world: "threadline:plugin/outbound@0.4.0",
        // The host waits on the network: the call yields meanwhile, and its
        // deadline (raced around the whole call) still holds.
        imports: { default: async },
    });
}

use bindings::threadline::plugin::http as h;

pub fn link(linker: &mut Linker<CallState>) {
    bindings::Outbound::add_to_linker::<CallState, HasSelf<CallState>>(linker, |s| s)
        .expect("link the 0.4.0 plugin interfaces");
}

impl h::Host for CallState {
    async fn fetch(&mut self, request: h::Request) -> Result<h::Response, String> {
        let Some(call) = self.outbound.as_mut() else {
            let line = format!(
                "http: {} {} refused: this hook allows no hosts (allowed_hosts in its settings)",
                request.method, request.url
            );
            self.log.note(tracing::Level::WARN, &line);
            return Err(
                "this hook's plugin may call no host: the workspace's admin lists them in the hook's \
                        allowed_hosts"
                    .to_owned(),
            );
        };
        let (outcome, line) = outbound::fetch(
            call,
            Request {
                method: request.method,
                url: request.url,
                headers: request.headers,
                body: request.body,
            },
        )
        .await;
        let level = if outcome.is_ok() {
            tracing::Level::INFO
        } else {
            tracing::Level::WARN
        };
        self.log.note(level, &line);
        outcome.map(|r| h::Response {
            status: r.status,
            headers: r.headers,
            body: r.body,
        })
    }
}
