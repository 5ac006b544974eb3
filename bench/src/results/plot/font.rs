//! The embedded font every figure's text is drawn with.
//!
//! Text is drawn with DejaVu Sans, embedded in the binary
//! (`assets/fonts/DejaVuSans.ttf`, Bitstream Vera licence beside it) and fed
//! to plotters' `ab_glyph` backend: plotting needs no system fonts and no
//! fontconfig, neither on CI nor in the `FROM scratch` node image.

use std::sync::OnceLock;

use ab_glyph::FontRef;
use plotters::style::FontStyle;

/// The font every figure's text is drawn with.
static FONT: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

/// Registers the embedded font as plotters' `sans-serif`, once.
pub(super) fn register_font() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
                .map_err(|_| "the embedded DejaVu Sans font could not be loaded".to_string())?;
            glyphs().map(|_| ())
        })
        .clone()
}

/// The embedded font, parsed once, for drawing glyphs by hand.
pub(super) fn glyphs() -> Result<&'static FontRef<'static>, String> {
    static PARSED: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    PARSED
        .get_or_init(|| FontRef::try_from_slice(FONT).ok())
        .as_ref()
        .ok_or_else(|| "the embedded DejaVu Sans font could not be parsed".to_string())
}
