//! A photo's thumbnail, made in the worker: the browser decodes the picture
//! (`createImageBitmap`, so only what it can show becomes a photo) and an `OffscreenCanvas`
//! draws it small and encodes it as JPEG, smaller and smaller until it fits in a message.

use merpati_protocol::content::{MAX_PREVIEW_SIDE, Preview};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// The most bytes a thumbnail may take: with the rest of the message it stays well inside
/// `merpati_protocol::MAX_BODY_BYTES`.
const MAX_PREVIEW_BYTES: usize = 10 * 1024;

/// JPEG qualities tried in turn until the thumbnail fits.
const QUALITIES: [f64; 4] = [0.75, 0.6, 0.45, 0.3];

/// The thumbnail of `file` if the browser can decode it as a picture; `None` for any other
/// file (it is then sent as a file).
pub(super) async fn of(file: &web_sys::File) -> Option<Preview> {
    if !file.type_().starts_with("image/") {
        return None;
    }
    let scope = js_sys::global().unchecked_into::<web_sys::WorkerGlobalScope>();
    let bitmap = JsFuture::from(scope.create_image_bitmap_with_blob(file).ok()?)
        .await
        .ok()?
        .unchecked_into::<web_sys::ImageBitmap>();
    let (width, height) = (bitmap.width(), bitmap.height());
    if width == 0 || height == 0 {
        return None;
    }
    let (thumb_width, thumb_height) = fitted(width, height);
    let canvas = web_sys::OffscreenCanvas::new(thumb_width, thumb_height).ok()?;
    let context = canvas
        .get_context("2d")
        .ok()??
        .unchecked_into::<web_sys::OffscreenCanvasRenderingContext2d>();
    context
        .draw_image_with_image_bitmap_and_dw_and_dh(
            &bitmap,
            0.0,
            0.0,
            f64::from(thumb_width),
            f64::from(thumb_height),
        )
        .ok()?;
    bitmap.close();
    for quality in QUALITIES {
        let options = web_sys::ImageEncodeOptions::new();
        options.set_type("image/jpeg");
        options.set_quality(quality);
        let blob = JsFuture::from(canvas.convert_to_blob_with_options(&options).ok()?)
            .await
            .ok()?
            .unchecked_into::<web_sys::Blob>();
        let jpeg =
            js_sys::Uint8Array::new(&JsFuture::from(blob.array_buffer()).await.ok()?).to_vec();
        if jpeg.len() <= MAX_PREVIEW_BYTES {
            return Some(Preview {
                width,
                height,
                jpeg,
            });
        }
    }
    None
}

/// The thumbnail's size: the photo's proportions, its longer side at most
/// [`MAX_PREVIEW_SIDE`].
fn fitted(width: u32, height: u32) -> (u32, u32) {
    let longer = width.max(height);
    if longer <= MAX_PREVIEW_SIDE {
        return (width, height);
    }
    let scale = |side: u32| {
        u32::try_from(u64::from(side) * u64::from(MAX_PREVIEW_SIDE) / u64::from(longer))
            .unwrap_or(1)
            .max(1)
    };
    (scale(width), scale(height))
}
