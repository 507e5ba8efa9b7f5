//! `sqlx::migrate!` embeds the migration folders at build time: rebuild the crate whenever a
//! migration is added or changed, not only when its Rust code changes.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
