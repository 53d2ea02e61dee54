//! Embeds the Tauri configuration and the built UI.
fn main() {
    tauri_build::build()
}
