//! The README's configuration table is generated from the settings table in
//! the core (`wxtoken::SETTINGS`); this fails while the README is stale, as
//! the header test does for the C header. `WXTOKEN_WRITE_README=1` (or `make
//! readme`) rewrites it.

const BEGIN: &str = "<!-- settings table: generated from crates/wxtoken/src/settings.rs; `make readme` rewrites it, a test fails while it is stale -->\n";
const END: &str = "<!-- end of settings table -->";

#[test]
fn readme_settings_table_is_generated_from_the_core() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
    let readme = std::fs::read_to_string(path).unwrap();
    let start = readme
        .find(BEGIN)
        .expect("the README marks its settings table")
        + BEGIN.len();
    let end = start + readme[start..].find(END).expect("end marker");
    let want = wxtoken::settings_markdown();
    if readme[start..end] != want {
        if std::env::var_os("WXTOKEN_WRITE_README").is_some() {
            let fresh = format!("{}{want}{}", &readme[..start], &readme[end..]);
            std::fs::write(path, fresh).unwrap();
            return;
        }
        panic!(
            "README.md's settings table is stale; run `make readme`.\n--- README\n{}\n--- generated\n{want}",
            &readme[start..end]
        );
    }
}
