//! Screenshots, each audited with axe-core: no serious or critical
//! violation, one `main` landmark, a skip link on the console.

use std::process::Command;

use fantoccini::Client;
use serde_json::json;

/// Photographs the page into `target/screenshots/<name>.png`, then audits it.
pub(crate) async fn screenshot(c: &Client, name: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, c.screenshot().await.unwrap()).unwrap();
    eprintln!("screenshot: {}", path.display());
    audit(c, name).await;
}

/// The axe-core release the audits run, and its npm integrity (SHA-512).
pub(crate) const AXE_VERSION: &str = "4.14.1";

pub(crate) const AXE_SHA512: &str =
    "FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ==";

/// axe-core's `axe.min.js`, from the npm registry the first time (one test
/// at a time fetches it; the others wait and read the file).
pub(crate) fn axe_source() -> String {
    static FETCH: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = FETCH.lock().unwrap_or_else(|e| e.into_inner());
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../target/axe-core-{AXE_VERSION}"));
    let script = dir.join("axe.min.js");
    if let Ok(source) = std::fs::read_to_string(&script) {
        return source;
    }
    std::fs::create_dir_all(&dir).unwrap();
    let packed = Command::new("npm")
        .args([
            "pack",
            &format!("axe-core@{AXE_VERSION}"),
            "--silent",
            "--pack-destination",
        ])
        .arg(&dir)
        .output()
        .unwrap_or_else(|e| panic!("npm runs (apt-get install -y npm): {e}"));
    assert!(
        packed.status.success(),
        "npm pack axe-core: {}",
        String::from_utf8_lossy(&packed.stderr)
    );
    let tarball = dir.join(format!("axe-core-{AXE_VERSION}.tgz"));
    let digest = {
        use base64::Engine;
        use sha2::Digest;
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(std::fs::read(&tarball).unwrap()))
    };
    assert_eq!(
        digest, AXE_SHA512,
        "axe-core {AXE_VERSION} is not the published package"
    );
    let unpacked = Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(&dir)
        .args(["--strip-components=1", "package/axe.min.js"])
        .status()
        .unwrap();
    assert!(unpacked.success(), "tar extracts axe.min.js");
    std::fs::read_to_string(&script).unwrap()
}

/// Runs axe-core on the page: no serious or critical violation, exactly one
/// `main` landmark, and on the console (signed in) a skip link to it.
pub(crate) async fn audit(c: &Client, name: &str) {
    c.execute(&format!("{}\nreturn true;", axe_source()), vec![])
        .await
        .unwrap();
    let found = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'] })
               .then(r => done(r.violations
                 .filter(v => v.impact === 'serious' || v.impact === 'critical')
                 .map(v => ({ rule: v.id, impact: v.impact, help: v.help,
                              nodes: v.nodes.map(n => n.target.join(' ')) }))))
               .catch(e => done([{ rule: 'axe failed', help: String(e) }]));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(found, json!([]), "axe-core on {name}: serious or critical violations");
    let landmarks = c
        .execute(
            "return { main: document.querySelectorAll('main, [role=main]').length,
                      console: !!document.querySelector('header.top'),
                      skip: !!document.querySelector('a.skip-link') };",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(landmarks["main"], 1, "{name}: one main landmark");
    if landmarks["console"] == true {
        assert_eq!(landmarks["skip"], true, "{name}: a skip link");
    }
}
